"""Operand generators aimed at the corners of IEEE arithmetic.

Random bit patterns alone almost never hit ties, exact cancellation, the
underflow threshold or conversion limits, so each generator mixes uniform
patterns with operands built to land there.
"""

from __future__ import annotations

import random

from pyqemu.fpu.softfloat import Format


def encode(fmt: Format, sign: int, biased_exp: int, frac: int) -> int:
    return (sign << fmt.sign_shift) | (biased_exp << fmt.frac_bits) | (frac & fmt.frac_mask)


def specials(fmt: Format) -> list[int]:
    one = fmt.bias << fmt.frac_bits
    mags = [
        0, 1, 2, 3, fmt.hidden - 1, fmt.hidden - 2, fmt.hidden >> 1,  # zero, subnormals
        fmt.hidden, fmt.hidden + 1, fmt.hidden * 2 - 1,  # smallest normals
        fmt.max_finite, fmt.max_finite - 1, fmt.max_finite & ~fmt.frac_mask,  # largest
        one, one + 1, one - 1, one | fmt.quiet_bit, one + fmt.hidden,  # around 1 and 2
        fmt.inf,
        fmt.canonical_nan, fmt.inf | fmt.quiet_bit | 1, fmt.inf | fmt.frac_mask,  # quiet NaNs
        fmt.inf | 1, fmt.inf | (fmt.quiet_bit >> 1), fmt.inf | (fmt.frac_mask >> 1),  # signaling
    ]
    return [m | s for m in mags for s in (0, fmt.sign_bit)]


def sparse_frac(rng: random.Random, fmt: Format) -> int:
    """A fraction with few bits set, or few bits clear: products of such
    significands hit exact ties and exact results."""
    bits = 0
    for _ in range(rng.randrange(0, 4)):
        bits |= 1 << rng.randrange(fmt.frac_bits)
    return bits if rng.random() < 0.7 else fmt.frac_mask ^ bits


def any_operand(rng: random.Random, fmt: Format) -> int:
    pick = rng.random()
    if pick < 0.15:
        return rng.choice(specials(fmt))
    if pick < 0.45:
        return rng.getrandbits(fmt.width)
    sign = rng.getrandbits(1)
    region = rng.random()
    top = fmt.exp_all_ones - 1
    if region < 0.3:
        exp = rng.randrange(0, min(fmt.precision + 3, top))  # subnormal and lowest normals
    elif region < 0.5:
        exp = rng.randrange(max(1, top - fmt.precision - 3), top + 1)  # near overflow
    else:
        exp = fmt.bias + rng.randrange(-fmt.precision - 3, fmt.precision + 4)  # near 1
    frac = sparse_frac(rng, fmt) if rng.random() < 0.5 else rng.getrandbits(fmt.frac_bits)
    return encode(fmt, sign, exp, frac)


def near(rng: random.Random, fmt: Format, a: int, spread: int) -> int:
    """An operand whose exponent is within `spread` binades below or above a's."""
    exp = (a >> fmt.frac_bits) & fmt.exp_all_ones
    if exp in (0, fmt.exp_all_ones):
        return any_operand(rng, fmt)
    exp = min(max(exp + rng.randrange(-spread, spread + 1), 0), fmt.exp_all_ones - 1)
    frac = sparse_frac(rng, fmt) if rng.random() < 0.5 else rng.getrandbits(fmt.frac_bits)
    return encode(fmt, rng.getrandbits(1), exp, frac)


def add_pair(rng: random.Random, fmt: Format) -> tuple[int, int]:
    a = any_operand(rng, fmt)
    pick = rng.random()
    if pick < 0.3:
        return a, any_operand(rng, fmt)
    if pick < 0.4:
        return a, a ^ fmt.sign_bit  # exact cancellation
    if pick < 0.5:
        return a, ((a ^ fmt.sign_bit) + rng.choice((-1, 1))) & fmt.all_mask  # one-ulp cancellation
    # b just below a's last bit: ties, sticky bits, and deep cancellation.
    return a, near(rng, fmt, a, fmt.precision + 3)


