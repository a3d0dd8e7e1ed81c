"""The RISC-V F/D rules the brief names, one readable case each.

Each case states the expected bits and flags by hand (derived from the spec,
not from either implementation) and checks both pyqemu.fpu.softfloat and the
real instruction under qemu-riscv64 against them.
"""

from __future__ import annotations

import pytest

from pyqemu.fpu import softfloat as sf

from .peer import Op, PeerFmt
from .test_fpu_vs_riscv import ours, result_mask

S, D = PeerFmt.S, PeerFmt.D
RNE, RTZ, RDN, RUP, RMM = sf.RNE, sf.RTZ, sf.RDN, sf.RUP, sf.RMM
NX, UF, OF, DZ, NV = sf.NX, sf.UF, sf.OF, sf.DZ, sf.NV

ONE_S, TWO_S, NEG_ONE_S = 0x3F800000, 0x40000000, 0xBF800000
INF_S, NEG_INF_S, QNAN_S, SNAN_S = 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001
MAX_S, MIN_NORMAL_S, MIN_SUB_S = 0x7F7FFFFF, 0x00800000, 0x00000001
ONE_D, INF_D, QNAN_D, SNAN_D = 0x3FF0000000000000, 0x7FF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001

# (name, op, fmt, rm, a, b, c, expected result, expected flags)
CASES = [
    ("NaN payloads never propagate", Op.ADD, S, RNE, 0x7FC12345, ONE_S, 0, QNAN_S, 0),
    ("negative quiet NaN gives the canonical NaN", Op.MUL, D, RNE, 0xFFF8000000000123, ONE_D, 0, QNAN_D, 0),
    ("signaling NaN operand raises NV", Op.ADD, S, RNE, SNAN_S, ONE_S, 0, QNAN_S, NV),
    ("tininess after rounding: rounds to 2**-126 at full precision, no UF",
     Op.MUL, S, RNE, 0x3F7FFFFE, 0x00800001, 0, MIN_NORMAL_S, NX),
    ("tininess after rounding: exactly 24 bits below 2**-126 is tiny",
     Op.MUL, S, RNE, 0x3F7FFFFF, MIN_NORMAL_S, 0, MIN_NORMAL_S, NX | UF),
    ("exact subnormal result raises no UF", Op.MUL, S, RNE, 0x3F000000, 0x00000002, 0, MIN_SUB_S, 0),
    ("underflow to zero", Op.MUL, S, RNE, 0x3F000000, MIN_SUB_S, 0, 0, NX | UF),
    ("underflow rounds up to the smallest subnormal in RUP", Op.MUL, S, RUP, 0x3F000000, MIN_SUB_S, 0,
     MIN_SUB_S, NX | UF),
    ("overflow to infinity in RNE", Op.MUL, S, RNE, MAX_S, TWO_S, 0, INF_S, OF | NX),
    ("overflow to the largest finite in RTZ", Op.MUL, S, RTZ, MAX_S, TWO_S, 0, MAX_S, OF | NX),
    ("overflow of a negative to -infinity in RDN", Op.MUL, S, RDN, MAX_S, 0xC0000000, 0, NEG_INF_S, OF | NX),
    ("overflow of a negative to -max in RUP", Op.MUL, S, RUP, MAX_S, 0xC0000000, 0, 0xFF7FFFFF, OF | NX),
    ("overflow of a positive to +max in RDN", Op.ADD, S, RDN, MAX_S, MAX_S, 0, MAX_S, OF | NX),
    ("finite / 0 is a correctly signed infinity with DZ", Op.DIV, S, RNE, NEG_ONE_S, 0, 0, NEG_INF_S, DZ),
    ("0 / 0 is invalid", Op.DIV, D, RNE, 0, 0, 0, QNAN_D, NV),
    ("inf / inf is invalid", Op.DIV, S, RNE, INF_S, NEG_INF_S, 0, QNAN_S, NV),
    ("inf * 0 is invalid", Op.MUL, S, RNE, INF_S, 0x80000000, 0, QNAN_S, NV),
    ("inf - inf is invalid", Op.SUB, S, RNE, INF_S, INF_S, 0, QNAN_S, NV),
    ("sqrt of a negative is invalid", Op.SQRT, D, RNE, 0xBFF0000000000000, 0, 0, QNAN_D, NV),
    ("sqrt(-0) is -0", Op.SQRT, S, RNE, 0x80000000, 0, 0, 0x80000000, 0),
    ("fma inf * 0 + quiet NaN still raises NV", Op.MADD, S, RNE, INF_S, 0, QNAN_S, QNAN_S, NV),
    ("fma inf * x - inf is invalid", Op.MSUB, S, RNE, INF_S, ONE_S, INF_S, QNAN_S, NV),
    ("fma rounds once: 1 * (1 + 2**-23) - 1 is exact", Op.MSUB, S, RNE, ONE_S, 0x3F800001, ONE_S,
     0x34000000, 0),
    ("x + (-x) is +0 in RNE", Op.ADD, S, RNE, ONE_S, NEG_ONE_S, 0, 0, 0),
    ("x + (-x) is -0 in RDN", Op.ADD, S, RDN, ONE_S, NEG_ONE_S, 0, 0x80000000, 0),
    ("-0 + -0 is -0", Op.ADD, S, RNE, 0x80000000, 0x80000000, 0, 0x80000000, 0),
    ("+0 + -0 is +0 in RUP", Op.ADD, S, RUP, 0, 0x80000000, 0, 0, 0),
    ("+0 - +0 is -0 in RDN", Op.SUB, S, RDN, 0, 0, 0, 0x80000000, 0),
    ("fnmadd of zeros: -(+0 * +1) - (+0) is -0", Op.NMADD, S, RNE, 0, ONE_S, 0, 0x80000000, 0),
    ("RMM breaks a tie away from zero", Op.ADD, S, RMM, ONE_S, 0x33800000, 0, 0x3F800001, NX),
    ("RNE breaks the same tie to even", Op.ADD, S, RNE, ONE_S, 0x33800000, 0, ONE_S, NX),
    ("RMM on a negative tie", Op.ADD, S, RMM, NEG_ONE_S, 0xB3800000, 0, 0xBF800001, NX),
    ("subnormal operands are not flushed", Op.ADD, S, RNE, MIN_SUB_S, MIN_SUB_S, 0, 0x00000002, 0),
    ("fmin(-0, +0) is -0", Op.MIN, S, RNE, 0, 0x80000000, 0, 0x80000000, 0),
    ("fmax(-0, +0) is +0", Op.MAX, S, RNE, 0x80000000, 0, 0, 0, 0),
    ("fmin with one quiet NaN returns the number", Op.MIN, S, RNE, QNAN_S, ONE_S, 0, ONE_S, 0),
    ("fmax with one signaling NaN returns the number and raises NV", Op.MAX, D, RNE, SNAN_D, ONE_D, 0,
     ONE_D, NV),
    ("fmin of two NaNs is the canonical NaN", Op.MIN, S, RNE, 0xFFC00001, 0x7FC00002, 0, QNAN_S, 0),
    ("feq is quiet on quiet NaNs", Op.EQ, S, RNE, QNAN_S, QNAN_S, 0, 0, 0),
    ("feq raises NV on signaling NaNs", Op.EQ, S, RNE, SNAN_S, ONE_S, 0, 0, NV),
    ("flt raises NV on quiet NaNs", Op.LT, S, RNE, QNAN_S, ONE_S, 0, 0, NV),
    ("fle(-0, +0) holds", Op.LE, S, RNE, 0x80000000, 0, 0, 1, 0),
    ("flt(-0, +0) does not hold", Op.LT, S, RNE, 0x80000000, 0, 0, 0, 0),
    ("fclass of a signaling NaN", Op.CLASS, S, RNE, SNAN_S, 0, 0, 1 << 8, 0),
    ("fclass of a positive subnormal", Op.CLASS, D, RNE, 1, 0, 0, 1 << 5, 0),
    ("fcvt.w of NaN is the largest int", Op.CVT_W, S, RNE, QNAN_S, 0, 0, 0x7FFFFFFF, NV),
    ("fcvt.w of -inf is the smallest int", Op.CVT_W, S, RNE, NEG_INF_S, 0, 0, 0x80000000, NV),
    ("fcvt.w of 2**31 saturates", Op.CVT_W, S, RTZ, 0x4F000000, 0, 0, 0x7FFFFFFF, NV),
    ("fcvt.w of -2**31 is exact", Op.CVT_W, S, RTZ, 0xCF000000, 0, 0, 0x80000000, 0),
    ("fcvt.wu of -1 is invalid and gives 0", Op.CVT_WU, S, RTZ, NEG_ONE_S, 0, 0, 0, NV),
    ("fcvt.wu of -0.5 truncates to 0, only inexact", Op.CVT_WU, S, RTZ, 0xBF000000, 0, 0, 0, NX),
    ("fcvt.wu of -0.5 rounds to -1 in RDN: invalid", Op.CVT_WU, S, RDN, 0xBF000000, 0, 0, 0, NV),
    ("fcvt.lu of NaN is all ones", Op.CVT_LU, D, RNE, QNAN_D, 0, 0, (1 << 64) - 1, NV),
    ("fcvt.l of 2.5 in RNE is 2", Op.CVT_L, D, RNE, 0x4004000000000000, 0, 0, 2, NX),
    ("fcvt.l of 2.5 in RMM is 3", Op.CVT_L, D, RMM, 0x4004000000000000, 0, 0, 3, NX),
    ("fcvt.s.w of 2**24 + 1 rounds", Op.CVT_FROM_W, S, RNE, (1 << 24) + 1, 0, 0, 0x4B800000, NX),
    ("fcvt.s.wu of 2**32 - 1 in RTZ", Op.CVT_FROM_WU, S, RTZ, 0xFFFFFFFF, 0, 0, 0x4F7FFFFF, NX),
    ("fcvt.d.l of -1", Op.CVT_FROM_L, D, RNE, (1 << 64) - 1, 0, 0, 0xBFF0000000000000, 0),
    ("fcvt.s.d of a signaling NaN", Op.CVT_FROM_D, S, RNE, SNAN_D, 0, 0, QNAN_S, NV),
    ("fcvt.d.s of a NaN with payload", Op.CVT_FROM_S, D, RNE, 0xFFC00123, 0, 0, QNAN_D, 0),
    ("fcvt.s.d overflow", Op.CVT_FROM_D, S, RNE, 0x7FE0000000000000, 0, 0, INF_S, OF | NX),
    ("fcvt.s.d to a subnormal", Op.CVT_FROM_D, S, RNE, 0x36A8000000000000, 0, 0, 0x00000002, NX | UF),
]


