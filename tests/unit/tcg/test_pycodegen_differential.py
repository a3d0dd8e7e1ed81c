"""Differential test of the pycodegen backend against the interpreter.

Random IR blocks (every opcode, widths, constant and register operands,
memory through the TLB fast path and the slow path, helpers that read and
write the register file, switch TLBs or raise, forward branches) run on two
identical CPU-like objects, one per backend. The interpreter is the
reference: registers, pc, instret, memory, the log of slow accesses and
helper calls, and the exception (if any) must be the same.
"""

from __future__ import annotations

import copy
import random

import pytest

from pyqemu.accel.tcg.interp import InterpBackend
from pyqemu.accel.tcg.ir import Block, Cond, Const, Op, Opc
from pyqemu.accel.tcg.pycodegen import PyCodegenBackend

M64 = (1 << 64) - 1
PAGE_A = 0x80001            # mapped for loads and stores
PAGE_B = 0x80002            # mapped for loads only
PAGE_FAULT = 0x80003        # the slow path raises
GUEST_REGS = (0, 1, 2, 3, 4, 5, 6, 33)
ADDR_REG = 7                # only memory ops read it: it keeps pointing into page A
TEMPS = (64, 65, 66)
HELPER_READS, HELPER_WRITES = 3, 5


class Trap(Exception):
    def __eq__(self, other):
        return type(other) is Trap and other.args == self.args

    def __hash__(self):
        return hash(self.args)


class FakeCPU:
    """What a block sees of a CPU: registers, TLBs, slow paths, pc, instret."""

    def __init__(self, rng: random.Random, values):
        self.r = [rng.choice(values) for _ in range(72)]
        self.r[ADDR_REG] = (PAGE_A << 12) + rng.randrange(0, 4096, rng.choice((1, 2, 8)))
        self.pc = 0
        self.instret = 1000
        self.mem = bytearray(rng.randbytes(2 * 4096))
        entry_a = (self.mem, -(PAGE_A << 12))
        entry_b = (self.mem, 4096 - (PAGE_B << 12))
        self.tlbs = {"s": ({PAGE_A: entry_a, PAGE_B: entry_b}, {PAGE_A: entry_a}),
                     "u": ({PAGE_B: entry_b}, {})}
        self.tlb_r, self.tlb_w = self.tlbs["s"]
        self.reservation = None if rng.random() < 0.8 else (0x1000, 8)
        self.log = []

    def load_slow(self, va, size, signed):
        self.log.append(("load", va, size, signed))
        if va >> 12 == PAGE_FAULT:
            raise Trap("load fault", va)
        v = (va * 0x9E3779B97F4A7C15 >> 7) & ((1 << (8 * size)) - 1)
        if signed and v >> (8 * size - 1):
            v -= 1 << (8 * size)
        return v & M64

    def store_slow(self, va, size, value):
        self.log.append(("store", va, size, value))
        if va >> 12 == PAGE_FAULT:
            raise Trap("store fault", va)
        self.reservation = None

    def state(self):
        mode = [k for k, v in self.tlbs.items() if v[0] is self.tlb_r]
        return (self.r, self.pc, self.instret, bytes(self.mem), self.log, self.reservation, mode)


# -- helpers the blocks call -------------------------------------------------------
def h_mix(cpu, a, b):
    cpu.log.append(("mix", a, b))
    return (a * 31 + b) & M64


def h_regs(cpu, a):
    """Reads and writes the register file: the backend must have flushed and must reload."""
    cpu.log.append(("regs", a, cpu.r[HELPER_READS]))
    cpu.r[HELPER_WRITES] = (a ^ cpu.r[HELPER_READS]) & M64
    return cpu.r[HELPER_READS] >> 3


def h_trap(cpu, a):
    cpu.log.append(("trap?", a))
    if a % 3 == 0:
        raise Trap("helper", a)
    if 0 <= a <= M64:
        return (a + 1) & M64
    return a + 1                # out of range in, out of range out: a raw value to keep


def h_mode(cpu):
    """Like mret/csrw mstatus: the current TLBs and the reservation change."""
    cpu.tlb_r, cpu.tlb_w = cpu.tlbs["u" if cpu.tlb_r is cpu.tlbs["s"][0] else "s"]
    cpu.reservation = None if cpu.reservation else (0x2000, 4)
    return 7


def h_count(cpu):
    cpu.log.append(("count", cpu.instret, cpu.pc))
    return cpu.instret


HELPERS = ((h_mix, 2), (h_regs, 1), (h_trap, 1), (h_mode, 0), (h_count, 0))

