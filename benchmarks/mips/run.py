#!/usr/bin/env python3
"""Guest MIPS of pyqemu's TCG backends and of the real qemu-system-riscv64,
side by side in one run, on a tight loop and a CoreMark-like compute
workload (benchmarks/mips/guest.c).

pyqemu's minstret is exact, QEMU's is not (without -icount it follows host
ticks), so QEMU's instruction count is derived: the guest's count is linear
in its round count (a + b * rounds), fitted from two exact pyqemu runs.
Time comes from the guest's own `time` CSR (10 MHz on both), so process
start-up is not counted.

    .venv/bin/python benchmarks/mips/run.py [--backend interp] [--seconds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyqemu" / "bench-mips"
PYQEMU = ROOT / ".venv" / "bin" / "pyqemu-system-riscv64"
WORKLOADS = ("tight", "compute")


def build(tight: int, compute: int) -> Path:
    srcs = [HERE / "start.S", HERE / "guest.c", HERE / "link.ld"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in srcs) + f"{tight},{compute}".encode())
    out = CACHE / f"guest-{key.hexdigest()[:16]}.elf"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["riscv64-unknown-elf-gcc", "-O2", "-march=rv64gc", "-mabi=lp64d",
                        "-mcmodel=medany", "-nostdlib", "-ffreestanding", "-Wl,--no-warn-rwx-segments",
                        "-T", str(HERE / "link.ld"), f"-DTIGHT_ROUNDS={tight}",
                        f"-DCOMPUTE_ROUNDS={compute}", str(HERE / "start.S"), str(HERE / "guest.c"),
                        "-o", str(out)], check=True)
    return out


def run_guest(cmd: list[str], elf: Path, timeout: float) -> dict[str, tuple[int, int]]:
    r = subprocess.run([*cmd, "-M", "virt", "-bios", "none", "-nographic", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    res = {}
    for m in re.finditer(r"(\w+) insns=(\d+) ticks=(\d+)", r.stdout):
        res[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    if set(res) != set(WORKLOADS):
        raise SystemExit(f"{cmd[0]}: unexpected output:\n{r.stdout}\n{r.stderr}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", action="append", help="pyqemu TCG backend(s) (default interp)")
    ap.add_argument("--rounds", type=int, default=40, help="rounds for pyqemu (default 40)")
    ap.add_argument("--qemu-rounds", type=int, default=40000, help="rounds for QEMU")
    args = ap.parse_args()
    backends = args.backend or ["interp"]

    # Exact counts at 1 and 2 rounds give a + b*rounds per workload.
    one = run_guest([str(PYQEMU)], build(1, 1), 600)
    two = run_guest([str(PYQEMU)], build(2, 2), 600)
    fit = {w: (2 * one[w][0] - two[w][0], two[w][0] - one[w][0]) for w in WORKLOADS}

    rows = []
    for be in backends:
        res = run_guest([str(PYQEMU), "-tcg-backend", be], build(args.rounds, args.rounds), 3600)
        for w in WORKLOADS:
            insns, ticks = res[w]
            rows.append((f"pyqemu ({be})", w, insns, ticks / 1e7, insns / (ticks / 1e7) / 1e6))
    q = run_guest(["qemu-system-riscv64"], build(args.qemu_rounds, args.qemu_rounds), 600)
    qemu_mips = {}
    for w in WORKLOADS:
        a, b = fit[w]
        insns = a + b * args.qemu_rounds
        secs = q[w][1] / 1e7
        qemu_mips[w] = insns / secs / 1e6
        rows.append(("qemu-system-riscv64 7.2", w, insns, secs, qemu_mips[w]))

    print(f"{'emulator':<26}{'workload':<10}{'guest insns':>14}{'seconds':>10}{'MIPS':>10}{'vs QEMU':>10}")
    for name, w, insns, secs, mips in rows:
        print(f"{name:<26}{w:<10}{insns:>14}{secs:>10.3f}{mips:>10.2f}{mips / qemu_mips[w]:>10.5f}")


if __name__ == "__main__":
    main()
