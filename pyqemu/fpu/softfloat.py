"""Exact IEEE 754-2008 binary floating point on raw bit patterns, RISC-V flavoured.

Every operation takes and returns plain ints holding the encoding of a value in
a `Format` and returns ``(result_bits, fflags)``.  The RISC-V choices on top of
IEEE 754 (unprivileged spec, chapter "F" section "NaN Generation and
Propagation", "Subnormal Arithmetic", and the fcvt/fmin/fmax/fclass
descriptions) are:

* every NaN produced is the canonical NaN, payloads never propagate;
* tininess is detected after rounding;
* fmin/fmax are IEEE 754-2019 minimumNumber/maximumNumber;
* float -> integer conversions saturate and raise NV only (never NX with it).

Method: a finite operand decodes to ``(sign, m, e)`` meaning ``(-1)**sign * m *
2**e`` with ``m`` a non-negative Python int.  Operations compute the exact
result (or, for div and sqrt, enough quotient/root bits plus a sticky bit) and
round once in `round_pack`, which is the only place that rounds.  In
round-to-nearest-even, binary32/64 operations first try the host's IEEE double
arithmetic where the result and the flags are provably the same (see the
fast-path section at the end).

Operands must be bit patterns of the format's width; `rm` must already be
resolved to RNE..RMM (the caller maps frm's DYN and rejects 5-7).  A bad `rm`
raises ValueError where rounding needs it (an inexact or overflowing result).
"""

from __future__ import annotations

import math
import struct

# Rounding modes, in RISC-V frm encoding (spec table "Rounding mode encoding").
RNE, RTZ, RDN, RUP, RMM = 0, 1, 2, 3, 4
# Accrued exception flags, in RISC-V fflags bit order (spec "Accrued exception flag encoding").
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16

# fclass result bits (spec table "Format of result of FCLASS instruction").
CLASS_NEG_INF = 1 << 0
CLASS_NEG_NORMAL = 1 << 1
CLASS_NEG_SUBNORMAL = 1 << 2
CLASS_NEG_ZERO = 1 << 3
CLASS_POS_ZERO = 1 << 4
CLASS_POS_SUBNORMAL = 1 << 5
CLASS_POS_NORMAL = 1 << 6
CLASS_POS_INF = 1 << 7
CLASS_SIGNALING_NAN = 1 << 8
CLASS_QUIET_NAN = 1 << 9


class Format:
    """An IEEE 754 binary interchange format (IEEE 754-2008 section 3.6)."""

    __slots__ = (
        "name", "exp_bits", "frac_bits", "width", "precision", "bias",
        "sign_shift", "sign_bit", "frac_mask", "exp_all_ones", "hidden",
        "quiet_bit", "mag_mask", "all_mask", "q_min", "q_max", "e_min",
        "inf", "max_finite", "canonical_nan",
    )

    def __init__(self, name: str, exp_bits: int, frac_bits: int):
        self.name = name
        self.exp_bits = exp_bits
        self.frac_bits = frac_bits
        self.width = 1 + exp_bits + frac_bits
        self.precision = frac_bits + 1
        self.bias = (1 << (exp_bits - 1)) - 1
        self.sign_shift = self.width - 1
        self.sign_bit = 1 << self.sign_shift
        self.frac_mask = (1 << frac_bits) - 1
        self.exp_all_ones = (1 << exp_bits) - 1
        self.hidden = 1 << frac_bits
        self.quiet_bit = 1 << (frac_bits - 1)
        self.mag_mask = self.sign_bit - 1
        self.all_mask = (1 << self.width) - 1
        # Exponent of the leading bit of the smallest normal number.
        self.e_min = 1 - self.bias
        # Exponents of the last significand bit ("quantum", IEEE 754 section 3.3)
        # of the subnormals and of the largest binade.
        self.q_min = self.e_min - frac_bits
        self.q_max = self.bias - frac_bits
        self.inf = self.exp_all_ones << frac_bits
        self.max_finite = self.inf - 1
        # RISC-V canonical NaN: positive, quiet bit set, rest of payload zero.
        self.canonical_nan = self.inf | self.quiet_bit

    def __repr__(self) -> str:
        return f"Format({self.name})"


F16 = Format("binary16", 5, 10)
F32 = Format("binary32", 8, 23)
F64 = Format("binary64", 11, 52)


def canonical_nan(fmt: Format) -> int:
    return fmt.canonical_nan


def is_nan(fmt: Format, a: int) -> bool:
    return (a & fmt.mag_mask) > fmt.inf