ALU2 = (Opc.ADD, Opc.SUB, Opc.AND, Opc.OR, Opc.XOR, Opc.SHL, Opc.SHR, Opc.SAR, Opc.ROTL,
        Opc.ROTR, Opc.MUL, Opc.MULH, Opc.MULHU, Opc.MULHSU, Opc.DIV, Opc.DIVU, Opc.REM, Opc.REMU)
ALU1 = (Opc.CLZ, Opc.CTZ, Opc.CPOP, Opc.BSWAP)


class BlockGen:
    def __init__(self, rng: random.Random, wild: bool):
        self.rng = rng
        self.wild = wild            # registers and constants outside [0, 2**64)

    def bits(self):
        return self.rng.choice((64, 64, 64, 32, 32, 16, 8))

    def const(self, bits):
        rng = self.rng
        m = (1 << bits) - 1
        v = rng.choice((0, 1, 2, 3, 7, bits - 1, bits, bits + 1, m, m >> 1, (m >> 1) + 1,
                        rng.getrandbits(bits), rng.getrandbits(64), rng.randrange(64), -1,
                        -rng.getrandbits(bits)))
        if not self.wild:
            # The default backend assumes what the front end guarantees:
            # every value a block puts in a register is in [0, 2**64).
            v &= M64
        return Const(v)

    def src(self, bits):
        if self.rng.random() < 0.3:
            return self.const(bits)
        return self.rng.choice(GUEST_REGS + TEMPS)

    def dst(self):
        return self.rng.choice(GUEST_REGS + TEMPS)

    def addr(self):
        rng = self.rng
        choice = rng.random()
        if choice < 0.5:
            return ADDR_REG, rng.choice((0, 0, 8, -8, 4095, -4096, rng.randrange(-64, 64)))
        if choice < 0.75:
            page = rng.choice((PAGE_A, PAGE_B, PAGE_FAULT, 0x123))
            return Const((page << 12) + rng.choice((0, 8, 4095, 4093, rng.randrange(4096)))), 0
        return self.src(64), rng.randrange(-16, 16)

    def op(self) -> Op:
        rng = self.rng
        kind = rng.random()
        bits = self.bits()
        if rng.random() < 0.3:
            # Plain register copies (mv): locals shared between registers.
            return Op(Opc.MOV, self.dst(), rng.choice(GUEST_REGS + TEMPS))
        if kind < 0.35:
            return Op(rng.choice(ALU2), self.dst(), self.src(bits), self.src(bits), bits=bits)
        if kind < 0.42:
            return Op(rng.choice(ALU1), self.dst(), self.src(bits), bits=bits)
        if kind < 0.48:
            return Op(Opc.MOV, self.dst(), self.src(bits), bits=bits)
        if kind < 0.55:
            frm = rng.choice([f for f in (8, 16, 32, 64) if f <= bits] + [rng.choice((8, 16, 32))])
            return Op(Opc.EXT, self.dst(), self.src(bits), bits=bits, aux=(frm, rng.random() < 0.5))
        if kind < 0.62:
            return Op(Opc.SETCOND, self.dst(), self.src(bits), self.src(bits), bits=bits,
                      cond=rng.choice(list(Cond)))
        if kind < 0.67:
            return Op(Opc.MOVCOND, self.dst(), self.src(bits), self.src(bits), self.src(bits),
                      self.src(bits), bits=bits, cond=rng.choice(list(Cond)))
        if kind < 0.80:
            base, off = self.addr()
            return Op(Opc.LD, self.dst(), base, size=rng.choice((1, 2, 4, 8)), offset=off,
                      aux=rng.random() < 0.5, bits=bits)
        if kind < 0.92:
            base, off = self.addr()
            return Op(Opc.ST, None, base, self.src(64), size=rng.choice((1, 2, 4, 8)), offset=off)
        helper, nargs = rng.choice(HELPERS)
        return Op(Opc.CALL, d=self.dst() if rng.random() < 0.7 else None, aux=helper,
                  args=tuple(self.src(64) for _ in range(nargs)))

    def block(self) -> Block:
        rng = self.rng
        pc = 0x80000000 + 4 * rng.randrange(1000)
        blk = Block(pc, 0)
        blk.xlen = rng.choice((64, 64, 32))
        ops = blk.ops
        nlabels = 0
        pending = []                  # labels of forward branches still to place
        for k in range(rng.randrange(1, 9)):
            blk.insn_pcs.append(pc + 4 * k)
            ops.append(Op(Opc.INSN_START, a=Const(pc + 4 * k)))
            for _ in range(rng.randrange(0, 5)):
                if pending and rng.random() < 0.3:
                    ops.append(Op(Opc.LABEL, aux=pending.pop()))
                if rng.random() < 0.08:
                    nlabels += 1
                    bits = self.bits()
                    ops.append(Op(Opc.BRCOND, a=self.src(bits), b=self.src(bits), bits=bits,
                                  cond=rng.choice(list(Cond)), aux=nlabels))
                    pending.append(nlabels)
                ops.append(self.op())
        for label in pending:
            ops.append(Op(Opc.LABEL, aux=label))
        tail = rng.random()
        if tail < 0.5:
            # The front end's shape: a conditional branch between two exits.
            nlabels += 1
            bits = self.bits()
            ops.append(Op(Opc.BRCOND, a=self.src(bits), b=self.src(bits), bits=bits,
                          cond=rng.choice(list(Cond)), aux=nlabels))
            ops.append(Op(Opc.GOTO_TB, a=Const(pc + 0x100)))
            ops.append(Op(Opc.LABEL, aux=nlabels))
            ops.append(Op(rng.choice((Opc.GOTO_TB, Opc.EXIT)), a=self.src(64)))
        elif tail < 0.7:
            ops.append(Op(Opc.GOTO_TB, a=Const(pc + 0x200)))
        elif tail < 0.9:
            ops.append(Op(Opc.EXIT, a=self.src(64)))
        return blk                    # else: runs off the end


