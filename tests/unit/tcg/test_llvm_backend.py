"""The LLVM backend under the user-mode emulator, against qemu-riscv64:
self-modifying code (stores to a page of compiled code, fence.i) and the
`-d out_asm` log of the native code.

Blocks are compiled after 50 runs here (PYQEMU_LLVM_HOT_RUNS), so the loop
of the test program runs natively, not on the Python tiers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("llvmlite")


@pytest.fixture(scope="module")
def smc_binary(cross_program):
    return cross_program("smc")


def _ours(*args):
    env = dict(os.environ, PYQEMU_LLVM_HOT_RUNS="50")
    return subprocess.run([sys.executable, "-m", "pyqemu.cli.user", "-tcg-backend", "llvm", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_self_modifying_code_matches_qemu(smc_binary):
    if shutil.which("qemu-riscv64") is None:
        pytest.skip("qemu-riscv64 is not installed")
    want = subprocess.run(["qemu-riscv64", str(smc_binary)], capture_output=True, text=True,
                          timeout=60)
    got = _ours(str(smc_binary))
    assert want.returncode == 0, want.stderr
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr[-2000:]


def test_out_asm_shows_the_native_code(smc_binary):
    got = _ours("-d", "out_asm", str(smc_binary))
    assert got.returncode == 0, got.stderr[-2000:]
    assert "OUT: [size=" in got.stderr
    # x86-64 assembly of a block function: its symbol and a return.
    assert ".type\ttb" in got.stderr and "\tretq" in got.stderr
