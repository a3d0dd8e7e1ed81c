"""RISC-V page-table walks (privileged spec 1.12, section 4.3.2 and 4.4-4.6).

Page tables are built in a real AddressSpace backed by a RamRegion, and
`translate` is driven through `HartView`, which carries exactly the
attributes the CPU lends it (xlen, satp, bus, pmp): that is the interface.
PMP entry 0 opens all memory to S and U, as OpenSBI does, because with PMP
entries implemented an S-mode access matching none of them fails (the page
walk's reads are S-mode accesses).
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from pyqemu.memory.address_space import AddressSpace
from pyqemu.memory.region import RamRegion, RomRegion
from pyqemu.target.riscv.mmu import (SatpMode, satp_mode, satp_mode_supported, translate,
                                     vaddr_bits)
from pyqemu.target.riscv.pmp import PMP
from pyqemu.target.riscv.trap import FETCH, LOAD, STORE, Cause, GuestTrap

U_MODE, S_MODE, M_MODE = 0, 1, 3
V, R, W, X, U, G, A, D = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80   # PTE bits
PMP_R, PMP_X, PMP_NAPOT = 0x01, 0x04, 0x18                                  # pmpcfg bits
RAM_BASE = 0x8000_0000
RAM_SIZE = 8 << 20
ROM_BASE = 0x1000_0000

PAGE_FAULT = {FETCH: Cause.INSN_PAGE_FAULT, LOAD: Cause.LOAD_PAGE_FAULT,
              STORE: Cause.STORE_PAGE_FAULT}
ACCESS_FAULT = {FETCH: Cause.INSN_ACCESS_FAULT, LOAD: Cause.LOAD_ACCESS_FAULT,
                STORE: Cause.STORE_ACCESS_FAULT}

# (xlen, satp mode, levels, bits per VPN, PTE size)
SCHEMES = {
    "sv32": (32, SatpMode.SV32, 2, 10, 4),
    "sv39": (64, SatpMode.SV39, 3, 9, 8),
    "sv48": (64, SatpMode.SV48, 4, 9, 8),
    "sv57": (64, SatpMode.SV57, 5, 9, 8),
}


class HartView:
    """Exactly the attributes the CPU gives translate(): xlen, satp, bus, pmp."""

    __slots__ = ("xlen", "satp", "bus", "pmp")

    def __init__(self, xlen: int, satp: int, bus: AddressSpace, pmp: PMP):
        self.xlen = xlen
        self.satp = satp
        self.bus = bus
        self.pmp = pmp


def open_pmp(xlen: int) -> PMP:
    pmp = PMP(xlen)
    pmp.write_addr(0, (1 << 54) - 1 if xlen == 64 else (1 << 32) - 1)  # NAPOT: everything
    pmp.write_cfg(0, 0x1F)                                             # NAPOT, RWX
    return pmp


class PageTables:
    """Builds one paging scheme's tables in guest RAM, the way a kernel would."""

    def __init__(self, scheme: str, bus: AddressSpace | None = None, pmp: PMP | None = None,
                 first_table: int = RAM_BASE + (4 << 20)):
        self.xlen, self.mode, self.levels, self.vpn_bits, self.pte_size = SCHEMES[scheme]
        if bus is None:
            bus = AddressSpace()
            bus.map(RAM_BASE, RamRegion("ram", RAM_SIZE))
        self.bus = bus
        self.pmp = pmp if pmp is not None else open_pmp(self.xlen)
        self.next_free = first_table    # by default tables live in the upper half of RAM
        self.root = self.alloc()

    def alloc(self) -> int:
        page = self.next_free
        self.next_free += 4096
        return page

    def satp(self) -> int:
        if self.xlen == 32:
            return (1 << 31) | (self.root >> 12)
        return (int(self.mode) << 60) | (self.root >> 12)

    def hart(self) -> HartView:
        return HartView(self.xlen, self.satp(), self.bus, self.pmp)

    def pte_addr(self, vaddr: int, level: int) -> int:
        """Address of the PTE for vaddr at `level`, creating pointer tables on the way."""
        table = self.root
        for lvl in range(self.levels - 1, level, -1):
            addr = table + self.vpn(vaddr, lvl) * self.pte_size
            pte = self.bus.read(addr, self.pte_size)
            if not pte & V:
                pte = ((self.alloc() >> 12) << 10) | V
                self.bus.write(addr, self.pte_size, pte)
            table = (pte >> 10) << 12
        return table + self.vpn(vaddr, level) * self.pte_size

    def vpn(self, vaddr: int, level: int) -> int:
        return (vaddr >> (12 + self.vpn_bits * level)) & ((1 << self.vpn_bits) - 1)

    def map(self, vaddr: int, paddr: int, flags: int, level: int = 0, extra: int = 0) -> int:
        """Maps vaddr to paddr with a leaf at `level` (0 = 4 KiB); returns the PTE's address."""
        addr = self.pte_addr(vaddr, level)
        self.bus.write(addr, self.pte_size, ((paddr >> 12) << 10) | flags | extra)
        return addr

    def pte(self, addr: int) -> int:
        return self.bus.read(addr, self.pte_size)

    def translate(self, vaddr, access=LOAD, priv=S_MODE, sum_=False, mxr=False):
        return translate(self.hart(), vaddr, access, priv, sum_, mxr)


