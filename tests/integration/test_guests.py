"""Every test guest under the real QEMU and under pyqemu: same UART output,
same exit status.

The QEMU run also proves the guest itself: guests check their results and
exit non-zero on a mismatch, so a guest that fails on QEMU is a broken guest
(or a QEMU deviation from the spec, which the guest then documents)."""

from __future__ import annotations

import difflib

import pytest

import build as guest_build

GUEST_NAMES = list(guest_build.GUESTS)


@pytest.mark.parametrize("name", GUEST_NAMES)
def test_guest_passes_on_qemu(name, qemu_runs):
    run = qemu_runs(name)
    guest = guest_build.GUESTS[name]
    assert run.status == guest.expected_exit, run.describe()
    assert run.output.rstrip().endswith(f"exit: {'PASS' if guest.expected_exit == 0 else 'FAIL'} "
                                        f"{guest.expected_exit}"), run.describe()


SPEC_ONLY = "spec-only "


def _comparable(output: str) -> str:
    """The output without the lines where QEMU 7.2 deviates from the spec."""
    return "".join(line for line in output.splitlines(keepends=True)
                   if not line.startswith(SPEC_ONLY))


def _first_difference(expected: str, actual: str) -> str:
    diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                "qemu", "pyqemu", n=2, lineterm="")
    return "\n".join(list(diff)[:40])


# Every TCG backend must pass the same guests.
@pytest.mark.parametrize("backend", ["interp", "pycodegen", "llvm"])
@pytest.mark.parametrize("name", GUEST_NAMES)
def test_guest_matches_qemu(name, backend, qemu_runs, pyqemu_run, monkeypatch):
    if backend == "llvm":
        # Compile after a few runs, not the default thousand, and compile
        # again at -O1 after a few thousand instructions at -O0: the guests
        # are short, and their hot code must run natively, at both levels.
        monkeypatch.setenv("PYQEMU_LLVM_HOT_RUNS", "20")
        monkeypatch.setenv("PYQEMU_LLVM_PROMOTE", "2000")
    reference = qemu_runs(name)
    ours = pyqemu_run(name, backend)
    assert ours.status is not None, f"pyqemu timed out\n{ours.describe()}"
    expected, actual = _comparable(reference.output), _comparable(ours.output)
    assert actual == expected, (
        f"UART output differs:\n{_first_difference(expected, actual)}\n{ours.describe()}")
    assert ours.status == reference.status, ours.describe()
    # Where QEMU 7.2 deviates, pyqemu follows the spec (see check_spec()).
    spec_lines = [line for line in ours.output.splitlines() if line.startswith(SPEC_ONLY)]
    assert len(spec_lines) == reference.output.count("\n" + SPEC_ONLY), ours.describe()
    assert not [line for line in spec_lines if "MISMATCH" in line], "\n".join(spec_lines)
