"""The reference backend: an interpreter of the IR.

`compile` lowers each op of a block once into a small Python closure bound
to its operands (register indices, constants, width masks), so running a
block is a walk over a list of calls. It is the reference every other
backend is tested against: plain, and exact.

A block runs on a CPU object that provides the register file `r`, the
current data TLBs `tlb_r`/`tlb_w` (dicts: guest page number -> (host
buffer, offset to add to the guest address)), `load_slow`/`store_slow`,
`pc` and `instret`.
"""

from __future__ import annotations

import gc
import struct

from .ir import Block, Cond, Const, Opc, fast_members

Opc = fast_members(Opc)      # plain attributes: see ir.fast_members
Cond = fast_members(Cond)

_LD = {(1, False): struct.Struct("<B").unpack_from, (2, False): struct.Struct("<H").unpack_from,
       (4, False): struct.Struct("<I").unpack_from, (8, False): struct.Struct("<Q").unpack_from,
       (1, True): struct.Struct("<b").unpack_from, (2, True): struct.Struct("<h").unpack_from,
       (4, True): struct.Struct("<i").unpack_from, (8, True): struct.Struct("<q").unpack_from}
_ST = {1: struct.Struct("<B").pack_into, 2: struct.Struct("<H").pack_into,
       4: struct.Struct("<I").pack_into, 8: struct.Struct("<Q").pack_into}


def _signed(v, bits):
    return v - (1 << bits) if v >> (bits - 1) else v


def _binop(opc, bits):
    """The pure function of a two-operand op at a width, on masked unsigned ints."""
    m = (1 << bits) - 1
    sh = bits - 1
    if opc is Opc.ADD:
        return lambda a, b: (a + b) & m
    if opc is Opc.SUB:
        return lambda a, b: (a - b) & m
    if opc is Opc.AND:
        return lambda a, b: a & b
    if opc is Opc.OR:
        return lambda a, b: a | b
    if opc is Opc.XOR:
        return lambda a, b: a ^ b
    if opc is Opc.SHL:
        return lambda a, b: (a << (b & sh)) & m
    if opc is Opc.SHR:
        return lambda a, b: (a & m) >> (b & sh)
    if opc is Opc.SAR:
        return lambda a, b: (_signed(a & m, bits) >> (b & sh)) & m
    if opc is Opc.ROTL:
        def rotl(a, b):
            a &= m
            b &= sh
            return ((a << b) | (a >> (bits - b))) & m
        return rotl
    if opc is Opc.ROTR:
        def rotr(a, b):
            a &= m
            b &= sh
            return ((a >> b) | (a << (bits - b))) & m
        return rotr
    if opc is Opc.MUL:
        return lambda a, b: (a * b) & m
    if opc is Opc.MULH:
        return lambda a, b: ((_signed(a & m, bits) * _signed(b & m, bits)) >> bits) & m
    if opc is Opc.MULHU:
        return lambda a, b: ((a & m) * (b & m)) >> bits
    if opc is Opc.MULHSU:
        return lambda a, b: ((_signed(a & m, bits) * (b & m)) >> bits) & m
    if opc is Opc.DIV:
        def div(a, b):
            a, b = _signed(a & m, bits), _signed(b & m, bits)
            if b == 0:
                return m
            if a == -(1 << sh) and b == -1:
                return a & m
            q = abs(a) // abs(b)
            return (-q if (a < 0) != (b < 0) else q) & m
        return div
    if opc is Opc.DIVU:
        return lambda a, b: m if (b & m) == 0 else (a & m) // (b & m)
    if opc is Opc.REM:
        def rem(a, b):
            a, b = _signed(a & m, bits), _signed(b & m, bits)
            if b == 0:
                return a & m
            if a == -(1 << sh) and b == -1:
                return 0
            r = abs(a) % abs(b)
            return (-r if a < 0 else r) & m
        return rem
    if opc is Opc.REMU:
        return lambda a, b: (a & m) if (b & m) == 0 else (a & m) % (b & m)
    raise ValueError(f"not a binary op: {opc}")


def _unop(opc, bits):
    m = (1 << bits) - 1
    if opc is Opc.CLZ:
        return lambda a: bits - (a & m).bit_length()
    if opc is Opc.CTZ:
        return lambda a: bits if (a & m) == 0 else ((a & -a) & m).bit_length() - 1
    if opc is Opc.CPOP:
        return lambda a: (a & m).bit_count()
    if opc is Opc.BSWAP:
        n = bits // 8
        return lambda a: int.from_bytes((a & m).to_bytes(n, "little"), "big")
    raise ValueError(f"not a unary op: {opc}")


def _cond(cond, bits):
    m = (1 << bits) - 1
    if cond is Cond.EQ:
        return lambda a, b: a == b
    if cond is Cond.NE:
        return lambda a, b: a != b
    if cond is Cond.LTU:
        return lambda a, b: a < b
    if cond is Cond.GEU:
        return lambda a, b: a >= b
    sign = 1 << (bits - 1)
    # Signed compare on unsigned ints: flip the sign bit, compare unsigned.
    if cond is Cond.LT:
        return lambda a, b: ((a & m) ^ sign) < ((b & m) ^ sign)
    if cond is Cond.GE:
        return lambda a, b: ((a & m) ^ sign) >= ((b & m) ^ sign)
    raise ValueError(cond)