def fault_of(tables: PageTables, vaddr: int, access=LOAD, priv=S_MODE, sum_=False, mxr=False):
    with pytest.raises(GuestTrap) as info:
        tables.translate(vaddr, access, priv, sum_, mxr)
    assert info.value.tval == vaddr & ((1 << tables.xlen) - 1)
    return info.value.cause


# -- satp modes -------------------------------------------------------------------

def test_supported_modes_are_bare_and_the_schemes_of_each_width():
    assert [m for m in range(16) if satp_mode_supported(32, m)] == [0, 1]
    assert [m for m in range(16) if satp_mode_supported(64, m)] == [0, 8, 9, 10]


def test_virtual_address_widths():
    assert [vaddr_bits(m) for m in (1, 8, 9, 10)] == [32, 39, 48, 57]
    assert satp_mode(64, (9 << 60) | 0x1234) == SatpMode.SV48
    assert satp_mode(32, (1 << 31) | 0x1234) == SatpMode.SV32


# -- no translation ---------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_machine_mode_is_not_translated(scheme):
    tables = PageTables(scheme)
    assert tables.translate(0x8000_1234, priv=M_MODE) == 0x8000_1234


def test_bare_mode_returns_the_address_unchanged():
    pmp = open_pmp(64)
    bus = AddressSpace()
    assert translate(HartView(64, 0, bus, pmp), 0x1234_5678_9ABC, STORE, S_MODE, False, False) \
        == 0x1234_5678_9ABC
    assert translate(HartView(32, 0, bus, open_pmp(32)), 0xFFFF_F000, FETCH, U_MODE, False,
                     False) == 0xFFFF_F000
    # rv32 addresses are 32 bits, however the caller's int was sign-extended.
    assert translate(HartView(32, 0, bus, open_pmp(32)), -0x8000_0000, LOAD, M_MODE, False,
                     False) == 0x8000_0000


def test_bare_mode_beyond_the_56_bit_physical_space_is_an_access_fault():
    hart = HartView(64, 0, AddressSpace(), open_pmp(64))
    with pytest.raises(GuestTrap) as info:
        translate(hart, 1 << 56, STORE, M_MODE, False, False)
    assert (info.value.cause, info.value.tval) == (Cause.STORE_ACCESS_FAULT, 1 << 56)


# -- the walk -----------------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_level_maps_a_page_of_its_size(scheme):
    tables = PageTables(scheme)
    # One leaf per level, each in its own top-level slot so they don't collide.
    for level in range(tables.levels):
        page_size = 1 << (12 + tables.vpn_bits * level)
        vaddr = (level + 1) << (12 + tables.vpn_bits * (tables.levels - 1))
        paddr = 0x2_0000_0000 if tables.xlen == 64 and level < 3 else 0
        paddr = paddr - paddr % page_size + page_size * 3
        tables.map(vaddr, paddr, V | R | W | X | A | D, level=level)
        offset = page_size - 8
        assert tables.translate(vaddr + offset) == paddr + offset
        assert tables.translate(vaddr + offset, STORE) == paddr + offset
        assert tables.translate(vaddr, FETCH) == paddr


def test_sv32_reaches_34_bit_physical_addresses():
    tables = PageTables("sv32")
    tables.map(0x4000_0000, 0x3_FFFF_F000, V | R | A)
    assert tables.translate(0x4000_0ABC) == 0x3_FFFF_FABC


