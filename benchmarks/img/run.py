"""Side-by-side benchmark of pyqemu-img and qemu-img on a 2 GiB image with
half of its 64 KiB clusters holding random data.

Usage: .venv/bin/python benchmarks/img/run.py [--size 2G] [--dir DIR] [--repeat N] [--only op,op]

Each operation runs for both tools in the same run (same files, same page
cache state: every input is read once before timing); the median of
--repeat runs is reported, with throughput (virtual bytes per second) and
the ratio ours/qemu (1.0 = as fast as qemu-img; the target is >= 0.5).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)
OURS = [str(PYTHON), "-m", "pyqemu.tools.img"]
QEMU = ["qemu-img"]
CLUSTER = 64 << 10


def make_source(path: Path, size: int, seed: int = 42) -> None:
    """Raw image: each 64 KiB cluster random with probability 1/2, else a hole."""
    rng = random.Random(seed)
    chunk = os.urandom(CLUSTER * 64)
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, CLUSTER):
            if rng.random() < 0.5:
                start = rng.randrange(0, len(chunk) - CLUSTER)
                f.seek(off)
                # Vary the data per cluster so that nothing deduplicates.
                f.write(chunk[start:start + CLUSTER - 8] + off.to_bytes(8, "little"))


def timed(cmd, env=None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2G")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = int(args.size[:-1]) * units[args.size[-1].upper()] if args.size[-1].isalpha() else int(args.size)
    if shutil.which("qemu-img") is None:
        raise SystemExit("qemu-img not found (install qemu-utils)")
    work = Path(args.dir or tempfile.mkdtemp(prefix="pyqemu-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # An installed tool runs from compiled bytecode; do not make every run
    # recompile our modules because the caller's shell forbids .pyc files.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    src = work / "src.raw"
    try:
        print(f"# preparing {size >> 20} MiB source image in {work}", flush=True)
        make_source(src, size)
        # Reference images made by qemu-img, read by both tools.
        subprocess.run(QEMU + ["convert", "-O", "qcow2", str(src), str(work / "ref.qcow2")], check=True)
        subprocess.run(QEMU + ["convert", "-O", "qcow2", str(src), str(work / "ref2.qcow2")], check=True)
        for f in ("src.raw", "ref.qcow2", "ref2.qcow2"):
            with open(work / f, "rb") as fh:       # warm the page cache equally for both tools
                while fh.read(8 << 20):
                    pass
        ops = {
            "convert raw->qcow2": lambda t: t + ["convert", "-f", "raw", "-O", "qcow2", str(src), str(work / "out.qcow2")],
            "convert qcow2->raw": lambda t: t + ["convert", "-f", "qcow2", "-O", "raw", str(work / "ref.qcow2"),
                                                 str(work / "out.raw")],
            "convert -c": lambda t: t + ["convert", "-c", "-f", "raw", "-O", "qcow2", str(src), str(work / "out.c.qcow2")],
            "compare": lambda t: t + ["compare", "-f", "qcow2", "-F", "qcow2", str(work / "ref.qcow2"),
                                      str(work / "ref2.qcow2")],
            "check": lambda t: t + ["check", str(work / "ref.qcow2")],
        }
        only = [o.strip() for o in args.only.split(",") if o.strip()]
        print(f"{'operation':<22}{'qemu-img s':>12}{'ours s':>10}{'qemu MiB/s':>12}{'ours MiB/s':>12}{'ratio':>8}")
        worst = None
        for name, build in ops.items():
            if only and not any(o in name for o in only):
                continue
            q_times, o_times = [], []
            for _ in range(args.repeat):
                q_times.append(timed(build(QEMU)))
                o_times.append(timed(build(OURS), env=env))
            q, o = statistics.median(q_times), statistics.median(o_times)
            ratio = q / o
            worst = ratio if worst is None else min(worst, ratio)
            mib = size / (1 << 20)
            print(f"{name:<22}{q:>12.3f}{o:>10.3f}{mib / q:>12.0f}{mib / o:>12.0f}{ratio:>8.2f}", flush=True)
        if worst is not None:
            print(f"# worst throughput ratio ours/qemu-img: {worst:.2f} (target >= 0.5)")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