# Translating a block allocates a hundred or so long-lived objects (ops,
# closures, code), and with CPython's default thresholds (700, 10, 10) the
# cyclic collector scans the emulator's ever larger heap so often that it
# costs more than the translation: 8.5% of a Linux boot's time, and lowering
# a block took 94 us instead of 15 us with a large heap. Blocks rarely die,
# so collecting less often loses little.
_GC_THRESHOLDS = (50_000, 50, 100)


def relax_gc_for_translation() -> None:
    """Raise the collector's thresholds to _GC_THRESHOLDS (never lower them)."""
    current = gc.get_threshold()
    if current[0] < _GC_THRESHOLDS[0]:
        gc.set_threshold(*(max(c, t) for c, t in zip(current, _GC_THRESHOLDS)))


class InterpBackend:
    name = "interp"

    def __init__(self):
        relax_gc_for_translation()

    def compile(self, blk: Block) -> None:
        cpu_ops = []          # closures taking cpu; they return None or a jump index
        labels = {}
        fixups = []
        op_insn = []          # op index -> index of its guest instruction
        insn_idx = -1
        addr_mask = (1 << getattr(blk, "xlen", 64)) - 1
        insn_start, label = Opc.INSN_START, Opc.LABEL
        for op in blk.ops:
            opc = op.opc
            if opc is insn_start:
                insn_idx += 1
                continue
            if opc is label:
                labels[op.aux] = len(cpu_ops)
                continue
            lower = _LOWER.get(id(opc))
            if lower is None:
                raise ValueError(f"interpreter cannot run {op!r}")
            fn = lower(op, addr_mask, fixups, len(cpu_ops))
            cpu_ops.append(fn)
            op_insn.append(max(insn_idx, 0))
        for pos, label, make in fixups:
            cpu_ops[pos] = make(labels[label])
        n_insns = blk.n_insns
        insn_pcs = blk.insn_pcs
        fns = tuple(cpu_ops)
        n = len(fns)

        def run(cpu):
            i = 0
            try:
                while i < n:
                    j = fns[i](cpu)
                    i = i + 1 if j is None else j
            except BaseException:
                # Precise state: the faulting instruction's PC; the ones
                # before it in the block have retired.
                k = op_insn[i] if i < n else n_insns - 1
                cpu.pc = insn_pcs[k]
                cpu.instret += k
                raise
            cpu.instret += n_insns

        blk.code = run

    # ------------------------------------------------------------------------------
    def _lower(self, op, addr_mask, fixups, pos):
        lower = _LOWER.get(id(op.opc))
        if lower is None:
            raise ValueError(f"interpreter cannot run {op!r}")
        return lower(op, addr_mask, fixups, pos)


# One lowering function per kind of op, found by the op's id: a single
# function for every op made each call set up the cells of every closure
# (some thirty) and test the opcodes one by one, which dominated the
# translation of a block.

def _lower_mov(op, addr_mask, fixups, pos):
    d, a = op.d, op.a
    m = (1 << op.bits) - 1
    if isinstance(a, Const):
        v = a.value & m

        def f(cpu):
            cpu.r[d] = v
    else:
        def f(cpu):
            r = cpu.r
            r[d] = r[a] & m
    return f


def _lower_alu2(op, addr_mask, fixups, pos):
    opc = op.opc
    d, a, b = op.d, op.a, op.b
    bits = op.bits
    m = (1 << bits) - 1
    # Specialise the commonest shapes; fall back to the generic function.
    if opc is Opc.ADD and isinstance(b, Const) and not isinstance(a, Const):
        c = b.value

        def f(cpu):
            r = cpu.r
            r[d] = (r[a] + c) & m
        return f
    if opc is Opc.ADD and not isinstance(a, Const) and not isinstance(b, Const):
        def f(cpu):
            r = cpu.r
            r[d] = (r[a] + r[b]) & m
        return f
    g = _binop(opc, bits)
    if isinstance(a, Const) and isinstance(b, Const):
        v = g(a.value & m, b.value & m)

        def f(cpu):
            cpu.r[d] = v
    elif isinstance(b, Const):
        cb = b.value & m

        def f(cpu):
            r = cpu.r
            r[d] = g(r[a] & m, cb)
    elif isinstance(a, Const):
        ca = a.value & m

        def f(cpu):
            r = cpu.r
            r[d] = g(ca, r[b] & m)
    else:
        def f(cpu):
            r = cpu.r
            r[d] = g(r[a] & m, r[b] & m)
    return f


def _lower_alu1(op, addr_mask, fixups, pos):
    d, a = op.d, op.a
    g = _unop(op.opc, op.bits)
    if isinstance(a, Const):
        v = g(a.value)

        def f(cpu):
            cpu.r[d] = v
    else:
        def f(cpu):
            r = cpu.r
            r[d] = g(r[a])
    return f


