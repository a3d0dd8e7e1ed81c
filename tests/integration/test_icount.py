"""-icount: virtual time counted in guest instructions.

The timer guests (mtimecmp and stimecmp interrupts, WFI, the `time` CSR)
must behave under instruction-counted time exactly as under host time, and
as on the real QEMU: same UART output, same exit status. sleep=off jumps
over idle time, so a guest that sleeps long finishes at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PYQEMU = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pyqemu-system-riscv64")


def run(elf: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", "-nographic", *extra,
                           "-kernel", str(elf)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)

TIMER_GUESTS = ["timer", "traps", "zicntr"]


def _comparable(output: str) -> str:
    """Without the `spec-only` lines, where QEMU 7.2 deviates from the spec
    (test_guests.py checks those against the spec)."""
    return "".join(line for line in output.splitlines(keepends=True)
                   if not line.startswith("spec-only "))


@pytest.mark.parametrize("icount", ["off", "shift=0", "shift=4,sleep=off", "7"])
@pytest.mark.parametrize("name", TIMER_GUESTS)
def test_timer_guests_match_qemu_under_icount(name, icount, qemu_runs, guest_elf):
    reference = qemu_runs(name)
    ours = run(guest_elf(name), "-icount", icount)
    assert ours.returncode == reference.status, ours.stdout[-2000:] + ours.stderr[-2000:]
    assert _comparable(ours.stdout) == _comparable(reference.output), \
        ours.stdout[-2000:] + ours.stderr[-2000:]


def test_bad_icount_is_one_line_error(guest_elf):
    proc = run(guest_elf("hello"), "-icount", "auto")
    assert proc.returncode == 1
    assert "-icount auto" in proc.stderr and "Traceback" not in proc.stderr