def test_sv32_ignores_the_upper_half_of_a_wider_vaddr():
    tables = PageTables("sv32")
    tables.map(0xC000_0000, RAM_BASE, V | R | A)
    assert tables.translate(0xFFFF_FFFF_C000_0010) == RAM_BASE + 0x10


@pytest.mark.parametrize("scheme", ["sv39", "sv48", "sv57"])
def test_high_bits_must_copy_the_top_vaddr_bit(scheme):
    tables = PageTables(scheme)
    valen = vaddr_bits(tables.mode)
    high_half = ((1 << 64) - 1) ^ ((1 << (valen - 1)) - 1)   # canonical, bit VALEN-1 set
    tables.map(high_half, RAM_BASE, V | R | A)
    tables.map(0, RAM_BASE + 0x1000, V | R | A)
    assert tables.translate(high_half + 4) == RAM_BASE + 4
    assert tables.translate(-(1 << (valen - 1)) + 4) == RAM_BASE + 4   # the same, as a negative int
    assert tables.translate(0x10) == RAM_BASE + 0x1010
    for bad in (1 << (valen - 1), 1 << 63, high_half ^ (1 << 63), 1 << valen):
        for access in (FETCH, LOAD, STORE):
            assert fault_of(tables, bad, access) == PAGE_FAULT[access]


# -- PTE encodings --------------------------------------------------------------------

@pytest.mark.parametrize("access", [FETCH, LOAD, STORE])
def test_invalid_pte_is_a_page_fault(access):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, R | W | X | A | D)     # V clear
    assert fault_of(tables, 0x1000, access) == PAGE_FAULT[access]


@pytest.mark.parametrize("flags", [W, W | X])
def test_write_without_read_is_reserved(flags):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | flags | A | D)
    for access in (FETCH, LOAD, STORE):
        assert fault_of(tables, 0x1000, access, mxr=True) == PAGE_FAULT[access]


@pytest.mark.parametrize("bit", range(54, 64))
def test_pte_bits_63_to_54_fault_without_svnapot_and_svpbmt(bit):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | R | W | X | A | D, extra=1 << bit)
    assert fault_of(tables, 0x1000) == Cause.LOAD_PAGE_FAULT
    # ...in a pointer PTE as well.
    tables.map(0x4000_0000, RAM_BASE, V | R | A)
    pointer = tables.pte_addr(0x4000_0000, 1)
    tables.bus.write(pointer, 8, tables.pte(pointer) | (1 << bit))
    assert fault_of(tables, 0x4000_0000, STORE) == Cause.STORE_PAGE_FAULT


def test_rsw_and_g_bits_are_ignored():
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | R | A | G | 0x300)
    assert tables.translate(0x1008) == RAM_BASE + 8


@pytest.mark.parametrize("bit", [D, A, U])
def test_d_a_u_are_reserved_in_pointer_ptes(bit):
    tables = PageTables("sv48")
    tables.map(0x20_0000, RAM_BASE, V | R | A)
    pointer = tables.pte_addr(0x20_0000, 2)
    tables.bus.write(pointer, 8, tables.pte(pointer) | bit)
    assert fault_of(tables, 0x20_0000, LOAD) == Cause.LOAD_PAGE_FAULT


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pointer_pte_at_the_last_level_is_a_page_fault(scheme):
    tables = PageTables(scheme)
    addr = tables.pte_addr(0x5000, 0)
    tables.bus.write(addr, tables.pte_size, ((tables.alloc() >> 12) << 10) | V)
    assert fault_of(tables, 0x5000) == Cause.LOAD_PAGE_FAULT


@pytest.mark.parametrize("scheme", SCHEMES)
def test_misaligned_superpage_is_a_page_fault(scheme):
    tables = PageTables(scheme)
    for level in range(1, tables.levels):
        vaddr = level << (12 + tables.vpn_bits * (tables.levels - 1))
        page_size = 1 << (12 + tables.vpn_bits * level)
        tables.map(vaddr, 7 * page_size + 0x1000, V | R | W | X | A | D, level=level)
        for access in (FETCH, LOAD, STORE):
            assert fault_of(tables, vaddr + 8, access) == PAGE_FAULT[access]


# -- permissions -----------------------------------------------------------------------

