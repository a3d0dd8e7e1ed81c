"""Which guest pages changed, for live migration's RAM passes on microvm.

Two writers touch guest RAM: the guest itself, which KVM's dirty log sees
(api.rst 4.8 KVM_GET_DIRTY_LOG, per memory slot, cleared on read), and
the VMM — virtio devices completing requests (used rings, data read from a
disk) — which KVM does not see. `DirtyTrackingBus` is the board's address
space with the second kind marked: a DMA view asked for writing marks its
pages while a log is on. The marks are taken under the device lock, which
every device holds from asking for a view to the end of its write.

`DirtyLogSender` is the RAM sender migration uses on this board: the first
pass sends all RAM (zero pages as markers), each later pass exactly the
pages one of the two logs names.
"""

from __future__ import annotations

import time

from ...memory.address_space import AddressSpace

PAGE_SIZE = 4096
CHUNK = 1 << 20                 # the first pass reads RAM in pieces of this size
_ZERO_PAGE = bytes(PAGE_SIZE)
_ZERO_CHUNK = bytes(CHUNK)


class DirtyTrackingBus(AddressSpace):
    """The memory address space, marking the pages the VMM writes while
    logging is on (guest-physical page numbers)."""

    def __init__(self, name: str = "memory"):
        super().__init__(name)
        self.logging = False
        self.vmm_dirty: set[int] = set()

    def ram_slice(self, addr: int, length: int, write: bool = False) -> memoryview:
        view = super().ram_slice(addr, length, write)
        if write and self.logging and length:
            self.vmm_dirty.update(range(addr // PAGE_SIZE, (addr + length - 1) // PAGE_SIZE + 1))
        return view

    def take_vmm_dirty(self) -> set[int]:
        pages, self.vmm_dirty = self.vmm_dirty, set()
        return pages


class DirtyLogSender:
    """migration's RAM sender for a KVM board (the same send_pass contract
    as migration/ram.py's RamSender)."""

    def __init__(self, machine, blocks):
        self.machine = machine
        self.blocks = blocks                                  # [(name, RamRegion)]
        self.total_bytes = sum(r.size for _, r in blocks)
        # guest-physical base of each block, from the board's RAM map
        bases = {id(region): base for base, region in machine.ram_regions}
        self.bases = [bases[id(r)] for _, r in blocks]
        self.first_done = False

    def close(self) -> None:
        """Logging off (the migration ended either way)."""
        self.machine.set_dirty_logging(False)

    def send_pass(self, writer, throttle=None, check=None):
        # Imported here: the board itself must not pull the migration
        # package in at start-up.
        from ...migration.ram import PassResult
        start = time.monotonic()
        before = writer.bytes_sent
        result = PassResult()
        if not self.first_done:
            # Logs on (and emptied) before the first page is read: a page
            # written after its read is then in the next pass.
            self.machine.set_dirty_logging(True)
            self.machine.take_dirty_pages()
            self._send_all(writer, result, throttle, check, before)
            self.first_done = True
        else:
            dirty = self.machine.take_dirty_pages()
            self._send_pages(writer, dirty, result, throttle, check, before)
        writer.flush()
        result.bytes_sent = writer.bytes_sent - before
        result.seconds = time.monotonic() - start
        return result

    def _send_all(self, writer, result, throttle, check, before) -> None:
        from ...migration.ram import _Residency
        for b, (_, region) in enumerate(self.blocks):
            residency = _Residency(region)
            residency.refresh()
            view = region.view
            for base in range(0, region.size, CHUNK):
                end = min(base + CHUNK, region.size)
                n = (end - base) // PAGE_SIZE
                if residency.absent(base, end):
                    writer.ram_pages(b, base // PAGE_SIZE, [None] * n)
                    result.duplicate += n
                    continue
                cur = bytes(view[base:end])
                if cur == (_ZERO_CHUNK if n * PAGE_SIZE == CHUNK else bytes(end - base)):
                    writer.ram_pages(b, base // PAGE_SIZE, [None] * n)
                    result.duplicate += n
                else:
                    pages = [cur[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]
                    pages = [None if p == _ZERO_PAGE else p for p in pages]
                    writer.ram_pages(b, base // PAGE_SIZE, pages)
                    result.normal += sum(p is not None for p in pages)
                    result.duplicate += sum(p is None for p in pages)
                if check is not None:
                    check()
                if throttle is not None:
                    throttle(writer.bytes_sent - before)

    def _send_pages(self, writer, dirty: set[int], result, throttle, check, before) -> None:
        """`dirty`: guest-physical page numbers; sent in runs per block."""
        for b, (_, region) in enumerate(self.blocks):
            first = self.bases[b] // PAGE_SIZE
            count = region.size // PAGE_SIZE
            mine = sorted(p - first for p in dirty if first <= p < first + count)
            view = region.view
            i = 0
            while i < len(mine):
                j = i
                while j + 1 < len(mine) and mine[j + 1] == mine[j] + 1 and j - i < 255:
                    j += 1
                lo, hi = mine[i], mine[j] + 1
                data = bytes(view[lo * PAGE_SIZE:hi * PAGE_SIZE])
                pages = [data[k * PAGE_SIZE:(k + 1) * PAGE_SIZE] for k in range(hi - lo)]
                pages = [None if p == _ZERO_PAGE else p for p in pages]
                writer.ram_pages(b, lo, pages)
                result.normal += sum(p is not None for p in pages)
                result.duplicate += sum(p is None for p in pages)
                i = j + 1
                if check is not None:
                    check()
                if throttle is not None:
                    throttle(writer.bytes_sent - before)
