"""Debug triggers (RISC-V Debug spec, Sdtrig: mcontrol type 2, mcontrol6 type 6).

Besides the spec-derived unit tests, a generated bare-metal guest runs the
same CSR writes, reads, loads, stores and jumps in M-mode on the real
qemu-system-riscv64 7.2 and prints, for each step, the value read and the
exception cause taken; the model must produce the same lines. Two features
the model has beyond QEMU 7.2 (match=2/3 and the hit bit) are checked
separately, with QEMU's differing answer pinned down.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pyqemu.target.riscv.trap import LOAD, STORE, Cause
from pyqemu.target.riscv.triggers import CSRS, Triggers

U_MODE, S_MODE, M_MODE = 0, 1, 3
TSELECT, TDATA1, TDATA2, TDATA3, TINFO, TCONTROL = 0x7A0, 0x7A1, 0x7A2, 0x7A3, 0x7A4, 0x7A5
LD, ST, EX, U, S, M = 0x01, 0x02, 0x04, 0x08, 0x10, 0x40
T2, T6 = 2 << 60, 6 << 60
HIT2, HIT6 = 1 << 20, 1 << 22


def match(kind: int) -> int:
    return kind << 7


def size2(encoding: int) -> int:
    """mcontrol (rv64) size: sizelo at 17:16, sizehi at 22:21."""
    return (encoding & 3) << 16 | (encoding >> 2) << 21


def armed(xlen: int = 64, tdata1: int = T2 | M | LD | ST | EX, tdata2: int = 0x1000,
          index: int = 0) -> Triggers:
    t = Triggers(xlen)
    t.write_csr(TSELECT, index)
    t.write_csr(TDATA2, tdata2)
    t.write_csr(TDATA1, tdata1)
    return t


# -- CSRs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("xlen", [32, 64])
def test_reset_state(xlen):
    t = Triggers(xlen)
    assert t.read_csr(TSELECT) == 0
    assert t.read_csr(TDATA1) == 2 << (xlen - 4)       # mcontrol, nothing enabled
    assert t.read_csr(TDATA2) == 0
    assert t.read_csr(TDATA3) == 0
    assert t.read_csr(TINFO) == 1 << 2 | 1 << 6         # types 2 and 6
    assert not t.any_exec and not t.any_mem
    assert not t.match_exec(0, M_MODE)


def test_tselect_ignores_triggers_that_do_not_exist():
    t = Triggers(64)
    t.write_csr(TSELECT, 1)
    t.write_csr(TSELECT, 2)
    t.write_csr(TSELECT, -1)
    assert t.read_csr(TSELECT) == 1


def test_each_trigger_has_its_own_tdata():
    t = Triggers(64)
    t.write_csr(TDATA2, 0x1111)
    t.write_csr(TDATA1, T2 | M | LD)
    t.write_csr(TSELECT, 1)
    assert (t.read_csr(TDATA1), t.read_csr(TDATA2)) == (T2, 0)
    t.write_csr(TDATA2, 0x2222)
    t.write_csr(TSELECT, 0)
    assert (t.read_csr(TDATA1), t.read_csr(TDATA2)) == (T2 | M | LD, 0x1111)


def test_mcontrol_keeps_modes_accesses_and_supported_sizes_only():
    t = Triggers(64)
    dmode, action1, chain, select, timing, maskmax = 1 << 59, 1 << 12, 1 << 11, 1 << 19, 1 << 18, 0x3F << 53
    t.write_csr(TDATA1, T2 | dmode | action1 | chain | select | timing | maskmax | 1 << 5
                | M | S | U | EX | ST | LD)
    assert t.read_csr(TDATA1) == T2 | M | S | U | EX | ST | LD
    for encoding, kept in ((1, True), (2, True), (3, True), (4, False), (5, True), (6, False),
                           (15, False)):
        t.write_csr(TDATA1, T2 | M | LD | size2(encoding))
        assert t.read_csr(TDATA1) == T2 | M | LD | (size2(encoding) if kept else 0)


def test_rv32_mcontrol_has_no_sizehi():
    t = Triggers(32)
    t.write_csr(TDATA1, 2 << 28 | 1 << 21 | 1 << 16 | M | LD)
    assert t.read_csr(TDATA1) == 2 << 28 | 1 << 16 | M | LD


def test_mcontrol6_keeps_its_own_size_field_and_vs_vu():
    t = Triggers(64)
    uncertain, uncertainen, vs_vu = 1 << 26, 1 << 5, 3 << 23
    t.write_csr(TDATA1, T6 | uncertain | uncertainen | vs_vu | 3 << 16 | M | ST)
    assert t.read_csr(TDATA1) == T6 | vs_vu | 3 << 16 | M | ST
    t.write_csr(TDATA1, T6 | 4 << 16 | M | ST)
    assert t.read_csr(TDATA1) == T6 | M | ST


@pytest.mark.parametrize("kind", [0, 3, 4, 5, 15])
def test_tdata1_writes_of_other_types_are_ignored(kind):
    t = armed()
    before = t.read_csr(TDATA1)
    t.write_csr(TDATA1, kind << 60 | M | LD)
    assert t.read_csr(TDATA1) == before
    assert t.match_mem(0x1000, 8, LOAD, M_MODE)


def test_match_equal_ge_lt_are_kept_and_others_read_equal():
    t = Triggers(64)
    for kind, kept in ((0, 0), (1, 0), (2, 2), (3, 3), (4, 0), (5, 0), (8, 0)):
        t.write_csr(TDATA1, T2 | M | EX | match(kind))
        assert t.read_csr(TDATA1) == T2 | M | EX | match(kept)


def test_tdata2_holds_xlen_bits_and_tdata3_tinfo_ignore_writes():
    t = Triggers(32)
    t.write_csr(TDATA2, (1 << 40) - 1)
    assert t.read_csr(TDATA2) == 0xFFFF_FFFF
    t.write_csr(TDATA3, 5)
    t.write_csr(TINFO, 0)
    assert (t.read_csr(TDATA3), t.read_csr(TINFO)) == (0, 0x44)


def test_csrs_beyond_the_trigger_module_are_refused():
    assert CSRS == {TSELECT, TDATA1, TDATA2, TDATA3, TINFO}
    t = Triggers(64)
    with pytest.raises(ValueError, match="0x7a5"):
        t.read_csr(TCONTROL)
    with pytest.raises(ValueError, match="0x7a5"):
        t.write_csr(TCONTROL, 0)


# -- which triggers are armed ------------------------------------------------------------------

def test_armed_flags_need_an_access_and_a_mode():
    t = Triggers(64)
    t.write_csr(TDATA1, T2 | EX)                     # no mode enabled
    assert not t.any_exec
    t.write_csr(TDATA1, T2 | S | EX)
    assert t.any_exec and not t.any_mem
    t.write_csr(TSELECT, 1)
    t.write_csr(TDATA1, T6 | U | ST)
    assert t.any_exec and t.any_mem
    t.write_csr(TSELECT, 0)
    t.write_csr(TDATA1, T2 | S)                      # no access enabled
    assert not t.any_exec and t.any_mem


# -- execute matching ---------------------------------------------------------------------------

def test_execute_trigger_fires_at_its_address_in_its_modes():
    t = armed(tdata1=T2 | S | U | EX, tdata2=0x8000_1000)
    assert t.match_exec(0x8000_1000, S_MODE)
    assert t.match_exec(0x8000_1000, U_MODE)
    assert not t.match_exec(0x8000_1000, M_MODE)
    assert not t.match_exec(0x8000_1002, S_MODE)
    assert not t.match_exec(0x8000_0FFE, S_MODE)
    assert not t.match_mem(0x8000_1000, 4, LOAD, S_MODE)


def test_execute_trigger_ge_and_lt():
    ge = armed(tdata1=T2 | M | EX | match(2), tdata2=0x8000_1000)
    lt = armed(tdata1=T2 | M | EX | match(3), tdata2=0x8000_1000)
    assert [ge.match_exec(pc, M_MODE) for pc in (0x8000_0FFE, 0x8000_1000, 0x9000_0000)] \
        == [False, True, True]
    assert [lt.match_exec(pc, M_MODE) for pc in (0x8000_0FFE, 0x8000_1000, 0x9000_0000)] \
        == [True, False, False]


# -- load/store matching -------------------------------------------------------------------------

def test_any_size_watches_xlen_bytes_and_fires_on_overlap():
    t = armed(tdata1=T2 | M | LD | ST, tdata2=0x1008)
    assert t.match_mem(0x1008, 8, LOAD, M_MODE)
    assert t.match_mem(0x100F, 1, STORE, M_MODE)
    assert t.match_mem(0x1004, 8, LOAD, M_MODE)          # 0x1004-0x100B overlaps
    assert not t.match_mem(0x1004, 4, LOAD, M_MODE)      # 0x1004-0x1007 does not
    assert not t.match_mem(0x1010, 8, LOAD, M_MODE)
    rv32 = armed(32, tdata1=2 << 28 | M | LD, tdata2=0x1008)
    assert rv32.match_mem(0x100B, 1, LOAD, M_MODE)
    assert not rv32.match_mem(0x100C, 1, LOAD, M_MODE)


def test_size_field_sets_the_watched_length():
    t = armed(tdata1=T2 | M | LD | size2(1), tdata2=0x1008)     # one byte
    assert t.match_mem(0x1008, 1, LOAD, M_MODE)
    assert t.match_mem(0x1008, 8, LOAD, M_MODE)
    assert not t.match_mem(0x1009, 1, LOAD, M_MODE)
    t6 = armed(tdata1=T6 | M | ST | 3 << 16, tdata2=0x1008)     # four bytes
    assert t6.match_mem(0x100B, 1, STORE, M_MODE)
    assert not t6.match_mem(0x100C, 1, STORE, M_MODE)


def test_load_and_store_enables_are_separate():
    loads = armed(tdata1=T2 | M | LD)
    assert loads.match_mem(0x1000, 4, LOAD, M_MODE)
    assert not loads.match_mem(0x1000, 4, STORE, M_MODE)
    stores = armed(tdata1=T2 | M | ST)
    assert stores.match_mem(0x1000, 4, STORE, M_MODE)
    assert not stores.match_mem(0x1000, 4, LOAD, M_MODE)
    assert not stores.match_exec(0x1000, M_MODE)


@pytest.mark.parametrize("mode_bit, priv", [(U, U_MODE), (S, S_MODE), (M, M_MODE)])
def test_mode_bits_select_the_privilege_levels(mode_bit, priv):
    t = armed(tdata1=T2 | mode_bit | LD)
    for other in (U_MODE, S_MODE, M_MODE):
        assert t.match_mem(0x1000, 1, LOAD, other) == (other == priv)


def test_ge_and_lt_compare_every_accessed_byte():
    ge = armed(tdata1=T2 | M | ST | match(2), tdata2=0x2000)
    assert ge.match_mem(0x1FFC, 8, STORE, M_MODE)        # its last bytes are >= 0x2000
    assert not ge.match_mem(0x1FF8, 8, STORE, M_MODE)
    lt = armed(tdata1=T2 | M | ST | match(3), tdata2=0x2000)
    assert lt.match_mem(0x1FFC, 8, STORE, M_MODE)        # its first bytes are < 0x2000
    assert not lt.match_mem(0x2000, 8, STORE, M_MODE)


def test_firing_sets_hit_on_the_trigger_that_fired_only():
    t = armed(tdata1=T2 | M | LD, tdata2=0x1000)
    t.write_csr(TSELECT, 1)
    t.write_csr(TDATA2, 0x2000)
    t.write_csr(TDATA1, T6 | M | LD)
    assert not t.match_mem(0x3000, 8, LOAD, M_MODE)
    assert t.read_csr(TDATA1) == T6 | M | LD
    assert t.match_mem(0x2000, 8, LOAD, M_MODE)
    assert t.read_csr(TDATA1) == T6 | M | LD | HIT6
    t.write_csr(TSELECT, 0)
    assert t.read_csr(TDATA1) == T2 | M | LD
    assert t.match_mem(0x1000, 8, LOAD, M_MODE)
    assert t.read_csr(TDATA1) == T2 | M | LD | HIT2
    t.write_csr(TDATA1, T2 | M | LD)                      # software clears it
    assert t.read_csr(TDATA1) == T2 | M | LD
    assert t.match_mem(0x1000, 8, LOAD, M_MODE)           # still armed
    t.write_csr(TDATA1, T2 | M | LD | HIT2)               # ...or sets it
    assert t.read_csr(TDATA1) == T2 | M | LD | HIT2
    ex = armed(tdata1=T2 | M | EX, tdata2=0x4000)
    assert ex.match_exec(0x4000, M_MODE)
    assert ex.read_csr(TDATA1) == T2 | M | EX | HIT2


def test_moving_tdata2_moves_an_armed_trigger():
    t = armed(tdata1=T2 | M | EX | LD, tdata2=0x1000)
    t.write_csr(TDATA2, 0x2000)
    assert not t.match_exec(0x1000, M_MODE) and not t.match_mem(0x1000, 4, LOAD, M_MODE)
    assert t.match_exec(0x2000, M_MODE) and t.match_mem(0x2000, 4, LOAD, M_MODE)


def test_constructor_rejects_bad_shapes():
    with pytest.raises(ValueError, match="xlen 128"):
        Triggers(128)
    with pytest.raises(ValueError, match="count 0"):
        Triggers(64, count=0)


# -- against the real QEMU -------------------------------------------------------------------------

BUF = 0x8010_0000        # a RAM page the guest watches
TARGET = 0x8010_1000     # "ret; ret": the first is the instruction an execute trigger watches


def r(csr):
    return ("r", csr)


def w(csr, value):
    return ("w", csr, value & ((1 << 64) - 1))


def load(offset, size):
    return ("load", BUF + offset, size)


def store(offset, size):
    return ("store", BUF + offset, size)


def call(address=TARGET):
    return ("exec", address)


PEER_STEPS = [
    r(TSELECT), r(TDATA1), r(TDATA2), r(TDATA3), r(TINFO), r(TCONTROL), w(TCONTROL, 0),
    w(TSELECT, 1), r(TSELECT), w(TSELECT, 2), r(TSELECT), w(TSELECT, 0), r(TSELECT),
    w(TDATA1, -1), r(TDATA1),
    w(TDATA1, T2 | 1 << 59 | 1 << 19 | 1 << 18 | 1 << 12 | 1 << 11 | 1 << 5 | 0x5F), r(TDATA1),
    *[step for enc in (1, 2, 3, 4, 5, 6, 15) for step in (w(TDATA1, T2 | M | LD | size2(enc)),
                                                         r(TDATA1))],
    w(TDATA1, T6 | M | LD), r(TDATA1),
    *[step for enc in (1, 3, 4, 5, 6) for step in (w(TDATA1, T6 | M | LD | enc << 16),
                                                  r(TDATA1))],
    w(TDATA1, T6 | 1 << 59 | 1 << 26 | 3 << 23 | 1 << 21 | 1 << 20 | 1 << 12 | 1 << 11 | 1 << 5),
    r(TDATA1),
    w(TDATA1, T6 | M | LD), w(TDATA1, 0), r(TDATA1), w(TDATA1, 3 << 60 | M | EX), r(TDATA1),
    w(TDATA1, 15 << 60), r(TDATA1),
    w(TDATA2, -1), r(TDATA2), w(TDATA3, -1), r(TDATA3), w(TINFO, 0), r(TINFO),
    w(TSELECT, 1), r(TDATA1), r(TDATA2), w(TDATA2, 0x55), w(TSELECT, 0), r(TDATA2),
    w(TSELECT, 1), r(TDATA2), w(TSELECT, 0),
    # A store trigger of any size at BUF+8: it watches BUF+8..BUF+15.
    w(TDATA1, T2), w(TDATA2, BUF + 8), w(TDATA1, T2 | M | ST),
    store(8, 8), store(12, 1), store(15, 1), store(4, 4), store(0, 8), store(16, 8), load(8, 8),
    # A one-byte load trigger.
    w(TDATA1, T2 | M | LD | size2(1)),
    load(9, 1), load(8, 1), load(8, 8), load(0, 8), load(8, 2), store(8, 1),
    # Modes other than M do not fire in M-mode.
    w(TDATA1, T2 | S | U | LD | ST), load(8, 8), store(8, 8),
    # mcontrol6 with a 4-byte size (QEMU watches 3 bytes there: see below).
    w(TDATA1, T6 | M | LD | 3 << 16), load(10, 1), load(12, 1), load(8, 4), load(12, 4),
    # Writing 0 does not disarm (type 0 writes are ignored); a type-2 write does.
    w(TDATA1, 0), load(8, 1), w(TDATA1, T2), load(8, 1),
    # Execute triggers, and two triggers armed at once.
    w(TDATA2, TARGET), w(TDATA1, T2 | M | EX), call(), w(TDATA1, T2 | U | S | EX), call(),
    w(TDATA2, TARGET + 4), w(TDATA1, T2 | M | EX), call(),
    w(TDATA2, BUF), w(TDATA1, T2 | M | LD), w(TSELECT, 1), w(TDATA2, BUF + 32),
    w(TDATA1, T6 | M | ST), load(0, 8), store(0, 8), load(32, 8), store(36, 4), store(24, 8),
    w(TDATA1, T2), w(TSELECT, 0), w(TDATA1, T2), load(0, 8),
]

GUEST = r"""
typedef unsigned long u64;
#define UART ((volatile unsigned char *)0x10000000)
static volatile u64 *const last_cause = (u64 *)0x80102000;
static void hex(u64 v) { for (int i = 60; i >= 0; i -= 4) *UART = "0123456789abcdef"[(v >> i) & 15]; }
static void report(u64 value) { hex(value); *UART = ' '; hex(*last_cause); *UART = '\n'; *last_cause = 0; }
#define W(csr, v) do { asm volatile("csrw " #csr ", %0" :: "r"((u64)(v))); report(0); } while (0)
#define R(csr) do { u64 v_ = 0; asm volatile("csrr %0, " #csr : "+r"(v_)); report(v_); } while (0)
#define LOAD(insn, a) do { u64 v_; asm volatile(insn " %0, 0(%1)" : "=r"(v_) : "r"(a) : "memory"); report(0); } while (0)
#define STORE(insn, a) do { asm volatile(insn " zero, 0(%0)" :: "r"(a) : "memory"); report(0); } while (0)
#define CALL(a) do { asm volatile("jalr ra, 0(%0)" :: "r"(a) : "ra", "memory"); report(0); } while (0)
void main(void) {
  *last_cause = 0;
  *(volatile unsigned *)0x80101000 = 0x00008067;   /* ret */
  *(volatile unsigned *)0x80101004 = 0x00008067;   /* ret */
  asm volatile("fence.i");
STEPS
}
/* The trap handler records mcause and skips the trapping instruction (all are
   4 bytes: no C extension); for an execute trigger that is the first ret. */
