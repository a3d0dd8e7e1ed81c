"""-icount: virtual time counted in guest instructions.

The timer guests (mtimecmp and stimecmp interrupts, WFI, the `time` CSR)
must behave under instruction-counted time exactly as under host time, and
as on the real QEMU: same UART output, same exit status. sleep=off jumps
over idle time, so a guest that sleeps long finishes at once."""

from __future__ import annotations

import subprocess

import pytest

from conftest import PYQEMU_TIMEOUT, machine_args, pyqemu_binary, run_guest

TIMER_GUESTS = ["timer", "traps", "zicntr"]


@pytest.mark.parametrize("icount", ["shift=0", "shift=4,sleep=off", "7"])
@pytest.mark.parametrize("name", TIMER_GUESTS)
def test_timer_guests_match_qemu_under_icount(name, icount, qemu_runs, guest_elf):
    reference = qemu_runs(name)
    ours = run_guest(pyqemu_binary(64), guest_elf(name), PYQEMU_TIMEOUT, ("-icount", icount))
    assert ours.status == reference.status, ours.describe()
    assert ours.output == reference.output, ours.describe()


def test_bad_icount_is_one_line_error(guest_elf):
    proc = subprocess.run([pyqemu_binary(64), *machine_args(guest_elf("hello")), "-icount", "auto"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "-icount auto" in proc.stderr and "Traceback" not in proc.stderr