def is_signaling_nan(fmt: Format, a: int) -> bool:
    mag = a & fmt.mag_mask
    return mag > fmt.inf and not mag & fmt.quiet_bit


def _nan_result(fmt: Format, *operands: int) -> tuple[int, int]:
    """Canonical NaN, with NV when any operand is a signaling NaN."""
    inf, quiet = fmt.inf, fmt.quiet_bit
    for x in operands:
        mag = x & fmt.mag_mask
        if mag > inf and not mag & quiet:
            return fmt.canonical_nan, NV
    return fmt.canonical_nan, 0


def _decode(fmt: Format, mag: int) -> tuple[int, int]:
    """(m, e) of a finite magnitude: value = m * 2**e."""
    exp = mag >> fmt.frac_bits
    if exp:
        return (mag & fmt.frac_mask) | fmt.hidden, exp + fmt.q_min - 1
    return mag, fmt.q_min


def _overflow(fmt: Format, sign: int, rm: int) -> tuple[int, int]:
    """IEEE 754 section 7.4: the overflow result depends on the rounding direction."""
    if not 0 <= rm <= RMM:
        raise ValueError(f"rounding mode {rm!r} is not one of RNE, RTZ, RDN, RUP, RMM (0-4)")
    if rm == RNE or rm == RMM or (rm == RDN and sign) or (rm == RUP and not sign):
        mag = fmt.inf
    else:
        mag = fmt.max_finite
    return (sign << fmt.sign_shift) | mag, OF | NX


def _rounds_up(sign: int, lsb: int, rem: int, half: int, rm: int) -> bool:
    if rm == RNE:
        return rem > half or (rem == half and lsb)
    if rm == RTZ:
        return False
    if rm == RDN:
        return bool(sign)
    if rm == RUP:
        return not sign
    if rm == RMM:
        return rem >= half  # ties away from zero
    raise ValueError(f"rounding mode {rm!r} is not one of RNE, RTZ, RDN, RUP, RMM (0-4)")


def round_pack(fmt: Format, sign: int, m: int, e: int, rm: int) -> tuple[int, int]:
    """Round (-1)**sign * m * 2**e (m > 0) to `fmt` and encode it.

    Callers that truncated an infinite expansion pass m with a sticky bit
    appended below at least two more bits than the result keeps, so rounding
    sees the true position of the value between representable neighbours.
    """
    p = fmt.precision
    q = e + m.bit_length() - p  # quantum if the exponent range were unbounded
    q_min = fmt.q_min
    if q < q_min:
        return _round_pack_tiny(fmt, sign, m, e, rm)
    shift = q - e
    if shift <= 0:
        if q > fmt.q_max:
            return _overflow(fmt, sign, rm)
        # mant's hidden bit adds the 1 that turns (q - q_min) into the biased exponent.
        return (sign << fmt.sign_shift) | (((q - q_min) << fmt.frac_bits) + (m << -shift)), 0
    mant = m >> shift
    rem = m & ((1 << shift) - 1)
    if rem:
        half = 1 << (shift - 1)
        if rm == RNE:
            up = rem > half or (rem == half and mant & 1)
        else:
            up = _rounds_up(sign, mant & 1, rem, half, rm)
        if up:
            mant += 1
            if mant >> p:  # carried into the next binade
                mant >>= 1
                q += 1
        flags = NX
    else:
        flags = 0
    if q > fmt.q_max:
        return _overflow(fmt, sign, rm)
    return (sign << fmt.sign_shift) | (((q - q_min) << fmt.frac_bits) + mant), flags


def _round_pack_tiny(fmt: Format, sign: int, m: int, e: int, rm: int) -> tuple[int, int]:
    """round_pack for values below 2**e_min: the quantum is the subnormal one."""
    shift = fmt.q_min - e
    if shift <= 0:
        return (sign << fmt.sign_shift) | (m << -shift), 0  # exact subnormal
    mant = m >> shift
    rem = m & ((1 << shift) - 1)
    if not rem:
        return (sign << fmt.sign_shift) | mant, 0
    if _rounds_up(sign, mant & 1, rem, 1 << (shift - 1), rm):
        mant += 1  # may become the smallest normal: the encoding carries naturally
    flags = NX
    # Tininess after rounding (RISC-V): underflow unless the value rounded to
    # full precision with unbounded exponent reaches 2**e_min.
    if mant < fmt.hidden or _tiny_after_rounding(fmt, sign, m, e, rm):
        flags = NX | UF
    return (sign << fmt.sign_shift) | mant, flags


