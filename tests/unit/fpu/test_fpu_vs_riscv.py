"""pyqemu.fpu.softfloat against real RISC-V F/D/Zfh instructions (qemu-riscv64).

Every case compares result bits and fflags exactly: RISC-V fixes NaN results
to the canonical NaN, so even NaN bits must match.  Operands come from
`operands` with a fixed seed; for a soak run set PYQEMU_FPU_SEED and raise
PYQEMU_FPU_CASES (cases per operation and rounding mode, 3000 by default).
"""

from __future__ import annotations

import os
import random

import pytest

from pyqemu.fpu import softfloat as sf

from . import operands
from .peer import Op, PeerFmt

SEED = int(os.environ.get("PYQEMU_FPU_SEED", "20261125"))
CASES_PER_MODE = int(os.environ.get("PYQEMU_FPU_CASES", "3000"))

FORMATS = {PeerFmt.H: sf.F16, PeerFmt.S: sf.F32, PeerFmt.D: sf.F64}
ROUNDING_MODES = (sf.RNE, sf.RTZ, sf.RDN, sf.RUP, sf.RMM)
INT_OPS = {  # op: (bits, signed)
    Op.CVT_W: (32, True), Op.CVT_WU: (32, False), Op.CVT_L: (64, True), Op.CVT_LU: (64, False),
    Op.CVT_FROM_W: (32, True), Op.CVT_FROM_WU: (32, False),
    Op.CVT_FROM_L: (64, True), Op.CVT_FROM_LU: (64, False),
}
CONVERT_FROM = {Op.CVT_FROM_S: PeerFmt.S, Op.CVT_FROM_D: PeerFmt.D, Op.CVT_FROM_H: PeerFmt.H}


def ours(op: Op, pfmt: PeerFmt, rm: int, a: int, b: int, c: int, impl=sf) -> tuple[int, int]:
    fmt = FORMATS[pfmt]
    if op == Op.ADD:
        return impl.add(fmt, a, b, rm)
    if op == Op.SUB:
        return impl.sub(fmt, a, b, rm)
    if op == Op.MUL:
        return impl.mul(fmt, a, b, rm)
    if op == Op.DIV:
        return impl.div(fmt, a, b, rm)
    if op == Op.SQRT:
        return impl.sqrt(fmt, a, rm)
    if op in (Op.MADD, Op.MSUB, Op.NMSUB, Op.NMADD):
        return impl.muladd(fmt, a, b, c, rm, negate_product=op in (Op.NMSUB, Op.NMADD),
                           negate_addend=op in (Op.MSUB, Op.NMADD))
    if op == Op.MIN:
        return sf.min_(fmt, a, b)
    if op == Op.MAX:
        return sf.max_(fmt, a, b)
    if op == Op.EQ:
        return sf.eq(fmt, a, b)
    if op == Op.LT:
        return sf.lt(fmt, a, b)
    if op == Op.LE:
        return sf.le(fmt, a, b)
    if op == Op.CLASS:
        return sf.classify(fmt, a), 0
    if op in (Op.CVT_W, Op.CVT_WU, Op.CVT_L, Op.CVT_LU):
        bits, signed = INT_OPS[op]
        return sf.to_int(fmt, a, rm, bits, signed)
    if op in (Op.CVT_FROM_W, Op.CVT_FROM_WU, Op.CVT_FROM_L, Op.CVT_FROM_LU):
        bits, signed = INT_OPS[op]
        return sf.from_int(fmt, a, bits, signed, rm)
    return sf.convert(FORMATS[CONVERT_FROM[op]], fmt, a, rm)


def result_mask(op: Op, pfmt: PeerFmt) -> int:
    """The peer's register holds sign-extended values; compare the meaningful bits."""
    if op in (Op.EQ, Op.LT, Op.LE, Op.CLASS):
        return (1 << 64) - 1
    if op in (Op.CVT_W, Op.CVT_WU):
        return (1 << 32) - 1
    if op in (Op.CVT_L, Op.CVT_LU):
        return (1 << 64) - 1
    return FORMATS[pfmt].all_mask


