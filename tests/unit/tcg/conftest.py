"""The test programs of the LLVM backend's tests (src/*.c), built once with
the riscv64 cross compiler, and qemu-riscv64's output of the regions
program (loops of several blocks, calls, a jump table, a page fault in a
hot loop)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).parent / "src"
CC = "riscv64-linux-gnu-gcc"


@pytest.fixture(scope="session")
def cross_program(tmp_path_factory):
    """cross_program(name) -> src/<name>.c built static at -O2 (once)."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if shutil.which(CC) is None:
            pytest.skip(f"{CC} is not installed")
        if name not in built:
            out = tmp_path_factory.mktemp("llvm") / name
            subprocess.run([CC, "-O2", "-static", "-o", str(out), str(SRC / f"{name}.c")],
                           check=True)
            built[name] = out
        return built[name]
    return get


@pytest.fixture(scope="session")
def regions_program(cross_program):
    return cross_program("regions")


@pytest.fixture(scope="session")
def regions_reference(regions_program):
    if shutil.which("qemu-riscv64") is None:
        pytest.skip("qemu-riscv64 is not installed")
    want = subprocess.run(["qemu-riscv64", str(regions_program)], capture_output=True, text=True,
                          timeout=60)
    assert want.returncode == 0, want.stderr
    assert "fault at +24576" in want.stdout      # the handler ran, on the protected page
    return want.stdout
