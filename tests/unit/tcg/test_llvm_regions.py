"""Regions of the LLVM backend (a hot block compiled with the warm blocks
it jumps to, one native function) against qemu-riscv64: loops of several
blocks, calls and a jump table, and a page fault in the middle of a hot
loop whose handler reads the loop's progress, with regions and without.

Blocks are compiled after 50 runs here (PYQEMU_LLVM_HOT_RUNS), so the
loops of the program run natively, as regions. One run also compiles them
at -O0 first and again at -O1 after 1000 instructions
(PYQEMU_LLVM_PROMOTE), as the system emulator does after more.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("llvmlite")


@pytest.mark.parametrize("region_blocks", ["8", "1"])
def test_regions_match_qemu(regions_program, regions_reference, region_blocks):
    env = dict(os.environ, PYQEMU_LLVM_HOT_RUNS="50", PYQEMU_LLVM_REGION=region_blocks)
    got = subprocess.run([sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", "llvm",
                          str(regions_program)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert (got.returncode, got.stdout) == (0, regions_reference), got.stderr[-2000:]


def test_regions_promoted_to_o1_match_qemu(regions_program, regions_reference, tmp_path):
    stats = tmp_path / "stats"
    env = dict(os.environ, PYQEMU_LLVM_HOT_RUNS="50", PYQEMU_LLVM_PROMOTE="1000",
               PYQEMU_STATS_FILE=str(stats))
    got = subprocess.run([sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", "llvm",
                          str(regions_program)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert (got.returncode, got.stdout) == (0, regions_reference), got.stderr[-2000:]
    st = dict(line.split("=", 1) for line in stats.read_text().split())
    # The hot loops ran at both levels: compiled at -O0, then again at -O1.
    assert int(st["jit_promoted"]) > 0, st
