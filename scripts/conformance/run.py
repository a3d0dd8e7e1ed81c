#!/usr/bin/env python3
"""Runs built riscv-tests ISA tests (ELF files) under an emulator and prints a
pass/fail table and a summary.

Each test runs as `EMULATOR -M virt -bios none -nographic -kernel T.elf`; the
test environment used by build_tests.py reports through the SiFive test
device (exit status 0 = pass) and prints "PASS" or "FAIL testnum=0x.." on the
UART.  rv32 ELFs go to the riscv32 emulator (the name with 64 replaced by 32
unless --emulator32 is given).

    run.py BUILD_DIR EMULATOR [--status-file F] [-j N] [-k SUBSTRING] [--timeout S]
           [--reference qemu-system-riscv64]

With --reference, every test first runs under the reference emulator (the
real QEMU); tests that fail there are listed as skipped, not failed: they
are local copies that do not suit the virt board (or rv32 wrappers of rv64
tests whose values only hold for rv64).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
ELFCLASS32 = 1


@dataclass(frozen=True)
class Outcome:
    test: str
    passed: bool
    symptom: str   # first symptom of a failure, "" when passed
    seconds: float


def is_rv32(elf: Path) -> bool:
    with elf.open("rb") as f:
        header = f.read(5)
    return header[4] == ELFCLASS32


def find_tests(build_dir: Path, needle: str | None) -> list[Path]:
    tests = []
    for path in sorted(build_dir.rglob("*")):
        if not path.is_file() or path.suffix in (".dump", ".log", ".txt"):
            continue
        with path.open("rb") as f:
            if f.read(4) != ELF_MAGIC:
                continue
        if needle and needle not in path.name:
            continue
        tests.append(path)
    return tests


def first_symptom(status: int | None, output: str, stderr: str) -> str:
    if status is None:
        tail = output.strip().splitlines()[-1:] or ["no output"]
        return f"timeout (last output: {tail[0][:80]})"
    for line in output.splitlines():
        if line.startswith(("FAIL", "unexpected trap")):
            return f"{line.strip()} (exit {status})"
    if "PASS" in output and status != 0:
        return f"printed PASS but exit status {status}"
    if status != 0:
        err = [l for l in stderr.strip().splitlines() if l.strip()]
        if err:
            return f"exit {status}: {err[-1].strip()[:160]}"
        return f"exit {status}, output {output.strip()[-80:]!r}"
    return "exit 0 without PASS on the UART"


def run_one(command: list[str], elf: Path, timeout: float) -> Outcome:
    argv = [*command, "-M", "virt", "-bios", "none", "-nographic", "-kernel", str(elf)]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        status, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        status, out, err = None, exc.stdout or b"", exc.stderr or b""
    except OSError as exc:
        return Outcome(elf.name, False, f"cannot run {argv[0]}: {exc}", 0.0)
    seconds = time.monotonic() - start
    output = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    passed = status == 0 and "PASS" in output
    return Outcome(elf.name, passed, "" if passed else first_symptom(status, output, stderr), seconds)


def emulator_for(elf: Path, cmd64: list[str], cmd32: list[str]) -> list[str]:
    return cmd32 if is_rv32(elf) else cmd64


def write_status(path: Path, outcomes: list[Outcome], label: str, skipped: list[str]) -> None:
    failed = [o for o in outcomes if not o.passed]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = []
    # a crash that breaks every test shows up once at the top, not 200 times
    common = collections.Counter(o.symptom for o in failed).most_common(3)
    for symptom, count in common:
        if count > 3:
            lines.append(f"COMMON ({count} tests): {symptom}")
    lines += [f"{o.test}: {o.symptom}" for o in failed]
    if skipped:
        lines.append(f"SKIPPED (fail on the reference, {len(skipped)}): {' '.join(sorted(skipped))}")
    lines.append(f"SUMMARY {now}: {len(outcomes) - len(failed)}/{len(outcomes)} passed, "
                 f"{len(failed)} failed ({label}; riscv-tests p and v envs, built locally; "
                 f"tests failing on the real QEMU left out)")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("emulator", help="command for rv64 tests, e.g. .venv/bin/pyqemu-system-riscv64")
    parser.add_argument("--emulator32", help="command for rv32 tests (default: EMULATOR with 64 -> 32)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("-k", dest="needle", help="only tests whose name contains this")
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    parser.add_argument("--reference", help="rv64 command of an emulator that defines which tests count")
    args = parser.parse_args(argv)

    if not args.build_dir.is_dir():
        print(f"run.py: {args.build_dir}: not a directory", file=sys.stderr)
        return 2
    cmd64 = shlex.split(args.emulator)
    cmd32 = shlex.split(args.emulator32) if args.emulator32 else [
        *cmd64[:-1], cmd64[-1].replace("riscv64", "riscv32")] if cmd64 else []
    if not cmd64:
        print("run.py: empty emulator command", file=sys.stderr)
        return 2
    tests = find_tests(args.build_dir, args.needle)
    if not tests:
        print(f"run.py: no ELF files under {args.build_dir}", file=sys.stderr)
        return 2

    skipped: list[str] = []
    if args.reference:
        ref64 = shlex.split(args.reference)
        ref32 = [*ref64[:-1], ref64[-1].replace("riscv64", "riscv32")]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            verdicts = list(pool.map(
                lambda t: run_one(emulator_for(t, ref64, ref32), t, min(args.timeout, 20.0)), tests))
        skipped = [v.test for v in verdicts if not v.passed]
        tests = [t for t, v in zip(tests, verdicts) if v.passed]
        for verdict in verdicts:
            if not verdict.passed:
                print(f"SKIP  {verdict.test:<32} fails on the reference: {verdict.symptom}", flush=True)

    started = time.monotonic()
    outcomes: list[Outcome] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, emulator_for(t, cmd64, cmd32), t, args.timeout) for t in tests]
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            if not args.quiet or not outcome.passed:
                mark = "PASS" if outcome.passed else "FAIL"
                detail = f"  {outcome.symptom}" if outcome.symptom else ""
                print(f"{mark}  {outcome.test:<32} {outcome.seconds:6.2f}s{detail}", flush=True)
    failed = sum(not o.passed for o in outcomes)
    elapsed = time.monotonic() - started
    note = f", {len(skipped)} skipped (fail on the reference)" if skipped else ""
    print(f"\n{len(outcomes) - failed}/{len(outcomes)} passed, {failed} failed{note}, {elapsed:.1f}s "
          f"with {shlex.join(cmd64)}")
    if args.status_file:
        write_status(args.status_file, outcomes, shlex.join(cmd64), skipped)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
