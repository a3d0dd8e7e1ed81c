"""The native CPU state the LLVM backend's code and Python share.

One flat array of 64-bit words per hart, allocated by ctypes and never
moved, so native code addresses it with constant offsets and Python code
keeps indexing the register file as before: `cpu.r` is a ctypes view over
the first `N_REGS` words (x0-x31, f0-f31, then the temporaries the
interpreter tiers use). Native code keeps block temporaries in its own
SSA values and touches only words 0-63 of the register file.

After the registers come the words that carry state across the boundary
(`Word`), the argument area of helper calls, the data TLBs and the table
of translated blocks native code chains through.

- TLB: direct mapped, `TLB_ENTRIES` entries for loads and as many for
  stores; an entry is (guest page number, host address minus the guest
  address of the page), filled from the CPU's own TLB dictionaries after a
  slow access and dropped whenever those are flushed. Like those
  dictionaries there is one set per (privilege, SUM, MXR): a privilege or
  SUM change switches sets (`TLB_SET`) instead of emptying the TLB.
- Block table: direct mapped on the PC, `TB_ENTRIES` entries of (pc,
  translation flags, native function address, generation); an entry is
  valid only in the generation it was installed in, so emptying the table
  (sfence.vma, fence.i, a dropped block: thousands of times in a Linux
  boot) is one increment of `TB_GEN`.
"""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass

N_REGS = 64 + 1024            # the register file as cpu.r sees it
GUEST_REGS = 64               # x0-x31 and f0-f31: all native code touches


class Word(enum.IntEnum):
    """Word offsets of the scalar fields after the register file."""
    PC = N_REGS               # next PC when native code returns; the faulting insn's
                              # PC at an exception; the block's own during a helper
    BUDGET0 = N_REGS + 1      # BUDGET when Python last took the instruction count
    FLAGS = N_REGS + 2        # the CPU's translation flags (block table key)
    BUDGET = N_REGS + 3       # instructions native code may still run before returning
                              # (BUDGET0 - BUDGET: instructions retired since)
    EXIT_REQ = N_REGS + 4     # nonzero: return to Python at the next block exit
    RESV = N_REGS + 5         # nonzero while a LR reservation exists: stores go slow
    HRET = N_REGS + 6         # a helper's or a slow load's result
    TLB_SET = N_REGS + 7      # word offset of the current TLB set (its load half)
    TB_GEN = N_REGS + 24      # block table generation: entries of older ones are empty
    ARGS = N_REGS + 8         # helper arguments (MAX_ARGS words)


MAX_ARGS = 16                 # ARGS .. ARGS + MAX_ARGS - 1
TLB_ENTRIES = 1024
TLB_SETS = 8                  # one per (privilege, SUM, MXR) in use, as the CPU's dictionaries
TLB_SET_WORDS = 4 * TLB_ENTRIES
TLB_WRITE = 2 * TLB_ENTRIES   # the store half, after the load half of a set
TLB_BASE = Word.TB_GEN + 8
TB_ENTRIES = 8192
TB_TABLE = TLB_BASE + TLB_SETS * TLB_SET_WORDS
TB_ENTRY_WORDS = 4            # pc, flags, function, generation
N_WORDS = TB_TABLE + TB_ENTRY_WORDS * TB_ENTRIES



class Status(enum.IntEnum):
    """What a native block returns to its Python caller."""
    STOPPED = 0               # budget spent or an exit requested; PC is the next block's
    EXCEPTION = 1             # a helper or slow path raised; PC is the faulting insn's
    MISS = 2                  # the next block is not in the native table


def tlb_index(page: int) -> int:
    return page & (TLB_ENTRIES - 1)


def tb_index(pc: int) -> int:
    return (pc >> 1) & (TB_ENTRIES - 1)


@dataclass(frozen=True)
class UserMemory:
    """User mode: guest address A is host address `host_base + A` below
    `size`; the page protection table (one byte per page, MAPPED|R|W|X)
    and the code map (nonzero: the page holds translated code, so stores
    take the slow path that invalidates it) are native byte arrays."""
    host_base: int
    size: int
    prot_addr: int
    code_map_addr: int


class NativeState:
    """The native words of one hart and the Python-side bookkeeping of
    its native execution (the pending exception, the TLB fill)."""

    def __init__(self, user: UserMemory | None = None, code_map=None):
        self.words = (ctypes.c_uint64 * N_WORDS)()
        self.addr = ctypes.addressof(self.words)
        self.regs = (ctypes.c_uint64 * N_REGS).from_buffer(self.words)
        self.exc: BaseException | None = None
        self.cpu = None
        self.user = user
        self.code_map = code_map
        # Set while the CPU's caller must see every block (hooks, gdbstub,
        # tracing): one block per entry into native code.
        self.one_block = False
        self._sets: dict = {}
        self._dirty_sets = set(range(TLB_SETS))
        self.flush_tlb()
        self.select_tlb(None)
        # Generation 0 is current: no entry is valid until installed.
        ctypes.memset(self.addr + 8 * TB_TABLE, 0xFF, 8 * TB_ENTRY_WORDS * TB_ENTRIES)

    # -- invalidation (called by the CPU) -----------------------------------------
    def flush_tlb(self) -> None:
        """Empty every TLB set (native code reloads entries after any call
        back into Python, so a flush needs no exit)."""
        for i in self._dirty_sets:
            ctypes.memset(self.addr + 8 * (TLB_BASE + i * TLB_SET_WORDS), 0xFF, 8 * TLB_SET_WORDS)
        self._dirty_sets.clear()

    def flush_tlb_page(self, page: int) -> None:
        """Forget one guest page (sfence.vma with an address) in every set."""
        w = self.words
        slot = 2 * tlb_index(page)
        for s in self._dirty_sets:
            base = TLB_BASE + s * TLB_SET_WORDS + slot
            for i in (base, base + TLB_WRITE):
                if w[i] == page:
                    w[i] = 0xFFFFFFFFFFFFFFFF

    def select_tlb(self, key) -> None:
        """Use the TLB set of a (privilege, SUM, MXR) key from now on."""
        i = self._sets.get(key)
        if i is None:
            if len(self._sets) >= TLB_SETS:
                self.flush_tlb()
                self._sets.clear()
            i = self._sets[key] = len(self._sets)
        self.words[Word.TLB_SET] = TLB_BASE + i * TLB_SET_WORDS

    def code_page_added(self, page: int) -> None:
        """A page now holds code: stores to it must take the slow path."""
        if self.code_map is not None:
            self.code_map[page] = 1
        self.flush_tlb()

    def flush_blocks(self) -> None:
        w = self.words
        w[Word.TB_GEN] = w[Word.TB_GEN] + 1
        # Native code may be running the block that was dropped (fence.i,
        # a store to its page): it stops at its next exit.
        w[Word.EXIT_REQ] = 1

    # -- filling ------------------------------------------------------------------
    def install_block(self, pc: int, flags: int, fn: int) -> None:
        w = self.words
        i = TB_TABLE + TB_ENTRY_WORDS * tb_index(pc)
        w[i] = pc
        w[i + 1] = flags
        w[i + 2] = fn
        w[i + 3] = w[Word.TB_GEN]

    def fill_tlb(self, store: bool, page: int, host_addend: int) -> None:
        w = self.words
        base = w[Word.TLB_SET]
        self._dirty_sets.add((base - TLB_BASE) // TLB_SET_WORDS)
        i = base + (TLB_WRITE if store else 0) + 2 * tlb_index(page)
        w[i] = page
        w[i + 1] = host_addend & 0xFFFFFFFFFFFFFFFF
