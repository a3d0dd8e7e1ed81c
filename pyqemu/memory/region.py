"""Memory regions: what sits at a guest-physical address.

A region is RAM (host memory the guest reads and writes directly), ROM (the
same, read-only to the guest) or MMIO (every access is a call into a device).
Devices follow one bus interface, as in Firecracker and TinyEMU: a read and a
write at an offset, of 1, 2, 4 or 8 bytes, little-endian values as ints.
"""

from __future__ import annotations

import mmap
from typing import Protocol


class MmioDevice(Protocol):
    """What an MMIO device implements: accesses at an offset into its window."""

    def mmio_read(self, offset: int, size: int) -> int: ...

    def mmio_write(self, offset: int, size: int, value: int) -> None: ...


class MemoryRegion:
    kind = "region"

    def __init__(self, name: str, size: int):
        if size <= 0:
            raise ValueError(f"memory region {name!r}: size must be positive")
        self.name = name
        self.size = size


class RamRegion(MemoryRegion):
    """Guest RAM: an anonymous mapping, so that `-m 4G` costs nothing until touched."""

    kind = "ram"
    readonly = False

    def __init__(self, name: str, size: int):
        super().__init__(name, size)
        # MAP_NORESERVE: untouched pages are never committed; the kernel
        # zero-fills on first touch, which is what a guest expects of fresh RAM.
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
        self.mem = mmap.mmap(-1, size, flags=flags)
        # One memoryview for the life of the region: the CPU caches slices of it.
        self.view = memoryview(self.mem)

    def load(self, offset: int, data: bytes) -> None:
        """Host-side write (loaders, DMA); bounds are the caller's to check."""
        self.view[offset:offset + len(data)] = data


class RomRegion(RamRegion):
    """Read-only to the guest; the host fills it with `load`."""

    kind = "rom"
    readonly = True


class MmioRegion(MemoryRegion):
    kind = "mmio"

    def __init__(self, name: str, size: int, device: MmioDevice):
        super().__init__(name, size)
        self.device = device
