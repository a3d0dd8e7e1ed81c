"""Per-operation cost of pyqemu.fpu.softfloat: python -m pyqemu.fpu.bench

Operands are typical normal numbers (what guest code mostly computes on);
prints nanoseconds of process CPU time per call (best of three runs, so other
load on the machine distorts it little) for each operation, format and mode.
"""

from __future__ import annotations

import random
import sys
import time

from pyqemu.fpu import softfloat as sf


def _operands(fmt: sf.Format, count: int, rng: random.Random) -> list[int]:
    # Exponents within a few hundred binades of 1: no overflow or underflow.
    spread = min(fmt.bias // 2, 200)
    out = []
    for _ in range(count):
        exp = fmt.bias + rng.randrange(-spread, spread)
        out.append((rng.getrandbits(1) << fmt.sign_shift) | (exp << fmt.frac_bits)
                   | rng.getrandbits(fmt.frac_bits))
    return out


def _time_ns(call, args: list[tuple], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time_ns()
        for a in args:
            call(*a)
        best = min(best, (time.process_time_ns() - start) / len(args))
    return best


def main(argv: list[str] | None = None) -> int:
    count = 20000
    rng = random.Random(1)
    # What the timing loop itself costs per call (subtract it from the rows).
    rows = [("-", "-", "empty call", _time_ns(lambda fmt, a, b, rm: None,
                                              [(sf.F64, 0, 0, 0)] * count))]
    for fmt in (sf.F64, sf.F32):
        xs, ys, zs = (_operands(fmt, count, rng) for _ in range(3))
        for rm_name, rm in (("RNE", sf.RNE), ("RTZ", sf.RTZ)):
            binary = [(fmt, x, y, rm) for x, y in zip(xs, ys)]
            rows.append((fmt.name, rm_name, "add", _time_ns(sf.add, binary)))
            rows.append((fmt.name, rm_name, "mul", _time_ns(sf.mul, binary)))
            rows.append((fmt.name, rm_name, "div", _time_ns(sf.div, binary)))
            rows.append((fmt.name, rm_name, "fma", _time_ns(
                sf.muladd, [(fmt, x, y, z, rm) for x, y, z in zip(xs, ys, zs)])))
            rows.append((fmt.name, rm_name, "sqrt", _time_ns(
                sf.sqrt, [(fmt, x & fmt.mag_mask, rm) for x in xs])))
        ints = [(fmt, rng.getrandbits(32), 32, True, sf.RNE) for _ in range(count)]
        rows.append((fmt.name, "RNE", "fcvt.from_w", _time_ns(sf.from_int, ints)))
        rows.append((fmt.name, "RTZ", "fcvt.w", _time_ns(
            sf.to_int, [(fmt, x, sf.RTZ, 32, True) for x in xs])))
        rows.append((fmt.name, "-", "flt", _time_ns(sf.lt, [(fmt, x, y) for x, y in zip(xs, ys)])))
        rows.append((fmt.name, "-", "fmin", _time_ns(sf.min_, [(fmt, x, y) for x, y in zip(xs, ys)])))
    singles = _operands(sf.F32, count, rng)
    doubles = _operands(sf.F64, count, rng)
    rows.append(("binary32", "RNE", "fcvt.d.s", _time_ns(
        sf.convert, [(sf.F32, sf.F64, x, sf.RNE) for x in singles])))
    rows.append(("binary64", "RNE", "fcvt.s.d", _time_ns(
        sf.convert, [(sf.F64, sf.F32, x, sf.RNE) for x in doubles])))
    for name, rm_name, op, ns in rows:
        print(f"{name:9s} {rm_name:3s} {op:11s} {ns:7.0f} ns/op")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