def _tiny_after_rounding(fmt: Format, sign: int, m: int, e: int, rm: int) -> bool:
    """A below-normal value that rounded up to the smallest normal: tiny only if
    rounding it to full precision with unbounded exponent stays below 2**e_min."""
    p = fmt.precision
    n = m.bit_length()
    if e + n - 1 != fmt.e_min - 1:
        return True
    shift = n - p
    if shift <= 0:
        return True
    mant = m >> shift
    rem = m & ((1 << shift) - 1)
    if rem and _rounds_up(sign, mant & 1, rem, 1 << (shift - 1), rm):
        mant += 1
    return not mant >> p


def _sum(fmt: Format, sa: int, ma: int, xa: int, sb: int, mb: int, xb: int, rm: int) -> tuple[int, int]:
    """Correctly rounded (-1)**sa*ma*2**xa + (-1)**sb*mb*2**xb (both finite)."""
    if xa >= xb:
        e = xb
        ma <<= xa - xb
    else:
        e = xa
        mb <<= xb - xa
    if sa == sb:
        total = ma + mb
        sign = sa
    else:
        total = ma - mb
        sign = sa
        if total < 0:
            total = -total
            sign = sb
    if total:
        return round_pack(fmt, sign, total, e, rm)
    # IEEE 754 section 6.3: an exact zero sum is -0 only in roundTowardNegative,
    # except that x + x keeps the sign of x (zeros of the same sign).
    if sa == sb:
        return sa << fmt.sign_shift, 0
    return (fmt.sign_bit if rm == RDN else 0), 0