def _lower_ext(op, addr_mask, fixups, pos):
    d, a = op.d, op.a
    m = (1 << op.bits) - 1
    frm, signed = op.aux
    fm = (1 << frm) - 1
    sign = 1 << (frm - 1)
    if signed:
        def ext(v):
            v &= fm
            return ((v ^ sign) - sign) & m
    else:
        def ext(v):
            return v & fm
    if isinstance(a, Const):
        v = ext(a.value)

        def f(cpu):
            cpu.r[d] = v
    else:
        def f(cpu):
            r = cpu.r
            r[d] = ext(r[a])
    return f


def _lower_setcond(op, addr_mask, fixups, pos):
    d = op.d
    t = _cond(op.cond, op.bits)
    get_a = _getter(op.a)
    get_b = _getter(op.b)

    def f(cpu):
        r = cpu.r
        r[d] = 1 if t(get_a(r), get_b(r)) else 0
    return f


def _lower_movcond(op, addr_mask, fixups, pos):
    d = op.d
    t = _cond(op.cond, op.bits)
    ga, gb, gc, ge = _getter(op.a), _getter(op.b), _getter(op.c), _getter(op.e)

    def f(cpu):
        r = cpu.r
        r[d] = gc(r) if t(ga(r), gb(r)) else ge(r)
    return f


def _lower_ld(op, addr_mask, fixups, pos):
    d = op.d
    size, signed, off = op.size, bool(op.aux), op.offset
    unpack = _LD[(size, signed)]
    lim = 4096 - size
    ga = _getter(op.a)
    res_mask = (1 << op.bits) - 1

    def f(cpu):
        r = cpu.r
        va = (ga(r) + off) & addr_mask
        e = cpu.tlb_r.get(va >> 12)
        if e is None or (va & 0xFFF) > lim:
            r[d] = cpu.load_slow(va, size, signed) & res_mask
        else:
            r[d] = unpack(e[0], va + e[1])[0] & res_mask
    return f


def _lower_st(op, addr_mask, fixups, pos):
    size, off = op.size, op.offset
    pack = _ST[size]
    lim = 4096 - size
    ga, gb = _getter(op.a), _getter(op.b)
    vm = (1 << (8 * size)) - 1

    def f(cpu):
        r = cpu.r
        va = (ga(r) + off) & addr_mask
        e = cpu.tlb_w.get(va >> 12)
        if e is None or (va & 0xFFF) > lim or cpu.reservation is not None:
            cpu.store_slow(va, size, gb(r))
        else:
            pack(e[0], va + e[1], gb(r) & vm)
    return f


def _lower_call(op, addr_mask, fixups, pos):
    d = op.d
    helper = op.aux
    getters = tuple(_getter(x) for x in op.args)
    n = len(getters)
    if n == 0:
        if d is None:
            def f(cpu):
                helper(cpu)
        else:
            def f(cpu):
                cpu.r[d] = helper(cpu)
    elif n == 1:
        g0, = getters
        if d is None:
            def f(cpu):
                helper(cpu, g0(cpu.r))
        else:
            def f(cpu):
                r = cpu.r
                r[d] = helper(cpu, g0(r))
    else:
        if d is None:
            def f(cpu):
                r = cpu.r
                helper(cpu, *[g(r) for g in getters])
        else:
            def f(cpu):
                r = cpu.r
                r[d] = helper(cpu, *[g(r) for g in getters])
    return f


def _lower_brcond(op, addr_mask, fixups, pos):
    t = _cond(op.cond, op.bits)
    ga, gb = _getter(op.a), _getter(op.b)

    def make(target):
        def f(cpu):
            r = cpu.r
            if t(ga(r), gb(r)):
                return target
        return f
    fixups.append((pos, op.aux, make))


def _lower_exit(op, addr_mask, fixups, pos):
    ga = _getter(op.a)
    big = 1 << 30            # an index past the end: leave the block

    def f(cpu):
        cpu.pc = ga(cpu.r)
        return big
    return f


_LOWER = {id(Opc.MOV): _lower_mov, id(Opc.EXT): _lower_ext, id(Opc.SETCOND): _lower_setcond,
          id(Opc.MOVCOND): _lower_movcond, id(Opc.LD): _lower_ld, id(Opc.ST): _lower_st,
          id(Opc.CALL): _lower_call, id(Opc.BRCOND): _lower_brcond,
          id(Opc.GOTO_TB): _lower_exit, id(Opc.EXIT): _lower_exit}
for _opc in (Opc.ADD, Opc.SUB, Opc.AND, Opc.OR, Opc.XOR, Opc.SHL, Opc.SHR, Opc.SAR,
             Opc.ROTL, Opc.ROTR, Opc.MUL, Opc.MULH, Opc.MULHU, Opc.MULHSU,
             Opc.DIV, Opc.DIVU, Opc.REM, Opc.REMU):
    _LOWER[id(_opc)] = _lower_alu2
for _opc in (Opc.CLZ, Opc.CTZ, Opc.CPOP, Opc.BSWAP):
    _LOWER[id(_opc)] = _lower_alu1
del _opc


def _getter(x):
    if isinstance(x, Const):
        v = x.value
        return lambda r: v
    return lambda r, i=x: r[i]
