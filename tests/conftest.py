"""Shared fixtures: building the test guests and running them under the real
QEMU and under pyqemu."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "guests"))

import build as guest_build  # noqa: E402  (tests/guests is not a package)

VENV_BIN = REPO / ".venv" / "bin"
# Seconds a guest may run; real QEMU needs well under one, pyqemu's budget is
# a few seconds per guest (each guest is well under a million instructions).
QEMU_TIMEOUT = 20
PYQEMU_TIMEOUT = float(os.environ.get("PYQEMU_GUEST_TIMEOUT", "30"))
# After this many pyqemu timeouts in one session the remaining guests fail at
# once instead of each waiting out the timeout (keeps a hung build from
# stretching the suite to an hour).
PYQEMU_TIMEOUTS_BEFORE_GIVING_UP = 2


@dataclass(frozen=True)
class GuestRun:
    """What a guest did: its UART output and the emulator's exit status."""

    command: tuple[str, ...]
    output: str
    stderr: str
    status: int | None  # None: killed at the timeout

    def describe(self) -> str:
        tail = "\n".join(self.output.splitlines()[-15:])
        return (f"command: {' '.join(self.command)}\nstatus: {self.status}\n"
                f"output tail:\n{tail}\nstderr:\n{self.stderr[-2000:]}")


def machine_args(elf: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return ["-M", "virt", "-bios", "none", "-nographic", *extra, "-kernel", str(elf)]


def run_guest(binary: str, elf: Path, timeout: float, extra: tuple[str, ...] = ()) -> GuestRun:
    command = (binary, *machine_args(elf, extra))
    try:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return GuestRun(command, _text(exc.stdout), _text(exc.stderr), None)
    return GuestRun(command, _text(proc.stdout), _text(proc.stderr), proc.returncode)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    # QEMU's -nographic stdio may add carriage returns; the guests print "\n".
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def qemu_binary(xlen: int) -> str | None:
    return shutil.which(f"qemu-system-riscv{xlen}")


def pyqemu_binary(xlen: int) -> str | None:
    path = VENV_BIN / f"pyqemu-system-riscv{xlen}"
    return str(path) if path.exists() else shutil.which(path.name)


@pytest.fixture(scope="session")
def guest_elf():
    """Returns a function name -> path of the built guest ELF (skips when the
    cross compiler is missing)."""
    if shutil.which(guest_build.COMPILER) is None:
        pytest.skip(f"{guest_build.COMPILER} is not installed (apt install gcc-riscv64-unknown-elf)")

    def get(name: str) -> Path:
        return guest_build.build(guest_build.GUESTS[name])

    return get


@pytest.fixture(scope="session")
def qemu_runs(guest_elf):
    """Runs each guest once per session under the real QEMU (memoised: both
    the QEMU check and the comparison with pyqemu use the same run)."""
    cache: dict[str, GuestRun] = {}

    def run(name: str) -> GuestRun:
        if name not in cache:
            guest = guest_build.GUESTS[name]
            binary = qemu_binary(guest.xlen)
            if binary is None:
                pytest.skip(f"qemu-system-riscv{guest.xlen} is not installed")
            cache[name] = run_guest(binary, guest_elf(name), QEMU_TIMEOUT, guest.extra_args)
        return cache[name]

    return run


@pytest.fixture(scope="session")
def pyqemu_run(guest_elf):
    timeouts: list[str] = []

    def run(name: str, backend: str | None = None) -> GuestRun:
        guest = guest_build.GUESTS[name]
        binary = pyqemu_binary(guest.xlen)
        if binary is None:
            pytest.fail(f"pyqemu-system-riscv{guest.xlen} is not installed in {VENV_BIN}")
        if len(timeouts) >= PYQEMU_TIMEOUTS_BEFORE_GIVING_UP:
            pytest.fail(f"not run: pyqemu already timed out on {', '.join(timeouts)}")
        extra = guest.extra_args + (("-tcg-backend", backend) if backend else ())
        result = run_guest(binary, guest_elf(name), PYQEMU_TIMEOUT, extra)
        if result.status is None:
            timeouts.append(f"{name} ({backend or 'default backend'})")
        return result

    return run


# -- the JIT's code cache ----------------------------------------------------------------
# Every emulator the suite starts (and the in-process compiler) gets one fresh
# on-disk JIT cache for the session: the tests compile what they run rather
# than load what an earlier session left, and leave nothing in ~/.cache.
_JIT_CACHE: list[str] = []


def pytest_configure(config):
    import tempfile
    _JIT_CACHE.append(tempfile.mkdtemp(prefix="pyqemu-jit-cache-"))
    os.environ["PYQEMU_JIT_CACHE"] = _JIT_CACHE[0]


def pytest_unconfigure(config):
    for path in _JIT_CACHE:
        shutil.rmtree(path, ignore_errors=True)


# -- long Linux boots ------------------------------------------------------------------
# A test module may define `start_boots()` (and `stop_boots()`): Linux guests
# that take minutes to boot. They start as soon as the session knows the
# module is selected, and its tests run last, so the boots run beside the
# rest of the suite on the machine's second core instead of after it.
_BOOT_MODULES: list = []


@pytest.hookimpl(trylast=True)      # after -k/-m deselection: only selected modules boot
def pytest_collection_modifyitems(session, config, items):
    booting = []
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "start_boots"):
            booting.append(item)
            if module not in _BOOT_MODULES:
                _BOOT_MODULES.append(module)
    for module in _BOOT_MODULES:
        module.start_boots()
    if booting:
        waiting = set(map(id, booting))
        items[:] = [i for i in items if id(i) not in waiting] + booting


def pytest_sessionfinish(session, exitstatus):
    for module in _BOOT_MODULES:
        stop = getattr(module, "stop_boots", None)
        if stop is not None:
            stop()