def run_on(backend, blk, cpu):
    backend.compile(blk)
    try:
        blk.code(cpu)
        exc = None
    except Trap as e:
        exc = e
    return exc, cpu.state()


def compare(rng, gen, backend, values, full_file):
    blk = gen.block()
    cpu = FakeCPU(rng, values)
    cpu2 = copy.deepcopy(cpu)
    # deepcopy keeps the TLB entries pointing at the copy's memory.
    assert cpu2.tlbs["s"][0][PAGE_A][0] is cpu2.mem
    want = run_on(InterpBackend(), blk, cpu)
    got = run_on(backend, blk, cpu2)
    if not full_file:
        # Block temporaries die with the block: only the guest registers count.
        want[1][0][64:] = got[1][0][64:] = []
    if want != got:
        pytest.fail(f"pycodegen differs from the interpreter\nblock:\n{blk.dump()}\n"
                    f"source:\n{backend.dump_source(blk)}\nwant: {want}\ngot:  {got}")


def _values(rng, wild):
    vals = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            1 << 63, M64, M64 - 1, (1 << 63) - 1] + [rng.getrandbits(64) for _ in range(20)]
    if wild:
        vals += [-1, -0x80000000, 1 << 64, (1 << 70) + 5, -(1 << 65)]
    return vals


@pytest.mark.parametrize("seed", range(6))
def test_random_blocks_match_interpreter(seed):
    """The default configuration: temporaries are block-local, registers hold 64-bit values."""
    rng = random.Random(seed)
    gen = BlockGen(rng, wild=False)
    backend = PyCodegenBackend(hot_threshold=0)
    values = _values(rng, wild=False)
    for _ in range(300):
        compare(rng, gen, backend, values, full_file=False)


@pytest.mark.parametrize("seed", range(3))
def test_random_blocks_any_values_whole_register_file(seed):
    """With no assumption at all (any int in any register, temporaries written
    back) the whole register file matches too."""
    rng = random.Random(1000 + seed)
    gen = BlockGen(rng, wild=True)
    backend = PyCodegenBackend(temp_base=None, register_width=None, hot_threshold=0)
    values = _values(rng, wild=True)
    for _ in range(300):
        compare(rng, gen, backend, values, full_file=True)


def test_warm_up_then_compiled_code_match_interpreter():
    """A block runs on the interpreter's code until it is hot, then on its own."""
    rng = random.Random(77)
    gen = BlockGen(rng, wild=False)
    compiled = []

    class Counting(PyCodegenBackend):
        def compile_now(self, blk):
            compiled.append(blk)
            super().compile_now(blk)

    backend = Counting(hot_threshold=3)
    values = _values(rng, wild=False)
    for _ in range(40):
        blk = gen.block()
        ref = InterpBackend()
        ref_blk = copy.copy(blk)
        ref.compile(ref_blk)
        backend.compile(blk)
        first = blk.code
        for run in range(5):
            cpu = FakeCPU(random.Random(run), values)
            cpu2 = copy.deepcopy(cpu)
            for c, code in ((cpu, ref_blk.code), (cpu2, blk.code)):
                try:
                    code(c)
                    c.log.append("done")
                except Trap as e:
                    c.log.append(e)
            cpu.r[64:] = cpu2.r[64:] = []
            assert cpu.state() == cpu2.state()
        assert blk.code is not first          # compiled on its third run
        assert compiled.count(blk) == 1
        # A caller still holding the warm-up function runs the compiled code.
        try:
            first(FakeCPU(random.Random(9), values))
        except Trap:
            pass
        assert compiled.count(blk) == 1