def test_each_access_needs_its_own_permission():
    tables = PageTables("sv39")
    for n, flags in enumerate((R, R | W, X, R | X, R | W | X)):
        tables.map(n << 12, RAM_BASE, V | flags | A | D)
        for access, needed in ((FETCH, X), (LOAD, R), (STORE, W)):
            if flags & needed:
                assert tables.translate(n << 12, access) == RAM_BASE
            else:
                assert fault_of(tables, n << 12, access) == PAGE_FAULT[access]


def test_mxr_makes_execute_only_pages_readable_and_nothing_else():
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | X | A | D)
    assert fault_of(tables, 0x1000, LOAD) == Cause.LOAD_PAGE_FAULT
    assert tables.translate(0x1000, LOAD, mxr=True) == RAM_BASE
    assert fault_of(tables, 0x1000, STORE, mxr=True) == Cause.STORE_PAGE_FAULT
    tables.map(0x2000, RAM_BASE, V | W | R | A | D)
    assert fault_of(tables, 0x2000, FETCH, mxr=True) == Cause.INSN_PAGE_FAULT


@pytest.mark.parametrize("access", [FETCH, LOAD, STORE])
def test_user_mode_may_touch_only_user_pages(access):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | R | W | X | A | D)
    tables.map(0x2000, RAM_BASE, V | R | W | X | U | A | D)
    assert fault_of(tables, 0x1000, access, priv=U_MODE, sum_=True) == PAGE_FAULT[access]
    assert tables.translate(0x2000, access, priv=U_MODE) == RAM_BASE


def test_supervisor_reaches_user_pages_only_with_sum_and_never_executes_them():
    tables = PageTables("sv39")
    tables.map(0x2000, RAM_BASE, V | R | W | X | U | A | D)
    assert fault_of(tables, 0x2000, LOAD) == Cause.LOAD_PAGE_FAULT
    assert fault_of(tables, 0x2000, STORE) == Cause.STORE_PAGE_FAULT
    assert tables.translate(0x2000, LOAD, sum_=True) == RAM_BASE
    assert tables.translate(0x2000, STORE, sum_=True) == RAM_BASE
    assert fault_of(tables, 0x2000, FETCH, sum_=True) == Cause.INSN_PAGE_FAULT
    assert fault_of(tables, 0x2000, FETCH) == Cause.INSN_PAGE_FAULT


def test_sum_and_mxr_apply_to_sv32_too():
    tables = PageTables("sv32")
    tables.map(0x1000, RAM_BASE, V | X | U | A)
    assert fault_of(tables, 0x1000, LOAD, sum_=True) == Cause.LOAD_PAGE_FAULT
    assert tables.translate(0x1000, LOAD, sum_=True, mxr=True) == RAM_BASE
    assert fault_of(tables, 0x1000, LOAD, mxr=True) == Cause.LOAD_PAGE_FAULT


# -- accessed and dirty bits ---------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_hardware_sets_a_on_every_access_and_d_on_stores(scheme):
    tables = PageTables(scheme)
    base = V | R | W | X
    pte_read = tables.map(0x1000, RAM_BASE, base)
    pte_fetch = tables.map(0x2000, RAM_BASE, base)
    pte_store = tables.map(0x3000, RAM_BASE, base)
    pte_dirtying = tables.map(0x4000, RAM_BASE, base | A)
    tables.translate(0x1000, LOAD)
    tables.translate(0x2000, FETCH)
    tables.translate(0x3000, STORE)
    tables.translate(0x4000, STORE)
    assert tables.pte(pte_read) & 0xFF == base | A
    assert tables.pte(pte_fetch) & 0xFF == base | A
    assert tables.pte(pte_store) & 0xFF == base | A | D
    assert tables.pte(pte_dirtying) & 0xFF == base | A | D
    assert tables.pte(pte_read) >> 10 == RAM_BASE >> 12    # the PPN is untouched


def test_superpage_a_d_update_targets_the_leaf():
    tables = PageTables("sv39")
    leaf = tables.map(0x4000_0000, RAM_BASE, V | R | W, level=2)
    assert tables.translate(0x4000_1234, STORE) == RAM_BASE + 0x1234
    assert tables.pte(leaf) & (A | D) == A | D


def test_a_faulting_access_leaves_a_and_d_alone():
    tables = PageTables("sv39")
    leaf = tables.map(0x1000, RAM_BASE, V | R)
    assert fault_of(tables, 0x1000, STORE) == Cause.STORE_PAGE_FAULT
    assert fault_of(tables, 0x1000, FETCH) == Cause.INSN_PAGE_FAULT
    assert tables.pte(leaf) & (A | D) == 0


