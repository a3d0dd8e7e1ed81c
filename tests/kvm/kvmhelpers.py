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


def run_until(cmd: list[str], pattern: bytes, timeout: float) -> tuple[float | None, bytes]:
    """Start `cmd`, read its stdout until `pattern` shows up (or `timeout`
    seconds pass), then end it. (seconds to the pattern or None, output)."""
    import os
    import selectors
    import time
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, cwd=ROOT)
    out = b""
    found = None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        while time.monotonic() - start < timeout:
            if not sel.select(0.2):
                if p.poll() is not None:
                    break
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            if pattern in out:
                found = time.monotonic() - start
                break
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sel.close()
        p.stdout.close()
    return found, out


def ours_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyqemu.cli.system_x86", *args]