def test_backward_branch_falls_back_to_interpreter():
    """A loop inside a block is not a shape the code generator emits: the
    interpreter's code runs it, with the same result."""
    blk = Block(0x1000, 0, insn_pcs=[0x1000])
    blk.ops = [Op(Opc.INSN_START, a=Const(0x1000)),
               Op(Opc.LABEL, aux=1),
               Op(Opc.ADD, 1, 1, Const(1)),
               Op(Opc.BRCOND, a=1, b=Const(10), cond=Cond.LTU, aux=1),
               Op(Opc.GOTO_TB, a=Const(0x2000))]
    backend = PyCodegenBackend(hot_threshold=0)
    assert "interpreter" in backend.dump_source(blk)
    cpu = FakeCPU(random.Random(1), [0])
    cpu.r[1] = 3
    backend.compile(blk)
    blk.code(cpu)
    assert (cpu.r[1], cpu.pc, cpu.instret) == (10, 0x2000, 1001)


def test_dump_source_is_the_compiled_function():
    blk = Block(0x1000, 0, insn_pcs=[0x1000, 0x1004])
    blk.ops = [Op(Opc.INSN_START, a=Const(0x1000)),
               Op(Opc.MOV, 5, Const(0x12345000)),
               Op(Opc.INSN_START, a=Const(0x1004)),
               Op(Opc.ADD, 5, 5, Const(0x678)),
               Op(Opc.GOTO_TB, a=Const(0x1008))]
    src = PyCodegenBackend().dump_source(blk)
    assert src.startswith("def run(cpu")
    # lui + addi fold to one constant store.
    assert "r[5] = 0x12345678" in src
    assert "cpu.instret += 2" in src


def test_deeply_nested_branches_fall_back_and_match():
    """Sixty forward branches, each over the next: past the nesting the
    generator takes, the interpreter's code runs, with the same result."""
    blk = Block(0x1000, 0, insn_pcs=[0x1000])
    ops = [Op(Opc.INSN_START, a=Const(0x1000))]
    for i in range(60):
        ops.append(Op(Opc.BRCOND, a=1, b=Const(i), cond=Cond.EQ, aux=i + 1))
        ops.append(Op(Opc.ADD, 2, 2, Const(1 << i)))
    for i in reversed(range(60)):
        ops.append(Op(Opc.LABEL, aux=i + 1))
    ops.append(Op(Opc.EXIT, a=2))
    blk.ops = ops
    backend = PyCodegenBackend(hot_threshold=0)
    assert "interpreter" in backend.dump_source(blk)
    for v in (0, 30, 99):
        cpu, cpu2 = FakeCPU(random.Random(v), [0]), FakeCPU(random.Random(v), [0])
        cpu.r[1] = cpu2.r[1] = v
        assert run_on(InterpBackend(), blk, cpu) == run_on(backend, blk, cpu2)


def _edges(bits):
    m = (1 << bits) - 1
    return (0, 1, 2, (m >> 1), (m >> 1) + 1, m - 1, m, M64, bits - 1, 0x5A5A5A5A5A5A5A5A & m)


@pytest.mark.parametrize("bits", (64, 32, 16, 8))
def test_every_op_on_edge_values(bits):
    """Every two-operand op, unary op, extension, setcond and movcond on every
    pair of edge values (the carries, sign bits and wraps at each width), as
    register-register and register-constant operands."""
    edges = _edges(bits)
    n = len(edges)
    blocks = []
    for shape in ("rr", "rc"):
        for opc in ALU2 + ALU1 + (Opc.MOV, Opc.SETCOND, Opc.MOVCOND, Opc.EXT):
            conds = list(Cond) if opc in (Opc.SETCOND, Opc.MOVCOND) else [None]
            exts = [(f, s) for f in (8, 16, 32) for s in (False, True)] if opc is Opc.EXT else [None]
            for cond in conds:
                for ext in exts:
                    blk = Block(0x1000, 0, insn_pcs=[0x1000])
                    blk.ops = [Op(Opc.INSN_START, a=Const(0x1000))]
                    d = 2 * n
                    for i in range(n):
                        for j in range(n):
                            b = j + n if shape == "rr" else Const(edges[j])
                            blk.ops.append(Op(opc, d, i, b, b, i, bits=bits, cond=cond, aux=ext))
                            d += 1
                    blk.ops.append(Op(Opc.GOTO_TB, a=Const(0x2000)))
                    blocks.append(blk)
    backend = PyCodegenBackend(temp_base=None, hot_threshold=0)
    for blk in blocks:
        cpus = []
        for be in (InterpBackend(), backend):
            cpu = FakeCPU(random.Random(0), [0])
            cpu.r = list(edges) + list(edges) + [0] * (n * n)
            be.compile(blk)
            blk.code(cpu)
            cpus.append(cpu.state())
        assert cpus[0] == cpus[1], f"{blk.ops[1]!r}\n{backend.dump_source(blk)[:3000]}"