def test_a_d_update_into_read_only_memory_is_an_access_fault():
    bus = AddressSpace()
    rom = RomRegion("rom", 1 << 16)
    bus.map(ROM_BASE, rom)
    bus.map(RAM_BASE, RamRegion("ram", RAM_SIZE))
    # Tables built in RAM, then copied into the ROM by the host loader.
    tables = PageTables("sv39", bus)
    tables.next_free = ROM_BASE
    root = tables.alloc()
    l1 = tables.alloc()
    l0 = tables.alloc()
    image = bytearray(3 * 4096)
    image[0:8] = (((l1 >> 12) << 10) | V).to_bytes(8, "little")
    image[4096:4104] = (((l0 >> 12) << 10) | V).to_bytes(8, "little")
    image[8192 + 8:8192 + 16] = (((RAM_BASE >> 12) << 10) | V | R | W | A).to_bytes(8, "little")
    image[8192 + 16:8192 + 24] = (((RAM_BASE >> 12) << 10) | V | R | W | A | D).to_bytes(8, "little")
    bus.load_image(ROM_BASE, bytes(image))
    tables.root = root
    assert tables.translate(0x1000, LOAD) == RAM_BASE              # A already set: no write
    assert tables.translate(0x2000, STORE) == RAM_BASE             # A and D already set
    assert fault_of(tables, 0x1000, STORE) == Cause.STORE_ACCESS_FAULT   # D must be written


# -- access faults on the walk ------------------------------------------------------------

@pytest.mark.parametrize("access", [FETCH, LOAD, STORE])
def test_page_table_outside_memory_is_an_access_fault_of_the_original_type(access):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | R | W | X | A | D)
    pointer = tables.pte_addr(0x1000, 1)
    tables.bus.write(pointer, 8, ((0x4000_0000 >> 12) << 10) | V)    # nothing mapped there
    assert fault_of(tables, 0x1000, access) == ACCESS_FAULT[access]
    # And a root outside memory.
    hart = HartView(64, (8 << 60) | (0x1000_0000 >> 12), tables.bus, tables.pmp)
    with pytest.raises(GuestTrap) as info:
        translate(hart, 0x1000, access, S_MODE, False, False)
    assert info.value.cause == ACCESS_FAULT[access]


@pytest.mark.parametrize("access", [FETCH, LOAD, STORE])
def test_pmp_denied_pte_read_is_an_access_fault_of_the_original_type(access):
    tables = PageTables("sv39")
    tables.map(0x1000, RAM_BASE, V | R | W | X | A | D)
    # Entry 0 (higher priority than the open entry 1): the page tables are
    # readable by S only... except their root page.
    pmp = PMP(64)
    pmp.write_addr(0, (tables.root >> 2) | 0x1FF)         # NAPOT 4 KiB at the root
    pmp.write_addr(1, (1 << 54) - 1)
    pmp.write_cfg(0, (0x1F << 8) | PMP_NAPOT | PMP_X)     # root: NAPOT, execute only
    tables.pmp = pmp
    assert fault_of(tables, 0x1000, access) == ACCESS_FAULT[access]


def test_pmp_denied_a_d_write_is_an_access_fault_of_the_original_type():
    tables = PageTables("sv39")
    leaf = tables.map(0x1000, RAM_BASE, V | R | W | X)
    leaf_page = leaf & ~0xFFF
    pmp = PMP(64)
    pmp.write_addr(0, (leaf_page >> 2) | 0x1FF)           # NAPOT 4 KiB at the leaf table
    pmp.write_addr(1, (1 << 54) - 1)
    pmp.write_cfg(0, (0x1F << 8) | PMP_NAPOT | PMP_R)     # leaf table: read-only for S
    tables.pmp = pmp
    for access in (FETCH, LOAD, STORE):
        assert fault_of(tables, 0x1000, access) == ACCESS_FAULT[access]
    assert tables.pte(leaf) & (A | D) == 0


def test_page_walk_reads_are_s_mode_accesses_even_for_user_translations():
    # Entries implemented but none open: S-mode reads of the tables fail.
    tables = PageTables("sv39", pmp=PMP(64))
    tables.map(0x1000, RAM_BASE, V | R | U | A)
    assert fault_of(tables, 0x1000, LOAD, priv=U_MODE) == Cause.LOAD_ACCESS_FAULT


