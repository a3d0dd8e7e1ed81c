"""pyqemu-system-x86_64 side by side with qemu-system-x86_64 -enable-kvm -M
microvm on the same test guests (tests/x86_guests):

- start-up: process start to exit for a guest whose first instruction
  leaves through isa-debug-exit (VMM start-up + first guest instruction +
  teardown), median of runs;
- port-I/O exit round trip: (time for N `out`s - time for 0) / N, the
  guest writing the UART's scratch register;
- ring-3 compute: the compute guest's rdtsc cycles against the same loop
  run natively on the host (minimum of 3 runs each);
- memory: peak RSS of the VMM process minus the guest RAM the guest touched
  (pages resident in our RAM mapping after the same guest ran in-process).

    python benchmarks/kvm/run.py [--runs 5] [--exits 50000] [--json out.json]
    python benchmarks/kvm/run.py --startup-only [--runs 25]   # interleaved rounds of 5

Our VMM runs from compiled bytecode (see vmm_env) after one warm-up run,
as an installed package would.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("x86_guest_build", ROOT / "tests" / "x86_guests" / "build.py")
guests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guests)

DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
COMMON = ["-display", "none", "-serial", "stdio", "-no-reboot", "-m", "256", *DEBUG_EXIT]


def vmm_cmd(which: str, *args: str) -> list[str]:
    if which == "pyqemu":
        return [sys.executable, "-m", "pyqemu.cli.system_x86", "-M", "microvm", "-accel", "kvm", *args]
    return [shutil.which("qemu-system-x86_64"), "-enable-kvm", "-M", "microvm", *args]


def vmm_env() -> dict[str, str]:
    """Our VMM runs from compiled bytecode, as an installed package does (pip
    compiles it): without this a PYTHONDONTWRITEBYTECODE environment makes
    every run recompile its modules (~50 ms). The cache is kept outside the
    tree."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path.home() / ".cache" / "pyqemu" / "pycache"))
    return env


def timed(cmd: list[str]) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS KiB, stdout) of one run."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=ROOT,
                         env=vmm_env())
    out = p.stdout.read()
    _pid, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if p.returncode != 1:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {out[-500:]!r}")
    return elapsed, usage.ru_maxrss, out


def startup(which: str, runs: int) -> float:
    pio = str(guests.build("pio"))
    timed(vmm_cmd(which, "-kernel", pio, "-append", "n=0", *COMMON))     # warm-up: bytecode, page cache
    return statistics.median(timed(vmm_cmd(which, "-kernel", pio, "-append", "n=0", *COMMON))[0]
                             for _ in range(runs))


def exit_cost_us(which: str, runs: int, exits: int) -> float:
    pio = str(guests.build("pio"))
    base = statistics.median(timed(vmm_cmd(which, "-kernel", pio, "-append", "n=0", *COMMON))[0]
                             for _ in range(runs))
    loaded = statistics.median(timed(vmm_cmd(which, "-kernel", pio, "-append", f"n={exits}", *COMMON))[0]
                               for _ in range(runs))
    return (loaded - base) / exits * 1e6


def compute_cycles(which: str, iters: int) -> int:
    kernel = str(guests.build("compute"))
    # No -no-reboot: on a PVM host the guest's way back from ring 3 is a reset (see compute.c).
    args = [a for a in COMMON if a != "-no-reboot"]
    _t, _rss, out = timed(vmm_cmd(which, "-kernel", kernel, "-append", f"iters={iters}", *args))
    return int(re.search(rb"cycles=(\d+)", out).group(1))


def native_cycles(iters: int, runs: int) -> int:
    exe = str(guests.build_native("native_compute"))
    return min(
        int(re.search(r"cycles=(\d+)", subprocess.run([exe, str(iters)], capture_output=True, text=True,
                                                      check=True).stdout).group(1)) for _ in range(runs))


def peak_rss_kib(which: str) -> int:
    kernel = str(guests.build("modes"))
    return timed(vmm_cmd(which, "-kernel", kernel, "-append", "s=0", *COMMON))[1]


def touched_guest_ram_kib() -> int:
    """Run the same guest in-process and count the resident pages of its RAM (mincore(2))."""
    from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine
    from pyqemu.accel.kvm.vm import region_host_address
    m = MicrovmMachine(MicrovmConfig(ram_size=256 << 20, kernel=str(guests.build("modes")),
                                     append="s=0", debug_exits=[(0xF4, 1)], no_reboot=True))
    m.run()
    libc = ctypes.CDLL(None, use_errno=True)
    region = m.ram
    pages = region.size // 4096
    vec = (ctypes.c_ubyte * pages)()
    if libc.mincore(ctypes.c_void_p(region_host_address(region)), ctypes.c_size_t(region.size), vec) != 0:
        raise OSError(ctypes.get_errno(), "mincore")
    return sum(v & 1 for v in vec) * 4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--exits", type=int, default=50000)
    ap.add_argument("--iters", type=int, default=100_000_000)
    ap.add_argument("--json")
    ap.add_argument("--startup-only", action="store_true", help="measure start-up only")
    args = ap.parse_args()
    if shutil.which("qemu-system-x86_64") is None:
        sys.stderr.write("run.py: qemu-system-x86_64 missing (apt-get install qemu-system-x86)\n")
        return 1
    if args.startup_only:
        # Interleaved rounds: a shared machine's load drifts; both see the same.
        ours, theirs = [], []
        for _ in range(max(1, args.runs // 5)):
            ours.append(startup("pyqemu", 5))
            theirs.append(startup("qemu", 5))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"VMM start-up to guest exit: pyqemu {a:.3f} s, qemu {b:.3f} s, ratio {a / b:.2f}")
        return 0
    results: dict[str, dict] = {}
    touched = touched_guest_ram_kib()
    native = native_cycles(args.iters, 3)
    for which in ("pyqemu", "qemu"):
        rss = peak_rss_kib(which)
        # Minimum of runs: rdtsc also counts time descheduled on a shared machine.
        cycles = min(compute_cycles(which, args.iters) for _ in range(3))
        results[which] = {
            "startup_s": round(startup(which, args.runs), 3),
            "pio_exit_us": round(exit_cost_us(which, max(3, args.runs // 2), args.exits), 2),
            "compute_vs_native": round(cycles / native, 3),
            "peak_rss_mib": round(rss / 1024, 1),
            "vmm_overhead_mib": round((rss - touched) / 1024, 1),
        }
    results["guest_ram_touched_mib"] = round(touched / 1024, 2)
    rows = [("VMM start-up to guest exit (s)", "startup_s"), ("port-I/O exit round trip (us)", "pio_exit_us"),
            ("ring-3 compute, cycles vs native", "compute_vs_native"), ("peak RSS (MiB)", "peak_rss_mib"),
            ("RSS minus guest RAM touched (MiB)", "vmm_overhead_mib")]
    print(f"{'':38} {'pyqemu':>10} {'qemu':>10}")
    for label, key in rows:
        print(f"{label:38} {results['pyqemu'][key]:>10} {results['qemu'][key]:>10}")
    print(f"guest RAM touched: {results['guest_ram_touched_mib']} MiB; "
          f"exit cost ratio pyqemu/qemu: {results['pyqemu']['pio_exit_us'] / results['qemu']['pio_exit_us']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
