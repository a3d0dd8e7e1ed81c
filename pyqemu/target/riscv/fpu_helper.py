"""Floating-point instruction semantics (F and D) on top of the exact
software IEEE 754 implementation in pyqemu.fpu.softfloat.

Single-precision values live NaN-boxed in 64-bit registers: an operand
whose upper 32 bits are not all ones reads as the canonical NaN, and every
single result is written boxed. Accrued exception flags go to fflags.
"""

from __future__ import annotations

from ...fpu import softfloat as sf
from .trap import Cause, GuestTrap

F32, F64 = sf.F32, sf.F64
BOX = 0xFFFFFFFF00000000
M32 = 0xFFFFFFFF
CANON32 = 0x7FC00000


def _unbox(v):
    return v & M32 if (v & BOX) == BOX else CANON32


def _rm(cpu, rm, insn):
    if rm == 7:
        rm = cpu.frm
        if rm > 4:
            raise GuestTrap(Cause.ILLEGAL_INSN, insn)
    return rm


def _acc(cpu, flags):
    if flags:
        cpu.fflags |= flags


def _mk_binop(fn, fmt):
    if fmt is F32:
        def op(cpu, a, b, rm, insn):
            r, fl = fn(F32, _unbox(a), _unbox(b), _rm(cpu, rm, insn))
            if fl:
                cpu.fflags |= fl
            return r | BOX
    else:
        def op(cpu, a, b, rm, insn):
            r, fl = fn(F64, a, b, _rm(cpu, rm, insn))
            if fl:
                cpu.fflags |= fl
            return r
    return op


fadd_s = _mk_binop(sf.add, F32)
fsub_s = _mk_binop(sf.sub, F32)
fmul_s = _mk_binop(sf.mul, F32)
fdiv_s = _mk_binop(sf.div, F32)
fadd_d = _mk_binop(sf.add, F64)
fsub_d = _mk_binop(sf.sub, F64)
fmul_d = _mk_binop(sf.mul, F64)
fdiv_d = _mk_binop(sf.div, F64)


def fsqrt_s(cpu, a, rm, insn):
    r, fl = sf.sqrt(F32, _unbox(a), _rm(cpu, rm, insn))
    _acc(cpu, fl)
    return r | BOX


def fsqrt_d(cpu, a, rm, insn):
    r, fl = sf.sqrt(F64, a, _rm(cpu, rm, insn))
    _acc(cpu, fl)
    return r


def _mk_fma(neg_prod, neg_add, fmt):
    def op(cpu, a, b, c, rm, insn):
        rm = _rm(cpu, rm, insn)
        if fmt is F32:
            r, fl = sf.muladd(F32, _unbox(a), _unbox(b), _unbox(c), rm, neg_prod, neg_add)
            r |= BOX
        else:
            r, fl = sf.muladd(F64, a, b, c, rm, neg_prod, neg_add)
        _acc(cpu, fl)
        return r
    return op


fmadd_s, fmsub_s = _mk_fma(False, False, F32), _mk_fma(False, True, F32)
fnmsub_s, fnmadd_s = _mk_fma(True, False, F32), _mk_fma(True, True, F32)
fmadd_d, fmsub_d = _mk_fma(False, False, F64), _mk_fma(False, True, F64)
fnmsub_d, fnmadd_d = _mk_fma(True, False, F64), _mk_fma(True, True, F64)


# Sign injection: no flags, no NaN canonicalisation (bit operations).
def fsgnj_s(cpu, a, b): return (_unbox(a) & 0x7FFFFFFF) | (_unbox(b) & 0x80000000) | BOX
def fsgnjn_s(cpu, a, b): return (_unbox(a) & 0x7FFFFFFF) | (~_unbox(b) & 0x80000000) | BOX
def fsgnjx_s(cpu, a, b): return _unbox(a) ^ (_unbox(b) & 0x80000000) | BOX


S63 = 1 << 63


def fsgnj_d(cpu, a, b): return (a & (S63 - 1)) | (b & S63)
def fsgnjn_d(cpu, a, b): return (a & (S63 - 1)) | (~b & S63)
def fsgnjx_d(cpu, a, b): return a ^ (b & S63)


def _mk_cmp(fn, fmt, box):
    def op(cpu, a, b):
        if box:
            a, b = _unbox(a), _unbox(b)
        r, fl = fn(fmt, a, b)
        _acc(cpu, fl)
        return (r | BOX) if (box and fn in (sf.min_, sf.max_)) else r
    return op


fmin_s, fmax_s = _mk_cmp(sf.min_, F32, True), _mk_cmp(sf.max_, F32, True)
fmin_d, fmax_d = _mk_cmp(sf.min_, F64, False), _mk_cmp(sf.max_, F64, False)
feq_s, flt_s, fle_s = (_mk_cmp(f, F32, True) for f in (sf.eq, sf.lt, sf.le))
feq_d, flt_d, fle_d = (_mk_cmp(f, F64, False) for f in (sf.eq, sf.lt, sf.le))


def fclass_s(cpu, a): return sf.classify(F32, _unbox(a))
def fclass_d(cpu, a): return sf.classify(F64, a)


def _mk_to_int(fmt, bits, signed):
    def op(cpu, a, rm, insn):
        v = _unbox(a) if fmt is F32 else a
        r, fl = sf.to_int(fmt, v, _rm(cpu, rm, insn), bits, signed)
        _acc(cpu, fl)
        if bits == 32 and cpu.xlen == 64 and r & 0x80000000:
            r |= 0xFFFFFFFF00000000        # 32-bit results are sign-extended on RV64
        return r & cpu.xmask
    return op


def _mk_from_int(fmt, bits, signed):
    def op(cpu, x, rm, insn):
        r, fl = sf.from_int(fmt, x & ((1 << bits) - 1), bits, signed, _rm(cpu, rm, insn))
        _acc(cpu, fl)
        return r | BOX if fmt is F32 else r
    return op


for _p, _fmt in (("s", F32), ("d", F64)):
    for _i, _bits, _signed in (("w", 32, True), ("wu", 32, False), ("l", 64, True), ("lu", 64, False)):
        globals()[f"fcvt_{_i}_{_p}"] = _mk_to_int(_fmt, _bits, _signed)
        globals()[f"fcvt_{_p}_{_i}"] = _mk_from_int(_fmt, _bits, _signed)


def fcvt_s_d(cpu, a, rm, insn):
    r, fl = sf.convert(F64, F32, a, _rm(cpu, rm, insn))
    _acc(cpu, fl)
    return r | BOX


def fcvt_d_s(cpu, a, rm, insn):
    r, fl = sf.convert(F32, F64, _unbox(a), _rm(cpu, rm, insn))
    _acc(cpu, fl)
    return r


def fmv_x_w(cpu, a):
    v = a & M32                  # raw bits, no unboxing check (spec: bits moved as is)
    if v & 0x80000000 and cpu.xlen == 64:
        v |= 0xFFFFFFFF00000000
    return v


def fmv_x_d(cpu, a): return a
def fmv_w_x(cpu, x): return (x & M32) | BOX
def fmv_d_x(cpu, x): return x
