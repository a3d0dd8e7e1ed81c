"""Fixtures for the user-mode tests: riscv64 programs built from src/ with
the Debian cross compiler (cached by source hash), the Debian sysroot from
scripts/sysroot/build.sh, and runners for pyqemu-riscv64 and the real
qemu-riscv64."""

from __future__ import annotations

import hashlib
import shutil
import os
import subprocess
import sys
from pathlib import Path

import pytest

from userhelpers import CC

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SRC = HERE / "src"
CACHE = Path.home() / ".cache" / "pyqemu" / "linux_user"
SYSROOT = Path(os.environ.get("PYQEMU_SYSROOT", Path.home() / ".cache" / "pyqemu" / "sysroot"))
CROSS_SYSROOT = "/usr/riscv64-linux-gnu"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a minute of guest time (python3.13); "
                            "deselect with -m 'not slow'")


# Programs that need their own link flags.
SPECIAL_FLAGS = {"spie": ["-nostdlib", "-nostartfiles", "-fPIE", "-pie", "-Wl,--no-dynamic-linker"]}


def _build(name: str, static: bool) -> Path:
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} is not installed")
    src = SRC / f"{name}.c"
    digest = hashlib.sha256(src.read_bytes() + (b"static" if static else b"dyn")).hexdigest()[:16]
    out = CACHE / f"{name}-{'static' if static else 'dyn'}-{digest}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        cmd = [CC, "-O1", "-pthread", "-o", str(tmp), str(src)]
        cmd += SPECIAL_FLAGS.get(name, ["-static"] if static else [])
        subprocess.run(cmd, check=True)
        tmp.rename(out)
    return out


@pytest.fixture(scope="session")
def static_prog():
    return lambda name: _build(name, True)


@pytest.fixture(scope="session")
def dynamic_prog():
    return lambda name: _build(name, False)


@pytest.fixture(scope="session")
def sysroot() -> Path:
    """The Debian trixie riscv64 sysroot (built once, then cached)."""
    done = SYSROOT / ".complete"
    if not done.exists() or not done.read_text().startswith("v2 "):
        env = dict(os.environ, PYQEMU_RISCV64=f"{sys.executable} -m pyqemu.cli.user")
        r = subprocess.run(["sh", str(REPO / "scripts" / "sysroot" / "build.sh"), str(SYSROOT)],
                           capture_output=True, text=True, timeout=600, env=env)
        if r.returncode != 0:
            pytest.skip(f"sysroot could not be built: {r.stderr.strip().splitlines()[-1:]}")
    return SYSROOT
