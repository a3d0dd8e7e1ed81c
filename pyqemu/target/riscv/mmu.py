"""Page-based virtual memory: Sv32, Sv39, Sv48, Sv57 (privileged spec 1.12,
section 4.3.2 "Virtual Address Translation Process", and 4.4-4.6).

`translate` is the TLB-miss path of the CPU: it walks the page table with
implicit S-mode reads (PMP-checked), applies the leaf's permission bits
under SUM and MXR, updates A/D in hardware, and returns the physical address
or raises the page fault / access fault the spec names. The final physical
address is not PMP-checked here: the CPU does that (`PMP.page_allowed` /
`PMP.check`) for both translated and untranslated accesses.

Not implemented: Svnapot, Svpbmt (so PTE bits 63:54 must be zero) and the
hypervisor's two-stage translation.

QEMU 7.2 agrees on every rule below (measured with a bare-metal guest using
MPRV): reserved bits 60:54, PBMT and N set, W without R, D/A/U set in a
non-leaf PTE, misaligned superpages and non-canonical addresses all raise a
page fault; A and D are set in hardware.
"""

from __future__ import annotations

import enum

from pyqemu.memory.address_space import GuestMemoryError

from .trap import ACCESS_FAULT, FETCH, LOAD, PAGE_FAULT, STORE, GuestTrap


class SatpMode(enum.IntEnum):
    """satp.MODE (section 4.1.11, table "Encoding of satp MODE field")."""
    BARE = 0
    SV32 = 1    # rv32 only (MODE is the single bit 31)
    SV39 = 8
    SV48 = 9
    SV57 = 10


class Pte(enum.IntFlag):
    """Low bits of a page-table entry (section 4.3.1, figure "Sv32 page table entry")."""
    V = 0x01
    R = 0x02
    W = 0x04
    X = 0x08
    U = 0x10
    G = 0x20
    A = 0x40
    D = 0x80


# satp fields (section 4.1.11).
SATP32_MODE_SHIFT = 31
SATP32_PPN_MASK = (1 << 22) - 1
SATP64_MODE_SHIFT = 60
SATP64_PPN_MASK = (1 << 44) - 1

PAGE_SHIFT = 12
PTE_PPN_SHIFT = 10
# Sv39/48/57 PTE bits 63:54: N (63), PBMT (62:61), reserved (60:54).
PTE64_HIGH_SHIFT = 54
# Physical address width: 34 bits under Sv32, 56 bits on rv64.
PADDR_BITS_RV64 = 56

# Levels, PTE size and VPN width per mode (sections 4.3-4.6).
_LEVELS = {SatpMode.SV32: 2, SatpMode.SV39: 3, SatpMode.SV48: 4, SatpMode.SV57: 5}

_V, _R, _W, _X, _U, _A, _D = (int(Pte.V), int(Pte.R), int(Pte.W), int(Pte.X),
                              int(Pte.U), int(Pte.A), int(Pte.D))
_NONLEAF_RESERVED = _D | _A | _U    # section 4.3.1: reserved in non-leaf PTEs
_RX = _R | _X
_MASK64 = (1 << 64) - 1
_PADDR_LIMIT_RV64 = 1 << PADDR_BITS_RV64
_SUPERVISOR, _MACHINE = 1, 3


def satp_mode_supported(xlen: int, mode: int) -> bool:
    """Whether a satp write with this MODE is accepted (others leave satp unchanged)."""
    if xlen == 32:
        return mode in (SatpMode.BARE, SatpMode.SV32)
    return mode in (SatpMode.BARE, SatpMode.SV39, SatpMode.SV48, SatpMode.SV57)


def satp_mode(xlen: int, satp: int) -> int:
    """The MODE field of a satp value."""
    return satp >> (SATP32_MODE_SHIFT if xlen == 32 else SATP64_MODE_SHIFT)


def vaddr_bits(satp_mode: int) -> int:
    """Virtual address width of a paging mode (Bare: 64, untranslated)."""
    if satp_mode == SatpMode.BARE:
        return 64
    if satp_mode == SatpMode.SV32:
        return 32
    return PAGE_SHIFT + 9 * _LEVELS[SatpMode(satp_mode)]


def translate(cpu, vaddr: int, access: int, priv: int, sum_: bool, mxr: bool) -> int:
    """Physical address of `vaddr` for a FETCH/LOAD/STORE at effective privilege `priv`.

    Reads only cpu.xlen, cpu.satp, cpu.bus and cpu.pmp. Raises GuestTrap with
    the page-fault or access-fault cause of `access`, tval = vaddr.
    """
    return translate_sized(cpu, vaddr, access, priv, sum_, mxr)[0]


