"""Guest memory as the monitor sees it: physical reads of RAM and ROM (never
MMIO, whose reads have side effects) and virtual reads through the hart's
page tables. Called on the vCPU thread (or while it is stopped)."""

from __future__ import annotations

from ..memory.region import RamRegion
from ..target.riscv.trap import LOAD, GuestTrap

PAGE = 4096


class MemoryAccessError(Exception):
    pass


def read_physical(bus, addr: int, size: int) -> bytes:
    if size < 0:
        raise MemoryAccessError(f"Invalid size {size}")
    out = bytearray()
    pos, end = addr, addr + size
    while pos < end:
        m = bus.find(pos)
        if m is None or not isinstance(m.region, RamRegion):
            raise MemoryAccessError(f"Invalid addr 0x{pos:016x}/size {size} specified")
        chunk = min(end, m.end) - pos
        out += bus.read_bytes(pos, chunk)
        pos += chunk
    return bytes(out)


def virt_to_phys(cpu, va: int) -> int:
    """The debug translation of a data address at the hart's privilege."""
    from ..target.riscv import mmu
    va &= cpu.xmask
    if cpu.priv == 3 or cpu.satp == 0:
        return va
    try:
        return mmu.translate(cpu, va, LOAD, cpu.priv, True, True)
    except GuestTrap:
        raise MemoryAccessError(f"Cannot access memory at virtual address 0x{va:x}") from None


def read_virtual(cpu, va: int, size: int) -> bytes:
    if size < 0:
        raise MemoryAccessError(f"Invalid size {size}")
    out = bytearray()
    pos, end = va, va + size
    while pos < end:
        chunk = min(end, (pos | (PAGE - 1)) + 1) - pos
        pa = virt_to_phys(cpu, pos)
        try:
            out += read_physical(cpu.bus, pa, chunk)
        except MemoryAccessError:
            raise MemoryAccessError(f"Invalid addr 0x{pos:016x}/size {size} specified") from None
        pos += chunk
    return bytes(out)
