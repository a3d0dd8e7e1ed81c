"""The test program of the LLVM backend's region and cache tests
(src/regions.c: loops of several blocks, calls, a jump table, a page fault
in a hot loop), built once, and qemu-riscv64's output of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).parent / "src"
CC = "riscv64-linux-gnu-gcc"


@pytest.fixture(scope="session")
def regions_program(tmp_path_factory):
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} is not installed")
    out = tmp_path_factory.mktemp("llvm") / "regions"
    subprocess.run([CC, "-O2", "-static", "-o", str(out), str(SRC / "regions.c")], check=True)
    return out


@pytest.fixture(scope="session")
def regions_reference(regions_program):
    if shutil.which("qemu-riscv64") is None:
        pytest.skip("qemu-riscv64 is not installed")
    want = subprocess.run(["qemu-riscv64", str(regions_program)], capture_output=True, text=True,
                          timeout=60)
    assert want.returncode == 0, want.stderr
    assert "fault at +24576" in want.stdout      # the handler ran, on the protected page
    return want.stdout
