"""Every binary16 encoding through the one-operand operations, against real
RISC-V (Zfh under qemu-riscv64): 65536 inputs leave no corner unvisited for
sqrt, float -> integer rounding, widening and fclass.
"""

from __future__ import annotations

import pytest

from pyqemu.fpu import softfloat as sf

from .peer import Op, PeerFmt
from .test_fpu_vs_riscv import check_against_peer

ALL_HALVES = range(1 << 16)


@pytest.mark.parametrize("rm", [sf.RNE, sf.RTZ, sf.RDN, sf.RUP, sf.RMM],
                         ids=["RNE", "RTZ", "RDN", "RUP", "RMM"])
def test_every_binary16_square_root(riscv_peer, rm):
    check_against_peer(riscv_peer, [(Op.SQRT, PeerFmt.H, rm, a, 0, 0) for a in ALL_HALVES])


@pytest.mark.parametrize("op, rm", [(Op.CVT_W, sf.RNE), (Op.CVT_WU, sf.RMM), (Op.CVT_L, sf.RDN),
                                    (Op.CVT_LU, sf.RUP), (Op.CVT_W, sf.RTZ)],
                         ids=["w-RNE", "wu-RMM", "l-RDN", "lu-RUP", "w-RTZ"])
def test_every_binary16_to_integer(riscv_peer, op, rm):
    check_against_peer(riscv_peer, [(op, PeerFmt.H, rm, a, 0, 0) for a in ALL_HALVES])


def test_every_binary16_widened_and_classified(riscv_peer):
    cases = [(Op.CVT_FROM_H, PeerFmt.S, sf.RNE, a, 0, 0) for a in ALL_HALVES]
    cases += [(Op.CVT_FROM_H, PeerFmt.D, sf.RNE, a, 0, 0) for a in ALL_HALVES]
    cases += [(Op.CLASS, PeerFmt.H, sf.RNE, a, 0, 0) for a in ALL_HALVES]
    check_against_peer(riscv_peer, cases)


def test_nan_predicates_agree_with_fclass_on_every_binary16(riscv_peer):
    replies = riscv_peer.run([(Op.CLASS, PeerFmt.H, sf.RNE, a, 0, 0) for a in ALL_HALVES])
    wrong = [f"{a:#06x}: fclass {mask:#x}, is_nan {sf.is_nan(sf.F16, a)}, "
             f"is_signaling_nan {sf.is_signaling_nan(sf.F16, a)}"
             for a, (mask, _) in zip(ALL_HALVES, replies)
             if (sf.is_nan(sf.F16, a), sf.is_signaling_nan(sf.F16, a))
             != (bool(mask & 0x300), bool(mask & 0x100))]
    assert not wrong, "\n".join(wrong[:10])
