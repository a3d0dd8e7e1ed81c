"""Regions of the LLVM backend (a hot block compiled with the warm blocks
it jumps to, one native function) against qemu-riscv64: loops of several
blocks, calls and a jump table, and a page fault in the middle of a hot
loop whose handler reads the loop's progress, with regions and without.

Blocks are compiled after 50 runs here (PYQEMU_LLVM_HOT_RUNS), so the
loops of the program run natively, as regions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llvmlite")

SRC = Path(__file__).parent / "src"
CC = "riscv64-linux-gnu-gcc"


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} is not installed")
    out = tmp_path_factory.mktemp("llvm") / "regions"
    subprocess.run([CC, "-O2", "-static", "-o", str(out), str(SRC / "regions.c")], check=True)
    return out


@pytest.fixture(scope="module")
def reference(program):
    if shutil.which("qemu-riscv64") is None:
        pytest.skip("qemu-riscv64 is not installed")
    want = subprocess.run(["qemu-riscv64", str(program)], capture_output=True, text=True,
                          timeout=60)
    assert want.returncode == 0, want.stderr
    assert "fault at +24576" in want.stdout      # the handler ran, on the protected page
    return want.stdout


@pytest.mark.parametrize("region_blocks", ["8", "1"])
def test_regions_match_qemu(program, reference, region_blocks):
    env = dict(os.environ, PYQEMU_LLVM_HOT_RUNS="50", PYQEMU_LLVM_REGION=region_blocks)
    got = subprocess.run([sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", "llvm",
                          str(program)], capture_output=True, text=True, env=env, timeout=120)
    assert (got.returncode, got.stdout) == (0, reference), got.stderr[-2000:]
