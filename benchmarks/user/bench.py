"""Guest MIPS of pyqemu-riscv64 on real programs, side by side with
qemu-riscv64 in the same run.

    .venv/bin/python benchmarks/user/bench.py [--sysroot DIR] [--repeat N]

Workloads: a static hello world (the fixed cost of a run), a recursive Lua
fib, busybox sha256sum of a 64 MiB file and busybox gzip -9 of 16 MiB of text
(all from the Debian sysroot of scripts/sysroot/build.sh), a static C loop
and a compute-heavy C program (sieve, integer matrix product, CRC-32) built
with the cross compiler. Each workload but hello is sized so that
qemu-riscv64 spends about a second or more on it: the ratio then measures
emulation speed, with start-up, translation and compiling still counted.
(At a tenth of that size the same programs mostly measure start-up and
warm-up, which the hello row and the jit column show on their own.) The instruction count comes from pyqemu (it counts
retired guest instructions); both emulators run the same program with the
same input, so QEMU's MIPS is that count over QEMU's time. Times are
medians of --repeat runs and include emulator start-up and, for pyqemu,
translation and native compilation; the `jit` column says how much of
pyqemu's CPU time went to loading LLVM and compiling (PYQEMU_STATS_FILE).
The ratio is pyqemu's CPU time over QEMU's. Those runs start with an empty
on-disk cache of native code (PYQEMU_JIT_CACHE); `warm` is one more run
on the cache the last of them filled, as when a program is run again.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SYSROOT = Path.home() / ".cache" / "pyqemu" / "sysroot"

C_HELLO = r"""
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
"""

C_LOOP = r"""
#include <stdio.h>
int main(void) {
    unsigned long h = 1469598103934665603UL;
    for (unsigned long i = 0; i < 1000000000; i++) h = (h ^ i) * 1099511628211UL;
    printf("%lx\n", h);
    return 0;
}
"""

C_COMPUTE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N 6000000
#define M 400
static unsigned char sieve[N];
static long a[M][M], b[M][M], c[M][M];
int main(void) {
    long primes = 0;
    for (long i = 2; i < N; i++) {
        if (sieve[i]) continue;
        primes++;
        for (long j = i * i; j < N; j += i) sieve[j] = 1;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) { a[i][j] = (i * 31 + j) % 97; b[i][j] = (i ^ j) % 89; }
    for (int i = 0; i < M; i++)
        for (int k = 0; k < M; k++) {
            long x = a[i][k];
            for (int j = 0; j < M; j++) c[i][j] += x * b[k][j];
        }
    long trace = 0;
    for (int i = 0; i < M; i++) trace += c[i][i] * (i + 1);
    unsigned crc = 0xFFFFFFFFu;
    for (long i = 0; i < 8 * N; i++) {
        crc ^= sieve[i % N] + (unsigned char)i;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    printf("%ld %ld %08x\n", primes, trace, ~crc);
    return 0;
}
"""


