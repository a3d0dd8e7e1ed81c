"""RAM pre-copy: passes over guest RAM that send what changed since the last
pass.

Dirty tracking here compares RAM with a shadow of what was sent: a chunk
whose bytes equal its shadow is clean; in one that differs, each page is
compared. This catches every writer (translated code's TLB fast path,
slow-path stores, device DMA) without a hook in the store path, at the cost
of a shadow copy of the RAM that was ever non-zero and one memcmp per pass.
A chunk that was zero when sent keeps no shadow. A store-path dirty bitmap
(see docs/migration.md) would let a pass skip the compare.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass

from .stream import PAGE_SIZE, StreamError, StreamWriter

CHUNK = 1 << 20                      # compared as one block first
PAGES_PER_CHUNK = CHUNK // PAGE_SIZE
_ZERO_CHUNK = bytes(CHUNK)
_ZERO_PAGE = bytes(PAGE_SIZE)
_NEVER_SENT = object()
_PAGEMAP_ENTRY = 8
_ABSENT = bytes(_PAGEMAP_ENTRY * PAGES_PER_CHUNK)


class _Residency:
    """Which chunks of a RAM block the host has ever backed, from
    /proc/self/pagemap (Linux's pagemap.rst: bit 63 present, bit 62
    swapped). A chunk with no page present or swapped was never written:
    it is zero, and reading it would only fault in zero pages. None where
    pagemap cannot be read: every chunk is then read."""

    def __init__(self, region):
        try:
            self._fd = os.open("/proc/self/pagemap", os.O_RDONLY)
        except OSError:
            self._fd = None
            self._entries = None
            return
        self._first = ctypes.addressof(ctypes.c_char.from_buffer(region.mem)) // PAGE_SIZE
        self._pages = region.size // PAGE_SIZE
        self._entries = None

    def refresh(self) -> None:
        """Read the block's entries once per pass: one system call (each one
        lets the vCPU thread take the interpreter lock for a while)."""
        self._entries = None
        if self._fd is None:
            return
        try:
            self._entries = os.pread(self._fd, self._pages * _PAGEMAP_ENTRY,
                                     self._first * _PAGEMAP_ENTRY)
        except OSError:
            self._entries = None

    def absent(self, base: int, end: int) -> bool:
        entries = self._entries
        if entries is None:
            return False
        a, b = base // PAGE_SIZE * _PAGEMAP_ENTRY, end // PAGE_SIZE * _PAGEMAP_ENTRY
        if b > len(entries):
            return False
        return entries[a:b] == _ABSENT[:b - a]


@dataclass
class PassResult:
    normal: int = 0          # pages sent with data
    duplicate: int = 0       # zero pages sent as markers
    bytes_sent: int = 0
    seconds: float = 0.0

    @property
    def pages(self) -> int:
        return self.normal + self.duplicate


class RamSender:
    """The source side: one shadow per RAM block, filled by the passes."""

    def __init__(self, blocks):
        self.blocks = blocks                      # [(name, RamRegion)]
        self.shadow = [[_NEVER_SENT] * ((r.size + CHUNK - 1) // CHUNK) for _, r in blocks]
        self.total_bytes = sum(r.size for _, r in blocks)
        self.residency = [_Residency(r) for _, r in blocks]

    def send_pass(self, writer: StreamWriter, throttle=None, check=None) -> PassResult:
        """Send every page that differs from what was sent before (all of
        them the first time). `throttle(bytes_so_far)` paces the sender;
        `check()` raises to abort between chunks."""
        result = PassResult()
        start = time.monotonic()
        before = writer.bytes_sent
        for b, (_, region) in enumerate(self.blocks):
            view = region.view
            shadows = self.shadow[b]
            residency = self.residency[b]
            residency.refresh()
            for c in range(len(shadows)):
                base = c * CHUNK
                end = min(base + CHUNK, region.size)
                old = shadows[c]
                if old is _NEVER_SENT and residency.absent(base, end):
                    n = (end - base) // PAGE_SIZE
                    writer.ram_pages(b, base // PAGE_SIZE, [None] * n)
                    result.duplicate += n
                    shadows[c] = None
                    continue
                if old is None and residency.absent(base, end):
                    continue              # never backed, still zero: nothing to read
                # One copy and one memcmp per chunk (a memoryview compared
                # with bytes goes element by element: far slower).
                cur = bytes(view[base:end])
                zero = _ZERO_CHUNK if end - base == CHUNK else bytes(end - base)
                if cur == (zero if old is None else old):
                    continue
                if old is _NEVER_SENT and cur == zero:
                    # Most of a fresh guest's RAM: markers only, no page walk.
                    n = len(cur) // PAGE_SIZE
                    writer.ram_pages(b, base // PAGE_SIZE, [None] * n)
                    result.duplicate += n
                else:
                    self._send_chunk(writer, b, base, cur, old, result)
                shadows[c] = None if cur == zero else cur
                if check is not None:
                    check()
                if throttle is not None:
                    throttle(writer.bytes_sent - before)
        writer.flush()
        result.bytes_sent = writer.bytes_sent - before
        result.seconds = time.monotonic() - start
        return result

    @staticmethod
    def _send_chunk(writer, block, base, cur, old, result) -> None:
        first_page = base // PAGE_SIZE
        n = len(cur) // PAGE_SIZE
        run: list = []
        run_start = 0
        for i in range(n):
            page = cur[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
            if old is _NEVER_SENT:
                dirty = True
            elif old is None:
                dirty = page != _ZERO_PAGE
            else:
                dirty = page != old[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
            if dirty:
                if not run:
                    run_start = i
                if page == _ZERO_PAGE:
                    run.append(None)
                    result.duplicate += 1
                else:
                    run.append(page)
                    result.normal += 1
            elif run:
                writer.ram_pages(block, first_page + run_start, run)
                run = []
        if run:
            writer.ram_pages(block, first_page + run_start, run)


class RamReceiver:
    """The destination side: checks each record against this machine's RAM."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.set_up = False
        self.pages = 0
        self.residency = [_Residency(r) for _, r in blocks]
        # Chunks this receiver wrote data into: the residency read at setup
        # no longer speaks for them.
        self.written: list[set[int]] = [set() for _ in blocks]

    def setup(self, announced: list[tuple[str, int]]) -> None:
        mine = [(name, r.size) for name, r in self.blocks]
        if len(announced) != len(mine):
            raise StreamError(f"the stream has {len(announced)} RAM blocks, this machine "
                              f"{len(mine)}")
        for (name, size), (my_name, my_size) in zip(announced, mine):
            if name != my_name:
                raise StreamError(f"unknown RAM block '{name}' (this machine has '{my_name}')")
            if size != my_size:
                raise StreamError(f"Length mismatch: RAM block '{name}' is {size:#x} bytes in "
                                  f"the stream, {my_size:#x} here (check -m)")
        for r in self.residency:
            # Once, before any page lands: what is absent now is zero until
            # this receiver writes it (and it writes only data into it).
            r.refresh()
        self.set_up = True

    def load(self, block: int, first: int, flags: bytes, data: bytes) -> None:
        if not self.set_up:
            raise StreamError("RAM pages before the RAM setup record")
        if block >= len(self.blocks):
            raise StreamError(f"RAM pages for unknown block {block}")
        region = self.blocks[block][1]
        if (first + len(flags)) * PAGE_SIZE > region.size:
            raise StreamError(f"RAM pages {first}..{first + len(flags) - 1} lie outside "
                              f"'{self.blocks[block][0]}'")
        view = region.view
        pos = 0
        i = 0
        n = len(flags)
        while i < n:
            # Runs of one kind: data lands with one copy; a zero run is
            # compared in 1 MiB pieces (bytes against bytes: a memcmp) and
            # cleared only where it holds something, so untouched pages of
            # the lazily backed RAM stay uncommitted.
            j = i
            while j < n and flags[j] == flags[i]:
                j += 1
            start, end = (first + i) * PAGE_SIZE, (first + j) * PAGE_SIZE
            if flags[i]:
                size = end - start
                view[start:end] = data[pos:pos + size]
                pos += size
                self.written[block].update(range(start // CHUNK, (end - 1) // CHUNK + 1))
            else:
                residency = self.residency[block]
                a = start
                while a < end:
                    b = min(end, (a // CHUNK + 1) * CHUNK)      # within one chunk
                    if a // CHUNK in self.written[block] or not residency.absent(a, b):
                        # Possibly non-zero: cleared where it holds something.
                        zero = _ZERO_CHUNK if b - a == CHUNK else bytes(b - a)
                        if bytes(view[a:b]) != zero:
                            view[a:b] = zero
                    a = b
            i = j
        self.pages += len(flags)
