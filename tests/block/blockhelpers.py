"""Shared helpers for the block-layer tests: run our tool in-process, the
real qemu-img/qemu-io as subprocesses."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pyqemu.tools.img import main as img_main

HAVE_QEMU = shutil.which("qemu-img") is not None and shutil.which("qemu-io") is not None
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="qemu-utils (qemu-img, qemu-io) not installed")


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err


@pytest.fixture
def ours(capsys):
    """Run pyqemu-img in this process: ours("info", path) -> Result."""
    def run(*args):
        capsys.readouterr()
        try:
            rc = img_main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code
        captured = capsys.readouterr()
        return Result(rc, captured.out, captured.err)
    return run


def qemu(*args, check=False, input=None):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr}")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ours_subprocess(*args):
    proc = subprocess.run([sys.executable, "-m", "pyqemu.tools.img", *map(str, args)], capture_output=True,
                          text=True)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def random_raw(path, size, seed=1, fill=0.5, granule=65536):
    """A raw image with `fill` of its granules random, the rest holes."""
    import random
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, granule):
            if rng.random() < fill:
                f.seek(off)
                f.write(rng.randbytes(min(granule, size - off)))
    return path


def read_file(path):
    with open(path, "rb") as f:
        return f.read()