def add(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == RNE:
        if fmt is F64:
            # Host fast path, inline because this is the hottest call of all.
            # Knuth's TwoSum gives the exact error of s = x + y when nothing
            # overflows (|s| bounded below).  A sum that lands below the normal
            # range is exact (both operands are multiples of the smallest
            # subnormal), so UF never arises; exact zeros get IEEE signs from
            # the host.
            if (a & _F64_MAG) < _F64_INF and (b & _F64_MAG) < _F64_INF:
                x = _unpack_d(_pack_q(a))[0]
                y = _unpack_d(_pack_q(b))[0]
                s = x + y
                if -_F64_SAFE_BIG < s < _F64_SAFE_BIG:
                    yv = s - x
                    return _unpack_q(_pack_d(s))[0], (NX if (x - (s - yv)) + (y - yv) else 0)
        elif fmt is F32:
            r = _fast_f32_add(a, b)
            if r is not None:
                return r
    return _add(fmt, a, b, rm)


def sub(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    # NaN results ignore the sign, so flipping b's sign is safe for NaNs too.
    return add(fmt, a, b ^ fmt.sign_bit, rm)


def _add_special(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """a + b when either is infinite or NaN."""
    ma, mb, inf = a & fmt.mag_mask, b & fmt.mag_mask, fmt.inf
    if ma > inf or mb > inf:
        return _nan_result(fmt, a, b)
    if ma == inf and mb == inf and a != b:
        return fmt.canonical_nan, NV  # inf - inf
    return (a if ma == inf else b), 0


def _add(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    mag_mask = fmt.mag_mask
    inf = fmt.inf
    ma = a & mag_mask
    mb = b & mag_mask
    if ma >= inf or mb >= inf:
        return _add_special(fmt, a, b)
    # Inlined _decode: biased exponent 0 (subnormal) scales like exponent 1.
    fb = fmt.frac_bits
    xa = ma >> fb
    if xa:
        ma = (ma & fmt.frac_mask) | fmt.hidden
    else:
        xa = 1
    xb = mb >> fb
    if xb:
        mb = (mb & fmt.frac_mask) | fmt.hidden
    else:
        xb = 1
    return _sum(fmt, a >> fmt.sign_shift, ma, xa + fmt.q_min - 1,
                b >> fmt.sign_shift, mb, xb + fmt.q_min - 1, rm)


def mul(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == RNE:
        if fmt is F64:
            r = _fast_f64_mul(a, b)
            if r is not None:
                return r
        elif fmt is F32:
            r = _fast_f32_mul(a, b)
            if r is not None:
                return r
    return _mul(fmt, a, b, rm)


def _mul_special(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """a * b when either is infinite or NaN."""
    ma, mb, inf = a & fmt.mag_mask, b & fmt.mag_mask, fmt.inf
    if ma > inf or mb > inf:
        return _nan_result(fmt, a, b)
    if ma == 0 or mb == 0:
        return fmt.canonical_nan, NV  # inf * 0
    return ((a ^ b) & fmt.sign_bit) | inf, 0


def _mul(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    mag_mask = fmt.mag_mask
    inf = fmt.inf
    ma = a & mag_mask
    mb = b & mag_mask
    if ma >= inf or mb >= inf:
        return _mul_special(fmt, a, b)
    sign = (a ^ b) >> fmt.sign_shift
    if ma == 0 or mb == 0:
        return sign << fmt.sign_shift, 0
    fb = fmt.frac_bits
    xa = ma >> fb
    if xa:
        ma = (ma & fmt.frac_mask) | fmt.hidden
    else:
        xa = 1
    xb = mb >> fb
    if xb:
        mb = (mb & fmt.frac_mask) | fmt.hidden
    else:
        xb = 1
    return round_pack(fmt, sign, ma * mb, xa + xb + 2 * (fmt.q_min - 1), rm)


def div(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == RNE:
        if fmt is F64:
            r = _fast_f64_div(a, b)
            if r is not None:
                return r
        elif fmt is F32:
            r = _fast_f32_div(a, b)
            if r is not None:
                return r
    return _div(fmt, a, b, rm)


def _div_special(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """a / b when either is infinite or NaN, or b is zero."""
    ma, mb, inf = a & fmt.mag_mask, b & fmt.mag_mask, fmt.inf
    sign_bit = (a ^ b) & fmt.sign_bit
    if ma > inf or mb > inf:
        return _nan_result(fmt, a, b)
    if ma == inf:
        if mb == inf:
            return fmt.canonical_nan, NV  # inf / inf
        return sign_bit | inf, 0
    if mb == inf:
        return sign_bit, 0  # finite / inf
    if ma == 0:
        return fmt.canonical_nan, NV  # 0 / 0
    return sign_bit | inf, DZ  # finite non-zero / 0


def _div(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    mag_mask = fmt.mag_mask
    inf = fmt.inf
    ma = a & mag_mask
    mb = b & mag_mask
    if ma >= inf or mb >= inf or mb == 0:
        return _div_special(fmt, a, b)
    sign = (a ^ b) >> fmt.sign_shift
    if ma == 0:
        return sign << fmt.sign_shift, 0
    fb = fmt.frac_bits
    xa = ma >> fb
    if xa:
        ma = (ma & fmt.frac_mask) | fmt.hidden
    else:
        xa = 1
    xb = mb >> fb
    if xb:
        mb = (mb & fmt.frac_mask) | fmt.hidden
    else:
        xb = 1
    # Enough quotient bits for the precision plus guard and round bits; the
    # remainder becomes the sticky bit.
    k = fmt.precision + 2 + mb.bit_length() - ma.bit_length()
    if k < 0:
        k = 0
    quo, rem = divmod(ma << k, mb)
    return round_pack(fmt, sign, (quo << 1) | (rem != 0), xa - xb - k - 1, rm)


def sqrt(fmt: Format, a: int, rm: int) -> tuple[int, int]:
    if rm == RNE:
        if fmt is F64:
            r = _fast_f64_sqrt(a)
            if r is not None:
                return r
        elif fmt is F32:
            r = _fast_f32_sqrt(a)
            if r is not None:
                return r
    return _sqrt(fmt, a, rm)


def _sqrt(fmt: Format, a: int, rm: int) -> tuple[int, int]:
    mag = a & fmt.mag_mask
    if mag > fmt.inf:
        return _nan_result(fmt, a)
    if mag == 0:
        return a, 0  # sqrt(+-0) = +-0
    if a >> fmt.sign_shift:
        return fmt.canonical_nan, NV
    if mag == fmt.inf:
        return a, 0
    m, e = _decode(fmt, mag)
    # Scale to an even exponent and at least 2*(precision+2) bits so the
    # integer root has the guard and round bits; the remainder is sticky.
    k = 2 * (fmt.precision + 2) - m.bit_length()
    if k < 0:
        k = 0
    if (e - k) & 1:
        k += 1
    m <<= k
    root = math.isqrt(m)
    return round_pack(fmt, 0, (root << 1) | (root * root != m), ((e - k) >> 1) - 1, rm)


def muladd(fmt: Format, a: int, b: int, c: int, rm: int,
           negate_product: bool = False, negate_addend: bool = False) -> tuple[int, int]:
    """(+-a*b) +- c with a single rounding (fmadd/fmsub/fnmsub/fnmadd)."""
    if rm == RNE and fmt is F32:
        r = _fast_f32_muladd(a, b, c, negate_product, negate_addend)
        if r is not None:
            return r
    return _muladd(fmt, a, b, c, rm, negate_product, negate_addend)


def _muladd_special(fmt: Format, a: int, b: int, c: int, sp: int, sc: int) -> tuple[int, int]:
    """The fused multiply-add when any operand is infinite or NaN."""
    ma, mb, mc, inf = a & fmt.mag_mask, b & fmt.mag_mask, c & fmt.mag_mask, fmt.inf
    nan, flags = _nan_result(fmt, a, b, c)
    # inf * 0 is invalid even when the addend is a quiet NaN (IEEE 754 section 7.2(c)).
    if (ma == inf and mb == 0) or (ma == 0 and mb == inf):
        return nan, NV
    if ma > inf or mb > inf or mc > inf:
        return nan, flags
    if ma == inf or mb == inf:
        if mc == inf and sc != sp:
            return nan, NV  # inf - inf
        return (sp << fmt.sign_shift) | inf, 0
    return (sc << fmt.sign_shift) | inf, 0


def _muladd(fmt: Format, a: int, b: int, c: int, rm: int,
            negate_product: bool, negate_addend: bool) -> tuple[int, int]:
    mag_mask = fmt.mag_mask
    inf = fmt.inf
    ma = a & mag_mask
    mb = b & mag_mask
    mc = c & mag_mask
    sp = ((a ^ b) >> fmt.sign_shift) ^ negate_product
    sc = (c >> fmt.sign_shift) ^ negate_addend
    if ma >= inf or mb >= inf or mc >= inf:
        return _muladd_special(fmt, a, b, c, sp, sc)
    fb = fmt.frac_bits
    xa = ma >> fb
    if xa:
        ma = (ma & fmt.frac_mask) | fmt.hidden
    else:
        xa = 1
    xb = mb >> fb
    if xb:
        mb = (mb & fmt.frac_mask) | fmt.hidden
    else:
        xb = 1
    xc = mc >> fb
    if xc:
        mc = (mc & fmt.frac_mask) | fmt.hidden
    else:
        xc = 1
    # Inlined _sum of the exact product and the addend.  Both exponents are
    # kept relative to (q_min - 1) here and the offset is added back at the end.
    mp = ma * mb
    xp = xa + xb + fmt.q_min - 1
    if xp >= xc:
        e = xc
        mp <<= xp - xc
    else:
        e = xp
        mc <<= xc - xp
    if sp == sc:
        total = mp + mc
        sign = sp
    else:
        total = mp - mc
        sign = sp
        if total < 0:
            total = -total
            sign = sc
    if total:
        return round_pack(fmt, sign, total, e + fmt.q_min - 1, rm)
    if sp == sc:  # exact zero: same rule as in _sum
        return sp << fmt.sign_shift, 0
    return (fmt.sign_bit if rm == RDN else 0), 0


def _order_key(fmt: Format, a: int) -> int:
    """An int that orders non-NaN encodings like their values, with -0 == +0."""
    mag = a & fmt.mag_mask
    return -mag if a >> fmt.sign_shift else mag


def _total_key(fmt: Format, a: int) -> int:
    """Like _order_key, but -0 orders below +0 (as fmin/fmax require)."""
    mag = a & fmt.mag_mask
    return -mag - 1 if a >> fmt.sign_shift else mag


def min_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    return _min_max(fmt, a, b, False)


def max_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    return _min_max(fmt, a, b, True)


def _min_max(fmt: Format, a: int, b: int, want_max: bool) -> tuple[int, int]:
    """IEEE 754-2019 minimumNumber/maximumNumber (RISC-V fmin/fmax since F v2.2)."""
    inf = fmt.inf
    a_nan = (a & fmt.mag_mask) > inf
    b_nan = (b & fmt.mag_mask) > inf
    if a_nan or b_nan:
        nan, flags = _nan_result(fmt, a, b)
        if a_nan and b_nan:
            return nan, flags
        return (b if a_nan else a), flags
    a_first = _total_key(fmt, a) >= _total_key(fmt, b)
    if want_max:
        return (a if a_first else b), 0
    return (b if a_first else a), 0


def eq(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """feq: quiet comparison, NV only for signaling NaNs."""
    inf = fmt.inf
    if (a & fmt.mag_mask) > inf or (b & fmt.mag_mask) > inf:
        return 0, _nan_result(fmt, a, b)[1]
    return int(_order_key(fmt, a) == _order_key(fmt, b)), 0


def lt(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """flt: signaling comparison, NV for any NaN."""
    inf = fmt.inf
    if (a & fmt.mag_mask) > inf or (b & fmt.mag_mask) > inf:
        return 0, NV
    return int(_order_key(fmt, a) < _order_key(fmt, b)), 0


def le(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """fle: signaling comparison, NV for any NaN."""
    inf = fmt.inf
    if (a & fmt.mag_mask) > inf or (b & fmt.mag_mask) > inf:
        return 0, NV
    return int(_order_key(fmt, a) <= _order_key(fmt, b)), 0


def classify(fmt: Format, a: int) -> int:
    """The fclass mask: exactly one of the ten bits is set."""
    mag = a & fmt.mag_mask
    neg = a >> fmt.sign_shift
    if mag > fmt.inf:
        return CLASS_QUIET_NAN if mag & fmt.quiet_bit else CLASS_SIGNALING_NAN
    if mag == fmt.inf:
        return CLASS_NEG_INF if neg else CLASS_POS_INF
    if mag == 0:
        return CLASS_NEG_ZERO if neg else CLASS_POS_ZERO
    if mag < fmt.hidden:
        return CLASS_NEG_SUBNORMAL if neg else CLASS_POS_SUBNORMAL
    return CLASS_NEG_NORMAL if neg else CLASS_POS_NORMAL


def to_int(fmt: Format, a: int, rm: int, bits: int, signed: bool) -> tuple[int, int]:
    """fcvt.{w,wu,l,lu}.{s,d}: the integer as an unsigned `bits`-wide pattern.

    Out-of-range inputs saturate as the spec's "Domains of float-to-integer
    conversions" table says (NaN converts like +inf) and raise NV alone.
    """
    if fmt is F64 or fmt is F32:
        # The host's float -> int operations are exact: convert, then check
        # the range (out of range goes to the exact path, which saturates).
        if (a & fmt.mag_mask) < fmt.inf and rm != RMM:
            x = _unpack_d(_pack_q(a))[0] if fmt is F64 else _unpack_f(_pack_i(a))[0]
            if rm == RTZ:
                value = int(x)
            elif rm == RNE:
                value = round(x)  # float.__round__ without digits: exact, ties to even
            elif rm == RDN:
                value = math.floor(x)
            elif rm == RUP:
                value = math.ceil(x)
            else:
                return _to_int(fmt, a, rm, bits, signed)
            if signed:
                if -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
                    return value & ((1 << bits) - 1), (0 if value == x else NX)
            elif 0 <= value < (1 << bits):
                return value, (0 if value == x else NX)  # int == float compares exactly
    return _to_int(fmt, a, rm, bits, signed)


def _to_int(fmt: Format, a: int, rm: int, bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    mag = a & fmt.mag_mask
    sign = a >> fmt.sign_shift
    if mag >= fmt.inf:
        if mag == fmt.inf and sign:
            return lo & ((1 << bits) - 1), NV
        return hi, NV
    m, e = _decode(fmt, mag)
    flags = 0
    if e >= 0:
        if e > bits:  # certainly out of range; avoid building a huge int
            return (lo if sign else hi) & ((1 << bits) - 1), NV
        value = m << e
    else:
        value = m >> -e
        rem = m & ((1 << -e) - 1)
        if rem:
            flags = NX
            if _rounds_up(sign, value & 1, rem, 1 << (-e - 1), rm):
                value += 1
    if sign:
        value = -value
    if value < lo or value > hi:
        return (lo if sign else hi) & ((1 << bits) - 1), NV
    return value & ((1 << bits) - 1), flags


def from_int(fmt: Format, value: int, bits: int, signed: bool, rm: int) -> tuple[int, int]:
    """fcvt.{s,d}.{w,wu,l,lu}: `value` is the unsigned pattern of a `bits`-wide integer."""
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    # Integers that fit the significand convert exactly (in any rounding
    # mode); the host's int -> float conversion is exact for them.
    if fmt is F64:
        if -_F64_EXACT_INT <= value <= _F64_EXACT_INT:
            return _unpack_q(_pack_d(float(value)))[0], 0
        if rm == RNE:  # CPython rounds int -> float to nearest even
            x = float(value)
            return _unpack_q(_pack_d(x))[0], (0 if x == value else NX)
    elif fmt is F32:
        if -_F32_EXACT_INT <= value <= _F32_EXACT_INT:
            return _unpack_i(_pack_f(float(value)))[0], 0
        if rm == RNE and -_F64_EXACT_INT <= value <= _F64_EXACT_INT:
            # float(value) is exact, so packing rounds only once, to nearest even.
            packed = _pack_f(float(value))
            return _unpack_i(packed)[0], (0 if _unpack_f(packed)[0] == value else NX)
    if value < 0:
        return round_pack(fmt, 1, -value, 0, rm)
    if value == 0:
        return 0, 0
    return round_pack(fmt, 0, value, 0, rm)


def convert(src_fmt: Format, dst_fmt: Format, a: int, rm: int) -> tuple[int, int]:
    """fcvt between formats (fcvt.s.d, fcvt.d.s, and the binary16 ones)."""
    mag = a & src_fmt.mag_mask
    if src_fmt is F32 and dst_fmt is F64:
        if mag <= _F32_INF:  # widening is exact; the host does it bit for bit
            return _unpack_q(_pack_d(_unpack_f(_pack_i(a))[0]))[0], 0
    elif src_fmt is F64 and dst_fmt is F32 and rm == RNE and mag < _F64_INF:
        r = _f32_result(_unpack_d(_pack_q(a))[0], False)
        if r is not None:
            return r
    sign = a >> src_fmt.sign_shift
    if mag > src_fmt.inf:
        return dst_fmt.canonical_nan, _nan_result(src_fmt, a)[1]
    if mag == src_fmt.inf:
        return (sign << dst_fmt.sign_shift) | dst_fmt.inf, 0
    if mag == 0:
        return sign << dst_fmt.sign_shift, 0
    m, e = _decode(src_fmt, mag)
    return round_pack(dst_fmt, sign, m, e, rm)


# ---------------------------------------------------------------------------
# Round-to-nearest-even fast paths on the host's IEEE doubles.
#
# Python floats are IEEE binary64 with RNE arithmetic, so the result bits of
# + - * / sqrt are exactly right whenever the inputs and the output are
# ordinary finite numbers; what the host cannot tell us is the flags.  Each
# fast path therefore only takes the cases where it can prove the flags cheaply
# (error-free transformations: TwoSum, Dekker's TwoProduct) and returns None
# otherwise, and the exact integer path decides.
#
# binary32 goes through doubles too: its products are exact in binary64, and
# rounding a binary64 sum, quotient or root to binary32 gives the correctly
# rounded binary32 result because 53 >= 2*24 + 2 (Figueroa, "When is double
# rounding innocuous?", 1995).  Results below 2**-126 (possible underflow) or
# near overflow take the exact path.

_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_pack_q = struct.Struct("<Q").pack
_unpack_q = struct.Struct("<Q").unpack
_pack_f = struct.Struct("<f").pack
_unpack_f = struct.Struct("<f").unpack
_pack_i = struct.Struct("<I").pack
_unpack_i = struct.Struct("<I").unpack
_F64_INF = F64.inf
_F64_MAG = F64.mag_mask
# Far enough below overflow for the error terms: Veltkamp splitting multiplies
# by 2**27 + 1, which must not overflow (2**996 * (2**27 + 1) can).
_F64_SAFE_BIG = 2.0 ** 995
_F64_SAFE_SMALL = 2.0 ** -960  # far enough above underflow for the error terms
_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp splitting constant
_F32_INF = F32.inf
_F32_MAG = F32.mag_mask
_F32_MIN_NORMAL = 2.0 ** -126
_F64_EXACT_INT = 1 << 53  # every integer up to here is a binary64 value
_F32_EXACT_INT = 1 << 24
# Values at or above this round to infinity in binary32 (max finite + half an ulp).
_F32_OVERFLOW_EDGE = (2.0 - 2.0 ** -24) * 2.0 ** 127


def _fast_f64_mul(a: int, b: int):
    if (a & _F64_MAG) >= _F64_INF or (b & _F64_MAG) >= _F64_INF:
        return None
    x = _unpack_d(_pack_q(a))[0]
    y = _unpack_d(_pack_q(b))[0]
    p = x * y
    # Dekker's TwoProduct needs the inputs splittable without overflow and the
    # product's low part representable without underflow.
    if not (_F64_SAFE_SMALL < abs(p) < _F64_SAFE_BIG and _F64_SAFE_SMALL < abs(x) < _F64_SAFE_BIG
            and _F64_SAFE_SMALL < abs(y) < _F64_SAFE_BIG):
        return None
    t = _SPLITTER * x
    xh = t - (t - x)
    xl = x - xh
    t = _SPLITTER * y
    yh = t - (t - y)
    yl = y - yh
    err = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    return _unpack_q(_pack_d(p))[0], (NX if err else 0)


def _fast_f64_div(a: int, b: int):
    if (a & _F64_MAG) >= _F64_INF or (b & _F64_MAG) >= _F64_INF:
        return None
    x = _unpack_d(_pack_q(a))[0]
    y = _unpack_d(_pack_q(b))[0]
    if not (_F64_SAFE_SMALL < abs(x) < _F64_SAFE_BIG and _F64_SAFE_SMALL < abs(y) < _F64_SAFE_BIG):
        return None
    q = x / y
    if not _F64_SAFE_SMALL < abs(q) < _F64_SAFE_BIG:
        return None
    # q is exact iff q*y == x exactly.  If the rounded product already differs
    # from x it is not; otherwise TwoProduct's low part decides.
    ph = q * y
    if ph != x:
        return _unpack_q(_pack_d(q))[0], NX
    t = _SPLITTER * q
    qh = t - (t - q)
    ql = q - qh
    t = _SPLITTER * y
    yh = t - (t - y)
    yl = y - yh
    pl = ((qh * yh - ph) + qh * yl + ql * yh) + ql * yl
    return _unpack_q(_pack_d(q))[0], (NX if pl else 0)


def _fast_f64_sqrt(a: int):
    # Positive finite non-zero only; sqrt never overflows nor underflows.
    if not 0 < a < _F64_INF:
        return None
    x = _unpack_d(_pack_q(a))[0]
    if x < _F64_SAFE_SMALL:
        return None
    r = math.sqrt(x)
    ph = r * r
    if ph != x:
        return _unpack_q(_pack_d(r))[0], NX
    t = _SPLITTER * r
    rh = t - (t - r)
    rl = r - rh
    pl = ((rh * rh - ph) + 2.0 * rh * rl) + rl * rl
    return _unpack_q(_pack_d(r))[0], (NX if pl else 0)


def _f32_result(r: float, inexact: bool):
    """Round the double r to binary32; None when underflow or overflow is possible.

    r == 0 is an exact zero whose sign the host already got right."""
    ar = abs(r)
    if not (_F32_MIN_NORMAL <= ar < _F32_OVERFLOW_EDGE or r == 0.0):
        return None
    packed = _pack_f(r)
    if inexact or _unpack_f(packed)[0] != r:
        return _unpack_i(packed)[0], NX
    return _unpack_i(packed)[0], 0


def _fast_f32_add(a: int, b: int):
    if (a & _F32_MAG) >= _F32_INF or (b & _F32_MAG) >= _F32_INF:
        return None
    x = _unpack_f(_pack_i(a))[0]
    y = _unpack_f(_pack_i(b))[0]
    s = x + y
    yv = s - x
    return _f32_result(s, (x - (s - yv)) + (y - yv) != 0.0)


def _fast_f32_mul(a: int, b: int):
    if (a & _F32_MAG) >= _F32_INF or (b & _F32_MAG) >= _F32_INF:
        return None
    # 24x24-bit products are exact in binary64.
    return _f32_result(_unpack_f(_pack_i(a))[0] * _unpack_f(_pack_i(b))[0], False)


def _fast_f32_div(a: int, b: int):
    if (a & _F32_MAG) >= _F32_INF or not 0 < (b & _F32_MAG) < _F32_INF:
        return None
    # No separate exactness test is needed: if the binary64 quotient q fits in
    # 24 bits it is exact, because x - q*y is a multiple of about 2**-48 |x|
    # (q*y has at most 48 significant bits) yet at most 2**-53 |x| in size.
    return _f32_result(_unpack_f(_pack_i(a))[0] / _unpack_f(_pack_i(b))[0], False)


def _fast_f32_sqrt(a: int):
    if not 0 < a < _F32_INF:
        return None
    # As for division: a binary64 root r that fits in 24 bits is exact, since
    # x - r*r is a multiple of about 2**-48 x yet at most 2**-52 x in size.
    return _f32_result(math.sqrt(_unpack_f(_pack_i(a))[0]), False)


def _fast_f32_muladd(a: int, b: int, c: int, negate_product: bool, negate_addend: bool):
    if (a & _F32_MAG) >= _F32_INF or (b & _F32_MAG) >= _F32_INF or (c & _F32_MAG) >= _F32_INF:
        return None
    p = _unpack_f(_pack_i(a))[0] * _unpack_f(_pack_i(b))[0]  # exact
    z = _unpack_f(_pack_i(c))[0]
    if negate_product:
        p = -p
    if negate_addend:
        z = -z
    s = p + z
    zv = s - p
    err = (p - (s - zv)) + (z - zv)
    if err:
        # s is the double nearest to p + z; rounding s instead of p + z to
        # binary32 is only wrong when s sits exactly on a binary32 midpoint.
        if _unpack_q(_pack_d(s))[0] & 0x1FFFFFFF == 0x10000000:
            return None
        return _f32_result(s, True)
    return _f32_result(s, False)

