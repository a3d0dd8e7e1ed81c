"""Fixtures of the gdbstub tests: the debuggee guest (built with Debian's
riscv64-unknown-elf-gcc, -g) and emulators whose gdbstub is started with
HMP `gdbserver` over QMP, for pyqemu and the real qemu-system-riscv64 alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gdbhelpers import GdbTarget  # noqa: E402


@pytest.fixture(scope="session")
def debuggee(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gdbstub-guest") / "debuggee.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv64imafdc_zicsr", "-mabi=lp64d",
                    "-mcmodel=medany", "-nostdlib", "-ffreestanding", "-O1", "-g",
                    "-Wl,-Ttext=0x80000000", str(HERE / "guest" / "start.S"),
                    str(HERE / "guest" / "debuggee.c"), "-o", str(out)], check=True)
    return out


@pytest.fixture
def target(tmp_path):
    started: list[GdbTarget] = []

    def start(binary: str, elf: Path, *extra) -> GdbTarget:
        t = GdbTarget(binary, elf, tmp_path, extra)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()
