"""Differential test of the LLVM backend's native code against the interpreter.

The random blocks of the pycodegen differential test (every opcode at every
width, loads and stores through the TLB and the slow path, faults, helpers
that read and write the register file, switch TLBs, raise or read pc and
instret, forward branches) run natively, compiled at once, on a CPU whose
registers live in the native state; the interpreter is the reference for
registers, pc, instret, memory, the log of slow accesses and helper calls,
and the exception.
"""

from __future__ import annotations

import copy
import random

import pytest

pytest.importorskip("llvmlite")

from pyqemu.accel.tcg.interp import InterpBackend  # noqa: E402
from pyqemu.accel.tcg.llvm_engine import LLVMBackend  # noqa: E402

from test_pycodegen_differential import BlockGen, FakeCPU, Trap, _values  # noqa: E402


class NativeFakeCPU(FakeCPU):
    """The fake CPU with what the native entry reads, and a TLB switch that
    tells the native TLB (as RISCVCPU._update_mmu_state does)."""

    flags = 0
    mip = mie = 0
    waiting = False
    slice_end = 1 << 63          # one hart: its slice never ends native code

    @property
    def tlb_r(self):
        return self._tlb_r

    @tlb_r.setter
    def tlb_r(self, value):
        self._tlb_r = value
        if getattr(self, "native", None) is not None:
            self.native.select_tlb(id(value))

    def state(self):
        r, *rest = super().state()
        return (list(r[:64]), *rest)


def _run(blk, cpu, backend):
    backend.compile(blk)
    try:
        blk.code(cpu)
        return None, cpu.state()
    except Trap as e:
        return e, cpu.state()


@pytest.mark.parametrize("seed", range(4))
def test_random_blocks_match_interpreter(seed):
    rng = random.Random(500 + seed)
    gen = BlockGen(rng, wild=False)
    values = _values(rng, wild=False)
    backend = LLVMBackend(hot_runs=0)
    for _ in range(60):
        blk = gen.block()
        cpu = NativeFakeCPU(rng, values)
        # Between blocks the PC is the block's own (what helpers see).
        cpu.pc = blk.pc
        native_cpu = copy.deepcopy(cpu)
        native_cpu.native = backend.attach(native_cpu)
        want = _run(copy.deepcopy(blk), cpu, InterpBackend())
        got = _run(blk, native_cpu, backend)
        if want != got:
            pytest.fail(f"native code differs from the interpreter\nblock:\n{blk.dump()}\n"
                        f"LLVM IR:\n{backend.dump_native(blk)}\nwant: {want}\ngot:  {got}")


def test_inline_fp_moves_match_the_helpers():
    """The helpers emitted inline (FP moves, sign injections) give the
    Python helpers' results on boxed, unboxed, NaN and signed values."""
    from pyqemu.accel.tcg.ir import Block, Const, Op, Opc
    from pyqemu.accel.tcg.llvm_inline import INLINE_HELPERS

    rng = random.Random(9)
    values = [0, 1 << 63, (1 << 64) - 1, 0xFFFFFFFF00000000 | 0x7FC00000, 0xFFFFFFFF80000001,
              0x7FFFFFFF80000000, 0x3FF0000000000000, 0xFFF8000000000000] + \
             [rng.getrandbits(64) for _ in range(8)] + \
             [0xFFFFFFFF00000000 | rng.getrandbits(32) for _ in range(8)]
    backend = LLVMBackend(hot_runs=0)
    for helper in INLINE_HELPERS:
        for _ in range(4):
            blk = Block(0x1000, 0)
            blk.xlen = 64
            blk.insn_pcs.append(0x1000)
            blk.ops += [Op(Opc.INSN_START, a=Const(0x1000)),
                        Op(Opc.CALL, d=3, aux=helper, args=(1, 2)),
                        Op(Opc.CALL, d=4, aux=helper, args=(2, 1)),
                        Op(Opc.GOTO_TB, a=Const(0x1004))]
            cpu = NativeFakeCPU(rng, values)
            cpu.xlen = 64
            cpu.pc = blk.pc
            args = (cpu.r[1], cpu.r[2])
            nargs = helper.__code__.co_argcount - 1
            want = (helper(cpu, *args[:nargs]), helper(cpu, *args[::-1][:nargs]))
            ncpu = copy.deepcopy(cpu)
            ncpu.native = backend.attach(ncpu)
            blk.ops[1].args = blk.ops[1].args[:nargs]
            blk.ops[2].args = blk.ops[2].args[:nargs]
            _run(blk, ncpu, backend)
            assert (ncpu.r[3], ncpu.r[4]) == want, (helper.__name__, [hex(a) for a in args])
