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

import time
from dataclasses import dataclass

from .stream import PAGE_SIZE, StreamError, StreamWriter

CHUNK = 1 << 20                      # compared as one block first
PAGES_PER_CHUNK = CHUNK // PAGE_SIZE
_ZERO_CHUNK = bytes(CHUNK)
_ZERO_PAGE = bytes(PAGE_SIZE)
_NEVER_SENT = object()


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
            for c in range(len(shadows)):
                base = c * CHUNK
                end = min(base + CHUNK, region.size)
                old = shadows[c]
                # One copy and one memcmp per chunk (a memoryview compared
                # with bytes goes element by element: far slower).
                cur = bytes(view[base:end])
                zero = _ZERO_CHUNK if end - base == CHUNK else bytes(end - base)
                if cur == (zero if old is None else old):
                    continue
                self._send_chunk(writer, b, base, cur, old, result)
                shadows[c] = None if cur == zero else cur
                if check is not None:
                    check()
                if throttle is not None:
                    throttle(writer.bytes_sent - before)
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
        for i, flag in enumerate(flags):
            addr = (first + i) * PAGE_SIZE
            if flag:
                view[addr:addr + PAGE_SIZE] = data[pos:pos + PAGE_SIZE]
                pos += PAGE_SIZE
            elif view[addr:addr + PAGE_SIZE] != _ZERO_PAGE:
                # Only pages that hold something are cleared: an untouched
                # page of the lazily backed RAM stays uncommitted.
                view[addr:addr + PAGE_SIZE] = _ZERO_PAGE
        self.pages += len(flags)