@pytest.mark.parametrize("name, op, pfmt, rm, a, b, c, want, want_flags", CASES,
                         ids=[case[0] for case in CASES])
def test_softfloat_follows_the_spec(name, op, pfmt, rm, a, b, c, want, want_flags):
    assert ours(op, pfmt, rm, a, b, c) == (want, want_flags)


def test_real_riscv_agrees_with_the_stated_facts(riscv_peer):
    """The hand-derived expectations above are what real RISC-V does."""
    replies = riscv_peer.run([case[1:7] for case in CASES])
    wrong = [f"{case[0]}: riscv ({bits & result_mask(case[1], case[2]):#x}, {flags:#07b})"
             for case, (bits, flags) in zip(CASES, replies)
             if (bits & result_mask(case[1], case[2]), flags) != (case[7], case[8])]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("rm", [5, 7, -1])
def test_unresolved_rounding_mode_is_a_clear_error(rm):
    with pytest.raises(ValueError, match=rf"rounding mode {rm} is not one of RNE"):
        sf.add(sf.F32, ONE_S, 0x33800000, rm)  # inexact: rounding needs rm
    with pytest.raises(ValueError, match=rf"rounding mode {rm} is not one of RNE"):
        sf.mul(sf.F64, 0x7FEFFFFFFFFFFFFF, 0x4000000000000000, rm)  # overflow
    with pytest.raises(ValueError, match=rf"rounding mode {rm} is not one of RNE"):
        sf.to_int(sf.F64, 0x4004000000000000, rm, 32, True)  # 2.5
