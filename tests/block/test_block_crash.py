"""Crash safety: a writer killed at random points leaves at worst leaked
clusters, by our check and by the real qemu-img check."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import shutil

import pytest

from blockhelpers import needs_qemu, qemu

pytestmark = needs_qemu

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _kill_at_random_point(image: Path, seed: int, rng: random.Random) -> None:
    """Run the writer and SIGKILL it: with strace, exactly at a random pwrite
    (so every step of the metadata write ordering gets hit); else after a
    random delay."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, str(WRITER), str(image), str(seed)]
    if shutil.which("strace"):
        when = rng.randrange(5, 1500)
        cmd = ["strace", "-qq", "-o", "/dev/null", "-e", "trace=pwrite64",
               "-e", f"inject=pwrite64:signal=KILL:when={when}"] + cmd
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
        assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), proc.stderr.decode()[-2000:]
        return
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline() == b"ready\n", proc.stderr.read()
    time.sleep(rng.uniform(0.05, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("opts,size", [
    ("cluster_size=512,refcount_bits=64", "3M"),    # many refcount blocks, refcount table growth
    ("cluster_size=4096,refcount_bits=2", "8M"),
    ("cluster_size=65536", "16M"),
])
def test_killed_writer_leaves_only_leaks(ours, tmp_path, opts, size):
    image = tmp_path / "crash.qcow2"
    assert ours("create", "-f", "qcow2", "-o", opts, image, size).rc == 0
    rng = random.Random(sum(map(ord, opts)))
    leaks_seen = 0
    for round_ in range(5):
        _kill_at_random_point(image, round_, rng)
        theirs = qemu("qemu-img", "check", "--output=json", image)
        assert theirs.rc in (0, 3), theirs.out + theirs.err
        assert '"corruptions"' not in theirs.out
        mine = ours("check", image)
        assert mine.rc == theirs.rc, mine.out + mine.err
        leaks_seen += theirs.rc == 3
        if round_ % 2:
            assert ours("check", "-r", "leaks", image).rc == 0
            assert qemu("qemu-img", "check", image).rc == 0
    # The writer keeps its data consistent for both readers.
    qemu("qemu-img", "convert", "-O", "raw", image, tmp_path / "q.raw")
    assert ours("convert", "-O", "raw", image, tmp_path / "o.raw").rc == 0
    assert (tmp_path / "q.raw").read_bytes() == (tmp_path / "o.raw").read_bytes()