asm(".section .text.start\n.globl _start\n_start:\n li sp, 0x80200000\n"
    " la t0, trap\n csrw mtvec, t0\n call main\n"
    " li t0, 0x100000\n li t1, 0x5555\n sw t1, 0(t0)\n1: j 1b\n"
    ".align 4\ntrap:\n addi sp, sp, -16\n sd t0, 0(sp)\n sd t1, 8(sp)\n"
    " csrr t0, mcause\n li t1, 0x80102000\n sd t0, 0(t1)\n"
    " csrr t0, mepc\n addi t0, t0, 4\n csrw mepc, t0\n"
    " ld t0, 0(sp)\n ld t1, 8(sp)\n addi sp, sp, 16\n mret\n");
"""
LINKER_SCRIPT = "ENTRY(_start) SECTIONS { . = 0x80000000; .text : { *(.text.start) *(.text*) }" \
                " .rodata : { *(.rodata*) } .data : { *(.data*) *(.sdata*) }" \
                " .bss : { *(.bss*) *(.sbss*) } }"
LOAD_INSN = {1: "lb", 2: "lh", 4: "lw", 8: "ld"}
STORE_INSN = {1: "sb", 2: "sh", 4: "sw", 8: "sd"}


def guest_line(step) -> str:
    if step[0] == "r":
        return f"  R({step[1]:#x});"
    if step[0] == "w":
        return f"  W({step[1]:#x}, {step[2]:#x}UL);"
    if step[0] == "load":
        return f'  LOAD("{LOAD_INSN[step[2]]}", {step[1]:#x}UL);'
    if step[0] == "store":
        return f'  STORE("{STORE_INSN[step[2]]}", {step[1]:#x}UL);'
    return f"  CALL({step[1]:#x}UL);"


def run_on_qemu(tmp_path, steps) -> list[tuple[int, int]]:
    """Runs the steps in M-mode on qemu-system-riscv64 -M virt: (value, mcause) per step."""
    if not (shutil.which("qemu-system-riscv64") and shutil.which("riscv64-unknown-elf-gcc")):
        pytest.skip("needs qemu-system-riscv64 and riscv64-unknown-elf-gcc")
    (tmp_path / "guest.c").write_text(GUEST.replace("STEPS", "\n".join(map(guest_line, steps))))
    (tmp_path / "link.ld").write_text(LINKER_SCRIPT)
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv64ima_zicsr_zifencei", "-mabi=lp64",
                    "-mcmodel=medany", "-nostdlib", "-ffreestanding", "-O1",
                    "-T", str(tmp_path / "link.ld"), str(tmp_path / "guest.c"),
                    "-o", str(tmp_path / "guest.elf")], check=True)
    out = subprocess.run(["qemu-system-riscv64", "-M", "virt", "-bios", "none", "-nographic",
                          "-monitor", "none", "-serial", "stdio",
                          "-kernel", str(tmp_path / "guest.elf")],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [(int(a, 16), int(b, 16)) for a, b in (line.split() for line in out.splitlines())]


def run_on_model(steps, qemu_7_2: bool = False) -> list[tuple[int, int]]:
    """The same steps on the model, with the CPU's part done here: an unknown
    CSR is an illegal instruction, a match a breakpoint before the access."""
    t = Triggers(64, qemu_7_2=qemu_7_2)
    out = []
    for step in steps:
        kind = step[0]
        if kind in ("r", "w") and step[1] not in CSRS:
            out.append((0, Cause.ILLEGAL_INSN))
        elif kind == "r":
            out.append((t.read_csr(step[1]), 0))
        elif kind == "w":
            t.write_csr(step[1], step[2])
            out.append((0, 0))
        elif kind == "exec":
            out.append((0, Cause.BREAKPOINT if t.match_exec(step[1], M_MODE) else 0))
        else:
            access = LOAD if kind == "load" else STORE
            out.append((0, Cause.BREAKPOINT if t.match_mem(step[1], step[2], access, M_MODE)
                        else 0))
    return out


def test_behaviour_matches_qemu(tmp_path):
    qemu = run_on_qemu(tmp_path, PEER_STEPS)
    model = run_on_model(PEER_STEPS)
    assert len(qemu) == len(PEER_STEPS)
    for step, q, m in zip(PEER_STEPS, qemu, model):
        assert (step, m) == (step, q)


def test_where_qemu_watches_as_many_bytes_as_the_size_encoding(tmp_path):
    # QEMU 7.2 passes the size field's encoding as the watched length: size
    # 3 (32-bit) watches 3 bytes, size 5 (64-bit) 5 bytes. The model watches
    # the 4 and 8 bytes the encodings stand for.
    steps = [w(TDATA2, BUF + 8), w(TDATA1, T2 | M | LD | size2(3)), load(11, 1),
             w(TDATA1, T6 | M | LD | 5 << 16), load(13, 1), load(15, 1), w(TDATA1, T2)]
    causes = [c for _, c in run_on_qemu(tmp_path, steps)]
    assert [causes[i] for i in (2, 4, 5)] == [0, 0, 0]
    causes = [c for _, c in run_on_model(steps)]
    assert [causes[i] for i in (2, 4, 5)] == [Cause.BREAKPOINT] * 3


def test_qemu_7_2_mode_hardwires_match_and_hit():
    t = Triggers(64, qemu_7_2=True)
    t.write_csr(TDATA2, 0x1000)
    t.write_csr(TDATA1, T2 | M | LD | match(2) | HIT2)
    assert t.read_csr(TDATA1) == T2 | M | LD
    assert t.match_mem(0x1000, 8, LOAD, M_MODE) and not t.match_mem(0x1008, 8, LOAD, M_MODE)
    assert t.read_csr(TDATA1) == T2 | M | LD
    t.write_csr(TDATA1, T6 | M | LD | match(3) | HIT6)
    assert t.read_csr(TDATA1) == T6 | M | LD
    assert t.match_mem(0x1000, 1, LOAD, M_MODE)
    assert t.read_csr(TDATA1) == T6 | M | LD


def test_where_the_model_goes_beyond_qemu(tmp_path):
    # QEMU 7.2 hardwires match to 0 and hit to 0; the model keeps match=2/3
    # and sets hit when a trigger fires.
    steps = [w(TDATA2, BUF + 8), w(TDATA1, T2 | M | LD | match(2)), r(TDATA1), load(16, 8),
             r(TDATA1), w(TDATA1, T2)]
    qemu = run_on_qemu(tmp_path, steps)
    model = run_on_model(steps)
    assert [q[0] for q in qemu[2:5]] == [T2 | M | LD, 0, T2 | M | LD]
    assert qemu[3][1] == 0                                       # BUF+16 != BUF+8..15
    assert [m[0] for m in model[2:5]] == [T2 | M | LD | match(2), 0, T2 | M | LD | match(2) | HIT2]
    assert model[3][1] == Cause.BREAKPOINT                       # BUF+16 >= BUF+8
    assert run_on_model(steps, qemu_7_2=True) == qemu
