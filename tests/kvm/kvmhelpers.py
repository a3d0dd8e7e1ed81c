"""Helpers of tests/kvm (a module of its own, so imports never resolve to
another directory's conftest)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyqemu.accel.kvm.system import probe

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("x86_guest_build", ROOT / "tests" / "x86_guests" / "build.py")
guest_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guest_build)

KVM_PROBLEM = probe()
QEMU = shutil.which("qemu-system-x86_64")


def ours(*args: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyqemu.cli.system_x86", *args],
                          capture_output=True, timeout=timeout, cwd=ROOT, **kw)


def qemu(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    return subprocess.run([QEMU, "-enable-kvm", "-M", "microvm", *args],
                          capture_output=True, timeout=timeout)