@pytest.mark.parametrize("xlen", (64, 32))
def test_addresses_wrap_like_the_interpreter(xlen):
    """Base plus displacement wraps around the address space at its edges."""
    am = (1 << xlen) - 1
    bases = (0, 1, 7, 8, am - 7, am - 1, am, M64, PAGE_A << 12, (PAGE_A << 12) - 1)
    offsets = (-2048, -9, -8, -1, 1, 7, 8, 2047)
    blk = Block(0x1000, 0, insn_pcs=[0x1000])
    blk.xlen = xlen
    blk.ops = [Op(Opc.INSN_START, a=Const(0x1000))]
    d = 20
    for i in range(len(bases)):
        for off in offsets:
            blk.ops.append(Op(Opc.LD, d, i, size=8, offset=off, aux=False))
            blk.ops.append(Op(Opc.ST, None, i, Const(d), size=1, offset=off))
            d += 1
    blk.ops.append(Op(Opc.GOTO_TB, a=Const(0x2000)))
    states = []
    # Destinations run past 64: no temporaries, every register written back.
    for be in (InterpBackend(), PyCodegenBackend(temp_base=None, hot_threshold=0)):
        cpu = FakeCPU(random.Random(5), [0])
        cpu.r = list(bases) + [0] * 200
        run_on(be, blk, cpu)
        states.append(cpu.state())
    assert states[0] == states[1]


def test_chains_of_copies_keep_every_value():
    """mv chains and swaps: a register copied from another keeps the old value
    when the source is written, in the normal exit and when a later load faults."""
    body = [Op(Opc.INSN_START, a=Const(0x1000)),
            Op(Opc.ADD, 6, 1, 2),                 # a computed value in a local
            Op(Opc.MOV, 3, 6),                     # r3 = r6
            Op(Opc.MOV, 6, 4),                     # r6 = r4
            Op(Opc.ADD, 4, 4, Const(1)),           # r4 changes: r6 must keep the old r4
            Op(Opc.MOV, 5, 3),                     # swap r3 and r6 through r5
            Op(Opc.MOV, 3, 6),
            Op(Opc.MOV, 6, 5),
            Op(Opc.SUB, 5, 5, Const(3)),
            Op(Opc.INSN_START, a=Const(0x1004))]
    for page in (PAGE_FAULT, PAGE_A):
        blk = Block(0x1000, 0, insn_pcs=[0x1000, 0x1004])
        blk.ops = body + [Op(Opc.LD, 1, Const(page << 12), size=4),
                          Op(Opc.GOTO_TB, a=Const(0x2000))]
        states = []
        for be in (InterpBackend(), PyCodegenBackend(hot_threshold=0)):
            cpu = FakeCPU(random.Random(3), [10, 20, 30, 40, 50])
            states.append(run_on(be, blk, cpu))
        assert states[0] == states[1]


def test_operand_read_before_a_reload_keeps_its_value():
    """After a helper call the guest registers are reloaded from the register
    file; a temporary still holding a copy of an old value, read as the first
    operand of the op that triggers the reload, must see the old value."""
    blk = Block(0x1000, 0, insn_pcs=[0x1000])
    blk.ops = [Op(Opc.INSN_START, a=Const(0x1000)),
               Op(Opc.MOV, 65, 3),                    # temp = r3 (a copy)
               Op(Opc.MOV, 3, Const(23)),
               Op(Opc.CALL, d=None, aux=h_count),     # guest registers reloaded after it
               Op(Opc.ROTL, 33, 65, 3),               # old r3 rotated by the new r3
               Op(Opc.EXIT, a=33)]
    states = []
    for be in (InterpBackend(), PyCodegenBackend(hot_threshold=0)):
        cpu = FakeCPU(random.Random(3), [0x1234])
        states.append(run_on(be, blk, cpu))
    assert states[0] == states[1]
    assert states[0][1][1] == (0x1234 << 23)