def check_against_peer(peer, cases, impl=sf) -> None:
    expected = peer.run(cases)
    mismatches = []
    for case, (want, want_flags) in zip(cases, expected):
        op, pfmt = case[0], case[1]
        want &= result_mask(op, pfmt)
        got = ours(*case, impl=impl)
        if got != (want, want_flags):
            mismatches.append(
                f"{Op(op).name}.{PeerFmt(pfmt).name} rm={case[2]} "
                f"a={case[3]:#x} b={case[4]:#x} c={case[5]:#x}: "
                f"ours ({got[0]:#x}, flags {got[1]:#07b}) riscv ({want:#x}, flags {want_flags:#07b})")
    assert not mismatches, f"{len(mismatches)}/{len(cases)} differ:\n" + "\n".join(mismatches[:15])


def rng_for(*key) -> random.Random:
    return random.Random(f"{SEED}-" + "-".join(str(k) for k in key))


ALL_FORMATS = list(FORMATS)
FMT_IDS = [f.name for f in ALL_FORMATS]


@pytest.mark.parametrize("pfmt", ALL_FORMATS, ids=FMT_IDS)
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.SQRT], ids=lambda o: o.name)
def test_arithmetic(riscv_peer, op, pfmt):
    fmt = FORMATS[pfmt]
    rng = rng_for(op, pfmt)
    cases = [(op, pfmt, rm, *operands.for_arithmetic(rng, fmt, op.name))
             for rm in ROUNDING_MODES for _ in range(CASES_PER_MODE)]
    check_against_peer(riscv_peer, cases)


class ExactPathOnly:
    """softfloat's exact integer paths, without the host-float fast paths."""
    add = staticmethod(sf._add)
    sub = staticmethod(lambda fmt, a, b, rm: sf._add(fmt, a, b ^ fmt.sign_bit, rm))
    mul = staticmethod(sf._mul)
    div = staticmethod(sf._div)
    sqrt = staticmethod(sf._sqrt)
    muladd = staticmethod(lambda fmt, a, b, c, rm, negate_product, negate_addend:
                          sf._muladd(fmt, a, b, c, rm, negate_product, negate_addend))


@pytest.mark.parametrize("pfmt", [PeerFmt.S, PeerFmt.D], ids=["S", "D"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.SQRT, Op.MADD],
                         ids=lambda o: o.name)
def test_exact_path_in_rne(riscv_peer, op, pfmt):
    """binary32/64 RNE normally take the host-float fast paths; check the exact
    integer paths they fall back to on their own, on the same kind of operands."""
    rng = rng_for("exact", op, pfmt)
    fmt = FORMATS[pfmt]
    cases = [(op, pfmt, sf.RNE, *operands.for_arithmetic(rng, fmt, op.name))
             for _ in range(CASES_PER_MODE)]
    check_against_peer(riscv_peer, cases, impl=ExactPathOnly)