def text_data(size: int) -> bytes:
    """Compressible, deterministic text: words drawn by a fixed LCG."""
    words = (b"the of and to in is was that for on with as by at from his her an "
             b"emulator translation block native code guest host register memory page "
             b"fault interrupt timer device virtio queue").split()
    out = bytearray()
    x = 12345
    while len(out) < size:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += words[x % len(words)] + (b"\n" if x % 13 == 0 else b" ")
    return bytes(out[:size])


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd, env=None):
    """(wall seconds, CPU seconds, stdout) of one run. CPU time is the
    fairer figure on a shared machine: wall time counts other processes."""
    t0, c0 = time.perf_counter(), _child_cpu()
    r = subprocess.run(cmd, capture_output=True, env=env)
    dt, dc = time.perf_counter() - t0, _child_cpu() - c0
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed: {r.stderr.decode()[-300:]}")
    return dt, dc, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sysroot", type=Path, default=DEFAULT_SYSROOT)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", default="llvm")
    ap.add_argument("--only", nargs="*", help="run the workloads whose name contains one of these")
    args = ap.parse_args()
    if not (args.sysroot / ".complete").exists():
        subprocess.run(["sh", str(REPO / "scripts/sysroot/build.sh"), str(args.sysroot)], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="pyqemu-bench-"))
    (tmp / "fib.lua").write_text("local function fib(n) if n < 2 then return n end "
                                 "return fib(n-1) + fib(n-2) end\nprint(fib(32))\n")
    (tmp / "big.bin").write_bytes(os.urandom(64 << 20))
    (tmp / "text.txt").write_bytes(text_data(16 << 20))
    for name, src in (("hello", C_HELLO), ("loop", C_LOOP), ("compute", C_COMPUTE)):
        (tmp / f"{name}.c").write_text(src)
        subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(tmp / name),
                        str(tmp / f"{name}.c")], check=True)
    sr = args.sysroot
    workloads = [
        # What every run pays before the program does anything.
        ("static C hello (start-up)", [tmp / "hello"]),
        ("lua fib(32)", [sr / "usr/bin/lua5.4", tmp / "fib.lua"]),
        ("busybox sha256sum 64 MiB", [sr / "usr/bin/busybox", "sha256sum", tmp / "big.bin"]),
        ("busybox gzip -9 16 MiB text", [sr / "usr/bin/busybox", "gzip", "-9", "-c", tmp / "text.txt"]),
        ("static C loop (1G iterations)", [tmp / "loop"]),
        ("static C compute (sieve, matmul, crc)", [tmp / "compute"]),
    ]
    if args.only:
        workloads = [w for w in workloads if any(k in w[0] for k in args.only)]
    stats = tmp / "stats"
    cache = tmp / "jit"
    print(f"backend: {args.backend}  (medians of {args.repeat}; s = wall seconds, "
          f"cpu = CPU seconds; MIPS and ratio from CPU time; jit = CPU seconds of "
          f"that loading LLVM and compiling regions)")
    print(f"{'workload':38} {'guest insns':>12} {'ours s':>7} {'cpu':>6} {'jit':>5} {'MIPS':>7} "
          f"{'qemu s':>7} {'cpu':>6} {'MIPS':>7} {'ratio':>6} {'warm':>6} {'ratio':>6}")
    try:
        for name, prog in workloads:
            ours = [sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", args.backend,
                    "-L", str(sr), *map(str, prog)]
            real = ["qemu-riscv64", "-L", str(sr), *map(str, prog)]
            env = dict(os.environ, PYQEMU_STATS_FILE=str(stats), PYQEMU_JIT_CACHE=str(cache))
            # An installed pyqemu runs from compiled bytecode: without this,
            # every run of ours would recompile its own modules from source
            # (about 0.1 s of CPU, more than qemu-riscv64's whole run of the
            # short workloads), which is no part of emulation.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            r_ours, jit = [], []
            for _ in range(args.repeat):
                # Cold: an empty on-disk cache of native code, every compile counted.
                shutil.rmtree(cache, ignore_errors=True)
                r_ours.append(timed(ours, env))
                st = dict(line.split("=", 1) for line in stats.read_text().split())
                jit.append(float(st.get("jit_init_s", 0)) + float(st.get("jit_compile_s", 0)))
            # Warm: once more on the cache the last run filled (the program run again).
            warm = timed(ours, env)[1] if args.backend == "llvm" else float("nan")
            r_real = [timed(real) for _ in range(args.repeat)]
            if r_ours[0][2] != r_real[0][2]:
                sys.exit(f"bench: {name}: outputs differ: {r_ours[0][2][:80]!r} vs {r_real[0][2][:80]!r}")
            insns = int(st["insns"])
            a, ac = (statistics.median(x) for x in zip(*[r[:2] for r in r_ours]))
            b, bc = (statistics.median(x) for x in zip(*[r[:2] for r in r_real]))
            print(f"{name:38} {insns:12d} {a:7.2f} {ac:6.2f} {statistics.median(jit):5.2f} "
                  f"{insns / ac / 1e6:7.1f} "
                  f"{b:7.3f} {bc:6.3f} {insns / bc / 1e6:7.1f} {ac / bc:5.1f}x "
                  f"{warm:6.2f} {warm / bc:5.1f}x", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
