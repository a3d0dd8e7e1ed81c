"""Helpers whose exact effect is a few integer operations, emitted inline
by the LLVM lowering instead of a call back into Python.

Only helpers that touch nothing but their arguments qualify (no CPU state,
no flags, no exceptions): the floating-point moves and sign injections,
which move bits and never round. Each entry maps the helper function to
an emitter `(builder, args, xlen) -> i64 value`.
"""

from __future__ import annotations

from ...target.riscv import fpu_helper as fh

_BOX = 0xFFFFFFFF00000000
_CANON32 = 0x7FC00000
_S63 = 1 << 63


def _fmv_x_w(fb, args, xlen):
    low = fb.assign(f"trunc i64 {args[0]} to i32")
    if xlen == 64:
        return fb.assign(f"sext i32 {low} to i64")
    return fb.assign(f"zext i32 {low} to i64")


def _fmv_w_x(fb, args, xlen):
    low = fb.assign(f"and i64 {args[0]}, 4294967295")
    return fb.assign(f"or i64 {low}, {_lit(_BOX)}")


def _unbox(fb, v):
    """A single held in a 64-bit register: its low half when NaN-boxed, else the canonical NaN."""
    hi = fb.assign(f"and i64 {v}, {_lit(_BOX)}")
    boxed = fb.assign(f"icmp eq i64 {hi}, {_lit(_BOX)}")
    low = fb.assign(f"and i64 {v}, 4294967295")
    return fb.assign(f"select i1 {boxed}, i64 {low}, i64 {_CANON32}")


def _sgnj_s(kind):
    def emit(fb, args, xlen):
        a, b = _unbox(fb, args[0]), _unbox(fb, args[1])
        mag = fb.assign(f"and i64 {a}, 2147483647")
        if kind == "x":
            sign = fb.assign(f"and i64 {b}, 2147483648")
            r = fb.assign(f"xor i64 {a}, {sign}")
        else:
            src = b if kind == "" else fb.assign(f"xor i64 {b}, -1")
            sign = fb.assign(f"and i64 {src}, 2147483648")
            r = fb.assign(f"or i64 {mag}, {sign}")
        return fb.assign(f"or i64 {r}, {_lit(_BOX)}")
    return emit


def _sgnj_d(kind):
    def emit(fb, args, xlen):
        a, b = args
        if kind == "x":
            sign = fb.assign(f"and i64 {b}, {_lit(_S63)}")
            return fb.assign(f"xor i64 {a}, {sign}")
        mag = fb.assign(f"and i64 {a}, {_S63 - 1}")
        src = b if kind == "" else fb.assign(f"xor i64 {b}, -1")
        sign = fb.assign(f"and i64 {src}, {_lit(_S63)}")
        return fb.assign(f"or i64 {mag}, {sign}")
    return emit


def _lit(v: int) -> str:
    return str(v - (1 << 64) if v >> 63 else v)


INLINE_HELPERS = {
    fh.fmv_x_d: lambda fb, args, xlen: args[0],
    fh.fmv_d_x: lambda fb, args, xlen: args[0],
    fh.fmv_x_w: _fmv_x_w,
    fh.fmv_w_x: _fmv_w_x,
    fh.fsgnj_s: _sgnj_s(""), fh.fsgnjn_s: _sgnj_s("n"), fh.fsgnjx_s: _sgnj_s("x"),
    fh.fsgnj_d: _sgnj_d(""), fh.fsgnjn_d: _sgnj_d("n"), fh.fsgnjx_d: _sgnj_d("x"),
}
