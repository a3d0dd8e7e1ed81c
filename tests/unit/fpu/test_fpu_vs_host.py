"""pyqemu.fpu.softfloat against a second, independent IEEE implementation: the
host's x86-64 SSE/FMA unit (C99 <fenv.h>, see host_fpu_peer.c).

Where x86 and RISC-V legitimately differ, the comparison says so: x86 has no
RMM mode, its NaN results carry payloads (so only NaN-ness is compared, and
ours must be the canonical NaN), and IEEE 754 leaves it to the
implementation whether fma(0, inf, quiet NaN) signals invalid (RISC-V does).
"""

from __future__ import annotations

import pytest

from pyqemu.fpu import softfloat as sf

from . import operands
from .peer import Op, PeerFmt
from .test_fpu_vs_riscv import CASES_PER_MODE, FORMATS, ours, rng_for

HOST_MODES = (sf.RNE, sf.RTZ, sf.RDN, sf.RUP)
FMA_OPS = (Op.MADD, Op.MSUB, Op.NMSUB, Op.NMADD)


def _fma_zero_times_inf_with_quiet_nan(fmt, a, b, c) -> bool:
    mags = sorted((a & fmt.mag_mask, b & fmt.mag_mask))
    return mags == [0, fmt.inf] and sf.is_nan(fmt, c) and not sf.is_signaling_nan(fmt, c)


def check_against_host(peer, cases) -> None:
    replies = peer.run(cases)
    mismatches = []
    for case, (want, want_flags) in zip(cases, replies):
        op, pfmt, rm, a, b, c = case
        fmt = FORMATS[pfmt]
        got, got_flags = ours(*case)
        if sf.is_nan(fmt, want):
            ok = got == fmt.canonical_nan
            if op in FMA_OPS and _fma_zero_times_inf_with_quiet_nan(fmt, a, b, c):
                ok = ok and got_flags == sf.NV and want_flags in (0, sf.NV)
            else:
                ok = ok and got_flags == want_flags
        else:
            ok = (got, got_flags) == (want, want_flags)
        if not ok:
            mismatches.append(f"{Op(op).name}.{PeerFmt(pfmt).name} rm={rm} a={a:#x} b={b:#x} c={c:#x}: "
                              f"ours ({got:#x}, flags {got_flags:#07b}) "
                              f"host ({want:#x}, flags {want_flags:#07b})")
    assert not mismatches, f"{len(mismatches)}/{len(cases)} differ:\n" + "\n".join(mismatches[:15])


@pytest.mark.parametrize("pfmt", [PeerFmt.S, PeerFmt.D], ids=["S", "D"])
@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.SQRT, *FMA_OPS], ids=lambda o: o.name)
def test_arithmetic_matches_host_fpu(host_peer, op, pfmt):
    fmt = FORMATS[pfmt]
    rng = rng_for("host", op, pfmt)
    count = CASES_PER_MODE // 2 if op in FMA_OPS else CASES_PER_MODE
    cases = [(op, pfmt, rm, *operands.for_arithmetic(rng, fmt, op.name))
             for rm in HOST_MODES for _ in range(count)]
    check_against_host(host_peer, cases)


@pytest.mark.parametrize("op, pfmt", [(Op.CVT_FROM_S, PeerFmt.D), (Op.CVT_FROM_D, PeerFmt.S)],
                         ids=["fcvt.d.s", "fcvt.s.d"])
def test_format_conversion_matches_host_fpu(host_peer, op, pfmt):
    src = sf.F32 if op == Op.CVT_FROM_S else sf.F64
    rng = rng_for("host", op)
    cases = []
    for rm in HOST_MODES:
        cases += [(op, pfmt, rm, a, 0, 0) for a in operands.specials(src)]
        cases += [(op, pfmt, rm, operands.any_operand(rng, src), 0, 0) for _ in range(CASES_PER_MODE)]
    check_against_host(host_peer, cases)
