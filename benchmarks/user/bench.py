"""Guest MIPS of pyqemu-riscv64 on real programs, side by side with
qemu-riscv64 in the same run.

    .venv/bin/python benchmarks/user/bench.py [--sysroot DIR] [--repeat N]

Workloads: a recursive Lua fib, busybox sha256sum of a large file (both from
the Debian sysroot of scripts/sysroot/build.sh), and a static C loop built
with the cross compiler. The instruction count comes from pyqemu (it counts
retired guest instructions); both emulators run the same program with the
same input, so QEMU's MIPS is that count over QEMU's time. Wall times are
medians of --repeat runs and include emulator start-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SYSROOT = Path.home() / ".cache" / "pyqemu" / "sysroot"

C_LOOP = r"""
#include <stdio.h>
int main(void) {
    unsigned long h = 1469598103934665603UL;
    for (unsigned long i = 0; i < 3000000; i++) h = (h ^ i) * 1099511628211UL;
    printf("%lx\n", h);
    return 0;
}
"""


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed: {r.stderr.decode()[-300:]}")
    return dt, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sysroot", type=Path, default=DEFAULT_SYSROOT)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", default="pycodegen")
    args = ap.parse_args()
    if not (args.sysroot / ".complete").exists():
        subprocess.run(["sh", str(REPO / "scripts/sysroot/build.sh"), str(args.sysroot)], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="pyqemu-bench-"))
    (tmp / "fib.lua").write_text("local function fib(n) if n < 2 then return n end "
                                 "return fib(n-1) + fib(n-2) end\nprint(fib(22))\n")
    (tmp / "big.bin").write_bytes(os.urandom(2 << 20))
    (tmp / "loop.c").write_text(C_LOOP)
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(tmp / "loop"),
                    str(tmp / "loop.c")], check=True)
    sr = args.sysroot
    workloads = [
        ("lua fib(22)", [sr / "usr/bin/lua5.4", tmp / "fib.lua"]),
        ("busybox sha256sum 2 MiB", [sr / "usr/bin/busybox", "sha256sum", tmp / "big.bin"]),
        ("static C loop (3M iterations)", [tmp / "loop"]),
    ]
    stats = tmp / "stats"
    print(f"{'workload':32} {'guest insns':>12} {'pyqemu s':>9} {'MIPS':>6} "
          f"{'qemu s':>8} {'MIPS':>7} {'ratio':>6}")
    for name, prog in workloads:
        ours = [sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", args.backend,
                "-L", str(sr), *map(str, prog)]
        real = ["qemu-riscv64", "-L", str(sr), *map(str, prog)]
        env = dict(os.environ, PYQEMU_STATS_FILE=str(stats))
        t_ours, out_ours = zip(*[timed(ours, env) for _ in range(args.repeat)])
        t_real, out_real = zip(*[timed(real) for _ in range(args.repeat)])
        if out_ours[0] != out_real[0]:
            sys.exit(f"bench: {name}: outputs differ: {out_ours[0][:80]!r} vs {out_real[0][:80]!r}")
        insns = int(stats.read_text())
        a, b = statistics.median(t_ours), statistics.median(t_real)
        print(f"{name:32} {insns:12d} {a:9.2f} {insns / a / 1e6:6.2f} {b:8.3f} "
              f"{insns / b / 1e6:7.1f} {a / b:6.0f}x")


if __name__ == "__main__":
    main()