def translate_sized(cpu, vaddr: int, access: int, priv: int, sum_: bool,
                    mxr: bool) -> tuple[int, int]:
    """`translate`, and the log2 size of the page that maps `vaddr` (12 for a
    4 KiB page, more for a superpage; 64 when nothing translates): a TLB
    needs it to know which entries one `sfence.vma vaddr` concerns."""
    satp = cpu.satp
    if cpu.xlen == 32:
        vaddr &= 0xFFFFFFFF
        if priv == _MACHINE or not satp >> SATP32_MODE_SHIFT:
            return vaddr, 64
        table = (satp & SATP32_PPN_MASK) << PAGE_SHIFT
        pte_size = 4
        vpn_bits = 10
        level = 1
    else:
        vaddr &= _MASK64
        mode = satp >> SATP64_MODE_SHIFT
        if priv == _MACHINE or not mode:
            # Bare: the address is physical. Beyond the 56-bit physical space
            # there is nothing to reach (QEMU: access fault; no aliasing).
            if vaddr >= _PADDR_LIMIT_RV64:
                raise GuestTrap(ACCESS_FAULT[access], vaddr)
            return vaddr, 64
        level = mode - 6        # Sv39 -> 2, Sv48 -> 3, Sv57 -> 4 (top level index)
        if not 2 <= level <= 4:
            # The CPU refuses such satp writes; a stale value still must not walk.
            raise GuestTrap(PAGE_FAULT[access], vaddr)
        # Bits 63..VALEN-1 must all equal bit VALEN-1 (section 4.4.1).
        top = vaddr >> (PAGE_SHIFT + 9 * level + 8)
        if top and top != (1 << (64 - (PAGE_SHIFT + 9 * level + 8))) - 1:
            raise GuestTrap(PAGE_FAULT[access], vaddr)
        table = (satp & SATP64_PPN_MASK) << PAGE_SHIFT
        pte_size = 8
        vpn_bits = 9

    bus = cpu.bus
    pmp = cpu.pmp
    vpn_mask = (1 << vpn_bits) - 1
    while True:     # the walk restarts only when an A/D update loses a race
        a = table
        shift = PAGE_SHIFT + vpn_bits * level
        i = level
        while True:
            pte_addr = a + ((vaddr >> shift) & vpn_mask) * pte_size
            # Implicit page-table reads are S-mode accesses (section 3.7.1.2).
            if not pmp.check(pte_addr, pte_size, LOAD, _SUPERVISOR):
                raise GuestTrap(ACCESS_FAULT[access], vaddr)
            try:
                pte = bus.read(pte_addr, pte_size)
            except GuestMemoryError:
                raise GuestTrap(ACCESS_FAULT[access], vaddr) from None
            if (not pte & _V or (pte & (_R | _W)) == _W
                    or (pte_size == 8 and pte >> PTE64_HIGH_SHIFT)):
                raise GuestTrap(PAGE_FAULT[access], vaddr)
            if pte & _RX:
                break
            if pte & _NONLEAF_RESERVED or i == 0:
                raise GuestTrap(PAGE_FAULT[access], vaddr)
            a = (pte >> PTE_PPN_SHIFT) << PAGE_SHIFT
            shift -= vpn_bits
            i -= 1

        # Leaf PTE (step 5): privilege, then the access type.
        if pte & _U:
            if priv == _SUPERVISOR and (access == FETCH or not sum_):
                raise GuestTrap(PAGE_FAULT[access], vaddr)
        elif priv != _SUPERVISOR:
            raise GuestTrap(PAGE_FAULT[access], vaddr)
        if access == LOAD:
            if not (pte & _R or (mxr and pte & _X)):
                raise GuestTrap(PAGE_FAULT[access], vaddr)
        elif access == STORE:
            if not pte & _W:
                raise GuestTrap(PAGE_FAULT[access], vaddr)
        elif not pte & _X:
            raise GuestTrap(PAGE_FAULT[access], vaddr)

        ppn = pte >> PTE_PPN_SHIFT
        offset_mask = (1 << shift) - 1
        # A superpage's PPN must be aligned to its size (step 6).
        if (ppn << PAGE_SHIFT) & offset_mask:
            raise GuestTrap(PAGE_FAULT[access], vaddr)

        # Hardware A/D update (step 7): A on any access, D on a store.
        need = _A | _D if access == STORE else _A
        if pte & need != need:
            if not pmp.check(pte_addr, pte_size, STORE, _SUPERVISOR):
                raise GuestTrap(ACCESS_FAULT[access], vaddr)
            try:
                # Compare-and-set: another hart may have changed the PTE
                # since we read it; then walk again with the new tables.
                if bus.read(pte_addr, pte_size) != pte:
                    continue
                bus.write(pte_addr, pte_size, pte | need)
            except GuestMemoryError:
                raise GuestTrap(ACCESS_FAULT[access], vaddr) from None

        return (ppn << PAGE_SHIFT) | (vaddr & offset_mask), shift