@pytest.mark.parametrize("pfmt", ALL_FORMATS, ids=FMT_IDS)
@pytest.mark.parametrize("op", [Op.MADD, Op.MSUB, Op.NMSUB, Op.NMADD], ids=lambda o: o.name)
def test_fused_multiply_add(riscv_peer, op, pfmt):
    fmt = FORMATS[pfmt]
    rng = rng_for(op, pfmt)
    cases = [(op, pfmt, rm, *operands.fma_triple(rng, fmt))
             for rm in ROUNDING_MODES for _ in range(CASES_PER_MODE // 2)]
    check_against_peer(riscv_peer, cases)


@pytest.mark.parametrize("pfmt", ALL_FORMATS, ids=FMT_IDS)
def test_min_max_compare_classify(riscv_peer, pfmt):
    fmt = FORMATS[pfmt]
    rng = rng_for("cmp", pfmt)
    specials = operands.specials(fmt)
    cases = []
    for op in (Op.MIN, Op.MAX, Op.EQ, Op.LT, Op.LE):
        for a in specials:  # every pair of specials, including +-0 and both NaN kinds
            for b in specials:
                cases.append((op, pfmt, sf.RNE, a, b, 0))
        for _ in range(CASES_PER_MODE):
            a = operands.any_operand(rng, fmt)
            b = a if rng.random() < 0.1 else operands.near(rng, fmt, a, 2)
            cases.append((op, pfmt, rng.choice(ROUNDING_MODES), a, b, 0))
    for a in specials:
        cases.append((Op.CLASS, pfmt, sf.RNE, a, 0, 0))
    for _ in range(CASES_PER_MODE):
        cases.append((Op.CLASS, pfmt, sf.RNE, operands.any_operand(rng, fmt), 0, 0))
    check_against_peer(riscv_peer, cases)


@pytest.mark.parametrize("pfmt", ALL_FORMATS, ids=FMT_IDS)
@pytest.mark.parametrize("op", [Op.CVT_W, Op.CVT_WU, Op.CVT_L, Op.CVT_LU], ids=lambda o: o.name)
def test_float_to_integer(riscv_peer, op, pfmt):
    fmt = FORMATS[pfmt]
    rng = rng_for(op, pfmt)
    cases = []
    for rm in ROUNDING_MODES:
        for a in operands.specials(fmt):
            cases.append((op, pfmt, rm, a, 0, 0))
        for _ in range(CASES_PER_MODE // 2):
            if rng.random() < 0.7:
                a = operands.float_near_integer(rng, fmt)
            else:
                a = operands.any_operand(rng, fmt)
            cases.append((op, pfmt, rm, a, 0, 0))
    check_against_peer(riscv_peer, cases)


@pytest.mark.parametrize("pfmt", ALL_FORMATS, ids=FMT_IDS)
@pytest.mark.parametrize("op", [Op.CVT_FROM_W, Op.CVT_FROM_WU, Op.CVT_FROM_L, Op.CVT_FROM_LU],
                         ids=lambda o: o.name)
def test_integer_to_float(riscv_peer, op, pfmt):
    fmt = FORMATS[pfmt]
    bits, _ = INT_OPS[op]
    rng = rng_for(op, pfmt)
    cases = []
    for rm in ROUNDING_MODES:
        for _ in range(CASES_PER_MODE // 2):
            cases.append((op, pfmt, rm, operands.int_operand(rng, bits, fmt.precision), 0, 0))
    check_against_peer(riscv_peer, cases)


@pytest.mark.parametrize("op, pfmt", [(op, dst) for op, src in CONVERT_FROM.items()
                                      for dst in ALL_FORMATS if dst != src],
                         ids=lambda v: v.name)
def test_format_conversion(riscv_peer, op, pfmt):
    src = CONVERT_FROM[op]
    rng = rng_for(op, pfmt)
    src_fmt, dst_fmt = FORMATS[src], FORMATS[pfmt]
    cases = []
    for rm in ROUNDING_MODES:
        for a in operands.specials(src_fmt):
            cases.append((op, pfmt, rm, a, 0, 0))
        for _ in range(CASES_PER_MODE // 2):
            if src_fmt.width > dst_fmt.width and rng.random() < 0.6:
                # Around the destination's overflow and underflow thresholds
                # and its rounding position.
                e = rng.choice((dst_fmt.q_min, dst_fmt.e_min, dst_fmt.bias, 0)) + rng.randrange(-4, 5)
                exp = src_fmt.bias + e
                a = operands.encode(src_fmt, rng.getrandbits(1), exp, operands.sparse_frac(rng, src_fmt)
                                    if rng.random() < 0.5 else rng.getrandbits(src_fmt.frac_bits))
            else:
                a = operands.any_operand(rng, src_fmt)
            cases.append((op, pfmt, rm, a, 0, 0))
    check_against_peer(riscv_peer, cases)
