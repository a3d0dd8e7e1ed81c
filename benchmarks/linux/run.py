"""Launch-to-marker and launch-to-exit times of the Debian Linux guest
(scripts/linux-guest), pyqemu side by side with qemu-system-riscv64 on the
same kernel, initramfs and disk, in the same run.

Usage: .venv/bin/python benchmarks/linux/run.py [--backend NAME ...] [--smp N]
                                                [--qcow2] [--timeout S] [--warm]

For every emulator the console is read as it arrives and three instants are
recorded: the first kernel line ("Linux version"), the initramfs marker
(userspace reached) and process exit. Each guest gets a fresh copy of the
disk. The report gives seconds and the ratio pyqemu/QEMU (1.0 = as fast as
QEMU; the issue's target is 3.0 with the JIT).

pyqemu starts with an empty on-disk cache of native code (PYQEMU_JIT_CACHE
in a fresh directory), so its compiles are all counted; --warm boots it
once more on the cache the first boot filled (a second boot of the same
guest).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)
BUILD = REPO / "scripts" / "linux-guest" / "build.py"
FIXTURE = Path.home() / ".cache" / "pyqemu" / "linux-guest"

_spec = importlib.util.spec_from_file_location("linux_guest_build", BUILD)
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)

FIRST_LINE = "Linux version"


def guest_args(files: Path, disk: Path, fmt: str, smp: int) -> list[str]:
    return ["-M", "virt", "-m", "512M", "-smp", str(smp), "-nographic",
            "-kernel", str(files / "Image"), "-initrd", str(files / "initramfs.gz"),
            "-append", (files / "append.txt").read_text().strip(),
            "-drive", f"file={disk},format={fmt},if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0"]


def run_one(command: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run one emulator; return the instants (seconds after launch) at which
    the first kernel line, the marker and exit happened."""
    marks: dict[str, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    tail: list[str] = []

    def reader() -> None:
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            now = time.perf_counter() - start
            tail.append(line)
            del tail[:-20]
            if "first" not in marks and FIRST_LINE in line:
                marks["first"] = now
            if "marker" not in marks and fixture.MARKER in line:
                marks["marker"] = now
            if "done" not in marks and fixture.DONE_MARKER in line:
                marks["done"] = now

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    marks["exit"] = time.perf_counter() - start
    t.join(5)
    # Exit status 0 without the guest's last line is not a successful boot.
    marks["status"] = status if status != 0 or "done" in marks else "no marker"
    marks["tail"] = "".join(tail[-5:])
    return marks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", default=None,
                    help="pyqemu TCG backend (repeatable; default: the default backend)")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--qcow2", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--warm", action="store_true",
                    help="boot pyqemu again on the JIT cache its first boot filled")
    args = ap.parse_args()

    subprocess.run([str(PYTHON), str(BUILD), str(FIXTURE)], check=True, stdout=subprocess.DEVNULL)
    fmt = "qcow2" if args.qcow2 else "raw"
    source = FIXTURE / ("disk.qcow2" if args.qcow2 else "disk.img")
    # (name, command, JIT cache directory name or None)
    runs = [("qemu-system-riscv64", ["qemu-system-riscv64"], None)]
    for backend in args.backend or [None]:
        cmd = [str(REPO / ".venv" / "bin" / "pyqemu-system-riscv64")]
        if backend:
            cmd += ["-tcg-backend", backend]
        runs.append((f"pyqemu ({backend or 'default'})", cmd, f"jit-{backend}"))
        if args.warm:
            runs.append((f"pyqemu ({backend or 'default'}, warm)", cmd, f"jit-{backend}"))

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd, cache in runs:
            disk = Path(tmp) / f"disk-{len(results)}.{fmt}"
            shutil.copyfile(source, disk)
            env = None if cache is None else dict(os.environ, PYQEMU_JIT_CACHE=str(Path(tmp) / cache))
            results[name] = run_one(cmd + guest_args(FIXTURE, disk, fmt, args.smp), args.timeout,
                                    env)
            r = results[name]
            print(f"{name}: " + ", ".join(f"{k} {r[k]:.1f} s" for k in ("first", "marker", "done", "exit")
                                           if k in r) + f", status {r['status']}", flush=True)
            if r["status"] != 0:
                print(r["tail"], file=sys.stderr)

    ref = results["qemu-system-riscv64"]
    print(f"\nDebian linux guest, -smp {args.smp}, {fmt} disk (seconds after launch; ratio = pyqemu/QEMU)")
    print(f"{'emulator':<28}{'first line':>12}{'marker':>12}{'exit':>12}{'ratio(marker)':>15}{'ratio(exit)':>13}")
    for name, r in results.items():
        def cell(k):
            return f"{r[k]:.1f}" if k in r else "-"
        rm = f"{r['marker'] / ref['marker']:.1f}" if "marker" in r and "marker" in ref else "-"
        re_ = f"{r['exit'] / ref['exit']:.1f}" if r["status"] == 0 and ref["status"] == 0 else "-"
        print(f"{name:<28}{cell('first'):>12}{cell('marker'):>12}{cell('exit'):>12}{rm:>15}{re_:>13}")
    return 0 if all(r["status"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