def test_translation_speed():
    """Report figure for the TLB-miss path (Sv39, three levels, A already set)."""
    tables = PageTables("sv39")
    for n in range(64):
        tables.map(n << 12, RAM_BASE + (n << 12), V | R | W | A | D)
    hart = tables.hart()
    count = 20000
    start = time.perf_counter()
    for i in range(count):
        translate(hart, (i & 63) << 12, LOAD, S_MODE, False, False)
    elapsed = time.perf_counter() - start
    print(f"sv39 translate: {elapsed / count * 1e6:.2f} us per walk")
    assert translate(hart, 5 << 12, LOAD, S_MODE, False, False) == RAM_BASE + (5 << 12)


# -- against the real QEMU -------------------------------------------------------------------

# The guest copies the tables built here into its RAM, then makes each probe
# load or store as S or U through mstatus.MPRV, and each fetch by an mret to
# the address in S or U mode, printing mcause and mtval; at the end it prints
# every table word, to compare the A/D updates. The model walks the same
# tables in the same order.
MPRV, SUM, MXR, MPP_S = 1 << 17, 1 << 18, 1 << 19, 1 << 11
DATA = RAM_BASE + (3 << 20)      # the page every 4 KiB leaf points to
# Superpages map guest RAM too (QEMU's is 128 MiB), and are probed at an
# offset clear of the guest's code, stack and tables.
SUPERPAGE_TARGET = {1: RAM_BASE + (8 << 20), 2: RAM_BASE}
PROBE_OFFSET = {2: (8 << 20) + 8}

# Words are XLEN wide, as are Sv32 and Sv39/48/57 PTEs.
PEER_GUEST = r"""
typedef unsigned long word;
#if __riscv_xlen == 64
#define LX "ld"
#define SX "sd"
#else
#define LX "lw"
#define SX "sw"
#endif
#define UART ((volatile unsigned char *)0x10000000)
static volatile word *const trap_info = (word *)0x80280000;
static void hex(word v) {
  for (int i = sizeof(word) * 8 - 4; i >= 0; i -= 4) *UART = "0123456789abcdef"[(v >> i) & 15];
}
static void report(word a, word b) { hex(a); *UART = ' '; hex(b); *UART = '\n'; }
static void probe(word satp, word va, int store, word bits) {
  trap_info[0] = trap_info[1] = 0;
  asm volatile("csrw satp, %0\n sfence.vma" :: "r"(satp) : "memory");
  if (store)
    asm volatile("csrc mstatus, %1\n csrs mstatus, %0\n " SX " zero, 0(%2)\n csrc mstatus, %1"
                 :: "r"(bits), "r"(0xe1800UL), "r"(va) : "memory");
  else
    asm volatile("csrc mstatus, %1\n csrs mstatus, %0\n " LX " t0, 0(%2)\n csrc mstatus, %1"
                 :: "r"(bits), "r"(0xe1800UL), "r"(va) : "t0", "memory");
  report(trap_info[0], trap_info[1]);
}
/* An instruction fetch probe: mret to va in S or U; the page holds an ecall.
   Either the ecall or the fetch fault brings the hart back to M, where the
   trap handler resumes at label 1 (trap_info[2]). */
static void fetch_probe(word satp, word va, word mpp) {
  trap_info[0] = trap_info[1] = 0;
  asm volatile("csrw satp, %0\n sfence.vma" :: "r"(satp) : "memory");
  asm volatile("la t0, 1f\n " SX " t0, 0(%2)\n csrw mepc, %0\n li t0, 0x1800\n"
               " csrc mstatus, t0\n csrs mstatus, %1\n mret\n1:\n"
               :: "r"(va), "r"(mpp), "r"(&trap_info[2]) : "t0", "memory");
  report(trap_info[0], trap_info[1]);
}
void main(void) {
  asm volatile("csrw pmpaddr0, %0\n csrw pmpcfg0, %1" :: "r"(-1UL), "r"(0x1fUL));
  trap_info[2] = 0;
  *(volatile unsigned *)(DATA + 16) = 0x00000073;      /* ecall */
  *(volatile unsigned *)(SUPERPAGE + 16) = 0x00000073;
  asm volatile("fence.i");
STEPS
}
asm(".section .text.start\n.globl _start\n_start:\n li sp, 0x80200000\n"
    " la t0, trap\n csrw mtvec, t0\n call main\n"
    " li t0, 0x100000\n li t1, 0x5555\n sw t1, 0(t0)\n1: j 1b\n"
    ".align 4\ntrap:\n addi sp, sp, -16\n " SX " t0, 0(sp)\n " SX " t1, 8(sp)\n"
    " li t1, 0x80280000\n csrr t0, mcause\n " SX " t0, 0(t1)\n csrr t0, mtval\n"
    " " SX " t0, %d(t1)\n " LX " t0, %d2(t1)\n beqz t0, 2f\n"
    " csrw mepc, t0\n " SX " zero, %d2(t1)\n li t0, 0x1800\n csrs mstatus, t0\n j 3f\n"
    "2:\n csrr t0, mepc\n addi t0, t0, 4\n csrw mepc, t0\n"
    "3:\n " LX " t0, 0(sp)\n " LX " t1, 8(sp)\n addi sp, sp, 16\n mret\n");
"""
PEER_LINKER_SCRIPT = "ENTRY(_start) SECTIONS { . = 0x80000000; .text : { *(.text.start) *(.text*) }" \
                     " .rodata : { *(.rodata*) } .data : { *(.data*) *(.sdata*) }" \
                     " .bss : { *(.bss*) *(.sbss*) } }"