def mul_pair(rng: random.Random, fmt: Format) -> tuple[int, int]:
    a = any_operand(rng, fmt)
    pick = rng.random()
    if pick < 0.4:
        return a, any_operand(rng, fmt)
    # Exponents that sum to just around the underflow or overflow threshold,
    # or to around 1.
    exp_a = (a >> fmt.frac_bits) & fmt.exp_all_ones
    target = rng.choice((0, 1, fmt.exp_all_ones - 1, fmt.bias, fmt.bias - fmt.precision // 2))
    exp_b = target + fmt.bias - exp_a + rng.randrange(-3, 4)
    exp_b = min(max(exp_b, 0), fmt.exp_all_ones - 1)
    frac = sparse_frac(rng, fmt) if rng.random() < 0.6 else rng.getrandbits(fmt.frac_bits)
    return a, encode(fmt, rng.getrandbits(1), exp_b, frac)


def div_pair(rng: random.Random, fmt: Format) -> tuple[int, int]:
    a = any_operand(rng, fmt)
    pick = rng.random()
    if pick < 0.4:
        return a, any_operand(rng, fmt)
    exp_a = (a >> fmt.frac_bits) & fmt.exp_all_ones
    target = rng.choice((0, 1, fmt.exp_all_ones - 1, fmt.bias))
    exp_b = exp_a + fmt.bias - target + rng.randrange(-3, 4)
    exp_b = min(max(exp_b, 0), fmt.exp_all_ones - 1)
    frac = sparse_frac(rng, fmt) if rng.random() < 0.6 else rng.getrandbits(fmt.frac_bits)
    return a, encode(fmt, rng.getrandbits(1), exp_b, frac)


def float_near_integer(rng: random.Random, fmt: Format) -> int:
    """Values around the integer-conversion limits and around halves."""
    from pyqemu.fpu.softfloat import RNE, RTZ, from_int
    magnitude = rng.choice((0, 1, 2, 3, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32,
                            (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 1 << 64,
                            rng.getrandbits(rng.randrange(1, 66))))
    # magnitude + fraction, scaled so the fraction lands on representable bits.
    frac_bits = rng.randrange(0, 4)
    value = (magnitude << frac_bits) + rng.randrange(0, 1 << frac_bits) if frac_bits else magnitude
    bits, _ = from_int(fmt, value, 72, False, rng.choice((RNE, RTZ)))
    if bits and frac_bits:  # divide by 2**frac_bits through the exponent field
        exp = (bits >> fmt.frac_bits) - frac_bits
        bits = encode(fmt, 0, exp, bits) if exp > 0 else bits
    bits += rng.choice((0, 0, 0, -1, 1)) if 0 < bits < fmt.inf - 1 else 0
    return bits | (fmt.sign_bit if rng.getrandbits(1) else 0)


def int_operand(rng: random.Random, bits: int, precision: int) -> int:
    """Integers with exactly the bit counts where conversion rounding happens."""
    pick = rng.random()
    if pick < 0.2:
        return rng.choice((0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1,
                           (1 << (bits - 1)) + 1))
    if pick < 0.5:
        return rng.getrandbits(bits)
    length = rng.randrange(1, min(bits, precision + 4) + 1)
    if pick < 0.75:
        length = rng.randrange(precision - 1, bits + 1) if bits > precision else length
    value = rng.getrandbits(length) | (1 << (length - 1))
    if rng.getrandbits(1):
        value = (-value) & ((1 << bits) - 1)
    return value


def fma_triple(rng: random.Random, fmt: Format) -> tuple[int, int, int]:
    from pyqemu.fpu.softfloat import RNE, RTZ, mul
    a, b = mul_pair(rng, fmt)
    pick = rng.random()
    if pick < 0.4:
        c = any_operand(rng, fmt)
    elif pick < 0.7:
        # c cancels most of the product: exposes the single rounding.
        product, _ = mul(fmt, a, b, rng.choice((RNE, RTZ)))
        c = product ^ rng.choice((0, fmt.sign_bit))
        c += rng.choice((0, 0, 1, -1)) if 0 < c & fmt.mag_mask < fmt.inf - 1 else 0
    else:
        c = near(rng, fmt, a, fmt.precision * 2)
    return a, b, c


def for_arithmetic(rng: random.Random, fmt: Format, op_name: str) -> tuple[int, int, int]:
    """Operands for ADD SUB MUL DIV SQRT and the fused multiply-adds."""
    if op_name in ("ADD", "SUB"):
        return (*add_pair(rng, fmt), 0)
    if op_name == "MUL":
        return (*mul_pair(rng, fmt), 0)
    if op_name == "DIV":
        return (*div_pair(rng, fmt), 0)
    if op_name == "SQRT":
        a = any_operand(rng, fmt)
        return (a & fmt.mag_mask if rng.random() < 0.8 else a), 0, 0
    return fma_triple(rng, fmt)
