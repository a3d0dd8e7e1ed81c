"""sfence.vma with an address (privileged spec 1.12, section 4.2.1): the
hart forgets the translations of that page only, and every translation a
superpage entry gave when the address falls inside it; fetches and the
block lookup follow the new mapping. Also the atomics' translation through
the data TLB.

The hart is a real RISCVCPU on a real AddressSpace with Sv39 tables built
in RAM; the fence is the instruction's helper, given the encoded
instruction as the translated code gives it.
"""

from __future__ import annotations

from pyqemu.memory.address_space import AddressSpace
from pyqemu.memory.region import RamRegion
from pyqemu.target.riscv import op_helper as oh
from pyqemu.target.riscv.cpu import RISCVCPU
from pyqemu.target.riscv.trap import LOAD, STORE

RAM_BASE = 0x8000_0000
V, R, W, X, A, D = 0x01, 0x02, 0x04, 0x08, 0x40, 0x80
LEAF = V | R | W | X | A | D
SV39 = 8 << 60
# sfence.vma rs1, rs2 (funct7 0001001, rs2, rs1, funct3 0, rd 0, opcode 1110011)


def sfence_insn(rs1: int, rs2: int = 0) -> int:
    return (0b0001001 << 25) | (rs2 << 20) | (rs1 << 15) | 0b1110011


class Machine:
    def __init__(self):
        self.bus = AddressSpace()
        self.ram = RamRegion("ram", 16 << 20)
        self.bus.map(RAM_BASE, self.ram)
        self.cpu = RISCVCPU(0, 64, self.bus)
        # PMP entry 0: all memory, RWX, as OpenSBI leaves it for S-mode.
        self.cpu.pmp.write_addr(0, (1 << 54) - 1)
        self.cpu.pmp.write_cfg(0, 0x1F)
        self.next_table = RAM_BASE + (8 << 20)
        self.root = self.alloc()
        self.cpu.priv = 1
        self.cpu.write_satp(SV39 | (self.root >> 12))
        self.cpu._update_mmu_state()

    def alloc(self) -> int:
        t = self.next_table
        self.next_table += 0x1000
        return t

    def pte_addr(self, va: int, level: int) -> int:
        """Address of the PTE for va at `level` (2 = root), making tables on the way."""
        table = self.root
        for lvl in (2, 1, 0):
            addr = table + ((va >> (12 + 9 * lvl)) & 0x1FF) * 8
            if lvl == level:
                return addr
            pte = self.bus.read(addr, 8)
            if not pte & V:
                nxt = self.alloc()
                self.bus.write(addr, 8, ((nxt >> 12) << 10) | V)
                pte = self.bus.read(addr, 8)
            table = (pte >> 10) << 12
        raise AssertionError(level)

    def map(self, va: int, pa: int, level: int = 0) -> None:
        self.bus.write(self.pte_addr(va, level), 8, ((pa >> 12) << 10) | LEAF)

    def sfence(self, va: int | None) -> None:
        if va is None:
            oh.sfence_vma(self.cpu, sfence_insn(0), 0, 0)
        else:
            oh.sfence_vma(self.cpu, sfence_insn(10), va, 0)


VA = 0x4000_0000
PAGE_A, PAGE_B = RAM_BASE + 0x10_0000, RAM_BASE + 0x20_0000


def test_fence_of_one_page_remaps_it_and_keeps_the_others():
    m = Machine()
    m.bus.write(PAGE_A, 8, 0xAAAA)
    m.bus.write(PAGE_B, 8, 0xBBBB)
    m.bus.write(PAGE_A + 0x1000, 8, 0x1111)
    m.map(VA, PAGE_A)
    m.map(VA + 0x1000, PAGE_A + 0x1000)
    assert m.cpu.load_slow(VA, 8, False) == 0xAAAA
    assert m.cpu.load_slow(VA + 0x1000, 8, False) == 0x1111
    m.map(VA, PAGE_B)
    m.sfence(VA + 0x123)                       # any address within the page
    assert m.cpu.load_slow(VA, 8, False) == 0xBBBB
    # The neighbour's TLB entry survived the fence of another page.
    assert (VA + 0x1000) >> 12 in m.cpu.tlb_r