FETCH_OFFSET = 16    # the guest puts an ecall there in each target page
PEER_TARGETS = {  # xlen: (schemes, emulator, -march, -mabi)
    64: (("sv39", "sv48", "sv57"), "qemu-system-riscv64", "rv64ima_zicsr_zifencei", "lp64"),
    32: (("sv32",), "qemu-system-riscv32", "rv32ima_zicsr_zifencei", "ilp32"),
}


def build_peer_tables(bus: AddressSpace, schemes) -> tuple[dict, list]:
    """Each scheme's tables in `bus`, and the probes: (scheme, vaddr, access, mstatus bits)."""
    sets = {name: PageTables(name, bus, first_table=RAM_BASE + ((4 + n) << 20))
            for n, name in enumerate(schemes)}
    probes = []
    s_mode, u_mode = MPRV | MPP_S, MPRV
    for name, t in sets.items():
        top = 12 + t.vpn_bits * (t.levels - 1)      # the span of one top-level entry
        leaves = [  # (vaddr, flags, level, extra)
            (0x1000, V | R | W | A | D, 0, 0),
            (0x2000, V | R | W, 0, 0),               # A/D to be set
            (0x3000, V | R | W | A, 0, 0),           # D to be set
            (0x7000, V | W | A | D, 0, 0),           # W without R
            (0x8000, V | X | A | D, 0, 0),           # execute only
            (0x9000, V | R | W | U | A | D, 0, 0),   # user page
            (0xA000, V | R | X | U, 0, 0),           # user, read-execute
            (0xB000, R | W | A | D, 0, 0),           # invalid
            (1 << top, V | R | W, 1, 0),             # superpages
            ((1 << top) + (1 << (12 + t.vpn_bits)) * 2, V | R | W | A | D, 1, 1 << 10),  # misaligned
        ]
        if t.xlen == 64:
            leaves += [(0x4000, V | R | W | A | D, 0, 1 << 60),   # reserved bit
                       (0x5000, V | R | W | A | D, 0, 1 << 61),   # PBMT
                       (0x6000, V | R | W | A | D, 0, 1 << 63)]   # N
        if t.levels > 3:
            leaves.append((2 << top, V | R | W, 2, 0))
            leaves.append(((2 << top) + (1 << 30) * 3, V | R, 2, 1 << 19))  # misaligned
        for vaddr, flags, level, extra in leaves:
            t.map(vaddr, SUPERPAGE_TARGET.get(level, DATA), flags, level, extra)
        # A pointer PTE with U set, and a pointer at the last level.
        t.map(5 << top, DATA, V | R | W | A | D)
        pointer = t.pte_addr(5 << top, 1)
        bus.write(pointer, t.pte_size, t.pte(pointer) | U)
        last = t.pte_addr(0xC000, 0)
        bus.write(last, t.pte_size, ((t.alloc() >> 12) << 10) | V)
        for vaddr, _, level, _ in leaves:
            vaddr += PROBE_OFFSET.get(level, 8)
            for bits in (s_mode, s_mode | SUM, s_mode | MXR, u_mode, u_mode | MXR):
                probes += [(name, vaddr, LOAD, bits), (name, vaddr, STORE, bits)]
            for bits in (MPP_S, MPP_S | SUM, 0):
                probes.append((name, vaddr - 8 + FETCH_OFFSET, FETCH, bits))
        odd = [5 << top, 0xC000]
        if t.xlen == 64:
            odd += [1 << (vaddr_bits(t.mode) - 1), (1 << 64) - 0x1000, 1 << 63]  # not canonical
        for vaddr in odd:
            probes += [(name, vaddr, LOAD, s_mode), (name, vaddr, STORE, s_mode),
                       (name, vaddr, FETCH, MPP_S)]
    return sets, probes


