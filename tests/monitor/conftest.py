"""Fixtures for the monitor tests: tiny bare-metal guests (assembled with
Debian's riscv64-unknown-elf-gcc, -bios none) and emulator launchers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from monhelpers import GUESTS, PYQEMU, Emulator  # noqa: E402


@pytest.fixture(scope="session")
def guests(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("monitor-guests")
    paths = {}
    for name, src in GUESTS.items():
        s = out / f"{name}.S"
        s.write_text(src)
        elf = out / f"{name}.elf"
        subprocess.run(["riscv64-unknown-elf-gcc", "-nostdlib", "-Ttext=0x80000000", str(s),
                        "-o", str(elf)], check=True)
        paths[name] = elf
    return paths


@pytest.fixture
def launch(tmp_path):
    started: list[Emulator] = []

    def start(elf, *extra, binary=PYQEMU, qmp=True, name="qmp") -> Emulator:
        e = Emulator(binary, elf, tmp_path, extra, qmp, name)
        started.append(e)
        return e

    yield start
    for e in started:
        e.close()
