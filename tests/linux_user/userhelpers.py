"""Runners for the user-mode tests: pyqemu-riscv64 and the real qemu-riscv64
(a module of its own, so tests never import the ambiguous `conftest`)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

CC = "riscv64-linux-gnu-gcc"
PYQEMU = [sys.executable, "-m", "pyqemu.cli.user"]
TIMEOUT = 120


def run_pyqemu(args, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run(PYQEMU + [str(a) for a in args], capture_output=True, **kw)


def run_qemu(args, **kw) -> subprocess.CompletedProcess:
    if shutil.which("qemu-riscv64") is None:
        pytest.skip("qemu-riscv64 (qemu-user) is not installed")
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run(["qemu-riscv64"] + [str(a) for a in args], capture_output=True, **kw)