@pytest.mark.parametrize("xlen", [64, 32])
def test_walks_match_qemu(tmp_path, xlen):
    schemes, emulator, march, mabi = PEER_TARGETS[xlen]
    if not (shutil.which(emulator) and shutil.which("riscv64-unknown-elf-gcc")):
        pytest.skip(f"needs {emulator} and riscv64-unknown-elf-gcc")
    bus = AddressSpace()
    bus.map(RAM_BASE, RamRegion("ram", RAM_SIZE))
    sets, probes = build_peer_tables(bus, schemes)
    word = xlen // 8
    table_base, table_end = RAM_BASE + (4 << 20), max(t.next_free for t in sets.values())
    words = [(a, bus.read(a, word)) for a in range(table_base, table_end, word)]
    words = [(a, v) for a, v in words if v]
    lines = [f"  *(volatile word *){a:#x}UL = {v:#x}UL;" for a, v in words]
    lines += [f"  fetch_probe({sets[name].satp():#x}UL, {vaddr:#x}UL, {bits:#x}UL);"
              if access == FETCH else
              f"  probe({sets[name].satp():#x}UL, {vaddr:#x}UL, {int(access == STORE)}, {bits:#x}UL);"
              for name, vaddr, access, bits in probes]
    lines += [f"  report({a:#x}UL, *(volatile word *){a:#x}UL);" for a, v in words]
    guest = (PEER_GUEST.replace("STEPS", "\n".join(lines)).replace("%d2", str(2 * word))
             .replace("%d", str(word)).replace("DATA", f"{DATA:#x}UL")
             .replace("SUPERPAGE", f"{SUPERPAGE_TARGET[1]:#x}UL"))
    (tmp_path / "guest.c").write_text(guest)
    (tmp_path / "link.ld").write_text(PEER_LINKER_SCRIPT)
    subprocess.run(["riscv64-unknown-elf-gcc", f"-march={march}", f"-mabi={mabi}",
                    "-mcmodel=medany", "-nostdlib", "-ffreestanding", "-O1",
                    "-T", str(tmp_path / "link.ld"), str(tmp_path / "guest.c"),
                    "-o", str(tmp_path / "guest.elf")], check=True)
    out = subprocess.run([emulator, "-M", "virt", "-bios", "none", "-nographic",
                          "-monitor", "none", "-serial", "stdio",
                          "-kernel", str(tmp_path / "guest.elf")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    qemu = [tuple(int(x, 16) for x in line.split()) for line in out.splitlines()]

    model = []
    for name, vaddr, access, bits in probes:
        priv = S_MODE if bits & MPP_S else U_MODE
        try:
            translate(sets[name].hart(), vaddr, access, priv, bool(bits & SUM), bool(bits & MXR))
            if access == FETCH:     # the ecall there ran
                model.append((Cause.ECALL_S if priv == S_MODE else Cause.ECALL_U, 0))
            else:
                model.append((0, 0))
        except GuestTrap as trap:
            model.append((int(trap.cause), trap.tval))
    model += [(a, bus.read(a, word)) for a, v in words]
    assert len(qemu) == len(model)
    steps = [f"{p[0]} {p[1]:#x} {('fetch', 'load', 'store')[p[2]]} mstatus bits {p[3]:#x}"
             for p in probes] + [f"table word at {a:#x}" for a, v in words]
    for step, q, m in zip(steps, qemu, model):
        assert (step, m) == (step, q)
    faults = sum(1 for m in model[:len(probes)] if m[0])
    assert 0 < faults < len(probes)
