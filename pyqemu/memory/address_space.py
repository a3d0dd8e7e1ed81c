"""An address space: regions mapped at guest-physical addresses.

Every access the guest makes, and every DMA a device makes on its behalf,
is resolved here. An address that hits nothing raises GuestMemoryError: the
CPU turns it into an access fault, a device into a device error. Nothing a
guest does can reach host memory outside its regions.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .region import MemoryRegion, MmioRegion, RamRegion


class GuestMemoryError(Exception):
    """A guest-physical access that hits no region (or writes a ROM)."""

    def __init__(self, addr: int, size: int, write: bool = False):
        self.addr = addr
        self.size = size
        self.write = write
        super().__init__(f"guest {'write' if write else 'read'} of {size} bytes at 0x{addr:x} hits no memory")


@dataclass(frozen=True)
class Mapping:
    base: int
    region: MemoryRegion

    @property
    def end(self) -> int:
        return self.base + self.region.size


class AddressSpace:
    def __init__(self, name: str = "memory"):
        self.name = name
        self._bases: list[int] = []
        self._maps: list[Mapping] = []

    # -- building -------------------------------------------------------
    def map(self, base: int, region: MemoryRegion) -> None:
        i = bisect.bisect_right(self._bases, base)
        new = Mapping(base, region)
        if i > 0 and self._maps[i - 1].end > base:
            raise ValueError(f"{region.name} at 0x{base:x} overlaps {self._maps[i - 1].region.name}")
        if i < len(self._maps) and new.end > self._maps[i].base:
            raise ValueError(f"{region.name} at 0x{base:x} overlaps {self._maps[i].region.name}")
        self._bases.insert(i, base)
        self._maps.insert(i, new)

    @property
    def mappings(self) -> list[Mapping]:
        return list(self._maps)

    # -- lookup ---------------------------------------------------------
    def find(self, addr: int) -> Mapping | None:
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0:
            m = self._maps[i]
            if addr < m.end:
                return m
        return None

    # -- guest-sized accesses (little-endian) ----------------------------
    def read(self, addr: int, size: int) -> int:
        m = self.find(addr)
        if m is None or addr + size > m.end:
            raise GuestMemoryError(addr, size)
        off = addr - m.base
        r = m.region
        if isinstance(r, RamRegion):
            return int.from_bytes(r.view[off:off + size], "little")
        return r.device.mmio_read(off, size)

    def write(self, addr: int, size: int, value: int) -> None:
        m = self.find(addr)
        if m is None or addr + size > m.end:
            raise GuestMemoryError(addr, size, True)
        off = addr - m.base
        r = m.region
        if isinstance(r, RamRegion):
            if r.readonly:
                raise GuestMemoryError(addr, size, True)
            r.view[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        r.device.mmio_write(off, size, value & ((1 << (8 * size)) - 1))

    # -- byte ranges (DMA, loaders, monitor) -----------------------------
    def ram_slice(self, addr: int, length: int, write: bool = False) -> memoryview:
        """A view of guest RAM [addr, addr+length), which must lie in one RAM region.

        Devices use this for DMA: a range that leaves RAM (or a ROM written to)
        is a GuestMemoryError, checked before any byte moves.
        """
        m = self.find(addr)
        if (m is None or not isinstance(m.region, RamRegion) or length < 0
                or addr + length > m.end or (write and m.region.readonly)):
            raise GuestMemoryError(addr, length, write)
        off = addr - m.base
        return m.region.view[off:off + length]

    def read_bytes(self, addr: int, length: int) -> bytes:
        return bytes(self.ram_slice(addr, length))

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.ram_slice(addr, len(data), write=True)[:] = data

    def load_image(self, addr: int, data: bytes) -> None:
        """Host-side load (firmware, kernel, dtb): may write ROM, not MMIO."""
        m = self.find(addr)
        if m is None or not isinstance(m.region, RamRegion) or addr + len(data) > m.end:
            raise GuestMemoryError(addr, len(data), True)
        m.region.load(addr - m.base, data)