def test_fence_inside_a_superpage_drops_all_its_pieces():
    m = Machine()
    big_a, big_b = RAM_BASE + 0x40_0000, RAM_BASE + 0x60_0000    # 2 MiB aligned
    m.bus.write(big_a + 0x3000, 8, 0xAAAA)
    m.bus.write(big_b + 0x3000, 8, 0xBBBB)
    m.map(VA, big_a, level=1)
    assert m.cpu.load_slow(VA + 0x3000, 8, False) == 0xAAAA
    m.map(VA, big_b, level=1)
    # The fence names another 4 KiB page of the same superpage.
    m.sfence(VA + 0x5000)
    assert m.cpu.load_slow(VA + 0x3000, 8, False) == 0xBBBB


def test_fence_of_a_code_page_sends_fetch_to_the_new_code():
    m = Machine()
    addi_a0_1 = 0x00150513     # addi a0, a0, 1
    addi_a0_2 = 0x00250513     # addi a0, a0, 2
    jal_self = 0x0000006F      # j .
    for pa, insn in ((PAGE_A, addi_a0_1), (PAGE_B, addi_a0_2)):
        m.bus.write(pa, 4, insn)
        m.bus.write(pa + 4, 4, jal_self)
    m.map(VA, PAGE_A)
    cpu = m.cpu
    cpu.pc = VA
    cpu.lookup_tb().code(cpu)
    assert cpu.r[10] == 1 and cpu.tb_cur.get(VA) is not None
    m.map(VA, PAGE_B)
    m.sfence(VA)
    assert cpu.tb_cur.get(VA) is None
    cpu.pc = VA
    cpu.lookup_tb().code(cpu)
    assert cpu.r[10] == 3


def test_fence_of_a_data_page_keeps_the_blocks_reachable():
    m = Machine()
    m.bus.write(PAGE_A, 4, 0x00150513)
    m.bus.write(PAGE_A + 4, 4, 0x0000006F)
    m.map(VA, PAGE_A)
    m.map(VA + 0x10000, PAGE_B)
    cpu = m.cpu
    cpu.pc = VA
    tb = cpu.lookup_tb()
    assert cpu.load_slow(VA + 0x10000, 8, False) == 0
    m.sfence(VA + 0x10000)
    assert cpu.tb_cur.get(VA) is tb


def test_full_fence_forgets_everything():
    m = Machine()
    m.bus.write(PAGE_B, 8, 0xBBBB)
    m.map(VA, PAGE_A)
    assert m.cpu.load_slow(VA, 8, False) == 0
    m.map(VA, PAGE_B)
    m.sfence(None)
    assert m.cpu.tlb_r == {} and m.cpu.load_slow(VA, 8, False) == 0xBBBB


def test_atomics_translate_through_the_tlb_and_refuse_code_pages():
    m = Machine()
    cpu = m.cpu
    m.map(VA, PAGE_A)
    amoadd_d = oh.AMO_HELPERS["add"]
    assert amoadd_d(cpu, VA + 8, 5, 8) == 0
    cpu.store_slow(VA + 16, 8, 1)                    # enters the page in the write TLB
    assert (VA >> 12) in cpu.tlb_w
    assert cpu.translate_data(VA + 8, 8, STORE) == PAGE_A + 8
    assert amoadd_d(cpu, VA + 8, 5, 8) == 5
    assert m.bus.read(PAGE_A + 8, 8) == 10
    # A remapped page is not reached through a stale entry after its fence.
    m.map(VA, PAGE_B)
    m.sfence(VA)
    assert cpu.translate_data(VA + 8, 8, LOAD) == PAGE_B + 8
