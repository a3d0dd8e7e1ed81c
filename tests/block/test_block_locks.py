"""Image locking: our OFD locks and QEMU's exclude each other both ways,
with QEMU's messages; inactive nodes hold no write lock."""
from __future__ import annotations

import subprocess
import time

import pytest

from blockhelpers import needs_qemu, ours_subprocess, qemu

from pyqemu.block import BlockError, open_image
from pyqemu.block.locking import F_OFD_GETLK  # noqa: F401  (the platform has OFD locks)

pytestmark = needs_qemu


def held_lock_bytes(path) -> list[int]:
    """Bytes locked on `path` by anyone, from /proc/locks."""
    import os
    inode = os.stat(path).st_ino
    found = []
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[1] == "OFDLCK" and parts[5].endswith(f":{inode}"):
                start, end = int(parts[6]), int(parts[7])
                found.extend(range(start, end + 1))
    return sorted(found)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "l.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", path, "1M", check=True)
    return path


def _qemu_io_holding(path, *args):
    proc = subprocess.Popen(["qemu-io", *args, "-c", "sleep 30000", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    for _ in range(100):
        if held_lock_bytes(path):
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("qemu-io took no lock")


def test_our_lock_bytes_are_qemus(image):
    with open_image(str(image)) as blk:
        assert held_lock_bytes(image) == [100, 101, 103, 201, 203]
    with open_image(str(image), read_only=True):
        assert held_lock_bytes(image) == [100, 201, 203]
    with open_image(str(image), read_only=True, force_share=True):
        assert held_lock_bytes(image) == [100]
    assert held_lock_bytes(image) == []


def test_qemu_writer_excludes_us(ours, image):
    proc = _qemu_io_holding(image)
    try:
        r = ours("info", image)
        assert r.rc == 1
        assert r.err == (f"pyqemu-img: Could not open '{image}': Failed to get shared \"write\" lock\n"
                         f"Is another process using the image [{image}]?\n")
        with pytest.raises(BlockError, match='Failed to get "write" lock'):
            open_image(str(image))
        assert ours("info", "-U", image).rc == 0          # force-share reads
    finally:
        proc.kill()
        proc.wait()


def test_we_exclude_qemu(image):
    with open_image(str(image)):
        r = qemu("qemu-io", "-c", "read 0 512", image)
        assert r.rc == 1
        assert 'Failed to get "write" lock' in r.err and f"Is another process using the image [{image}]?" in r.err
        r = qemu("qemu-img", "info", image)
        assert r.rc == 1 and 'Failed to get shared "write" lock' in r.err
        assert qemu("qemu-img", "info", "-U", image).rc == 0
    with open_image(str(image), read_only=True):
        assert qemu("qemu-io", "-r", "-c", "read 0 512", image).rc == 0    # readers share
        assert 'Failed to get "write" lock' in qemu("qemu-io", "-c", "read 0 512", image).err


def test_two_of_our_processes_exclude_each_other(image):
    with open_image(str(image)):
        r = ours_subprocess("check", image)
        assert r.rc == 1 and 'Failed to get shared "write" lock' in r.err
        assert "Traceback" not in r.err


def test_inactive_node_refuses_writes_and_releases_write_lock(image):
    blk = open_image(str(image))
    try:
        blk.pwrite(0, b"a" * 512)
        blk.inactivate()
        assert held_lock_bytes(image) == [100]
        with pytest.raises(BlockError, match="inactive"):
            blk.pwrite(0, b"b" * 512)
        assert blk.pread(0, 512) == b"a" * 512
        # Another owner (QEMU) may now write; activation re-reads its metadata.
        qemu("qemu-io", "-c", "write -P 0x77 65536 4096", image, check=True)
        blk.activate()
        assert held_lock_bytes(image) == [100, 101, 103, 201, 203]
        assert blk.pread(65536, 4096) == b"\x77" * 4096
        blk.pwrite(131072, b"c" * 4096)
    finally:
        blk.close()
    assert qemu("qemu-img", "check", image).rc == 0


def test_incoming_inactive_open_takes_no_lock(image):
    proc = _qemu_io_holding(image)
    try:
        blk = open_image(str(image), inactive=True)
    finally:
        proc.kill()
        proc.wait()
    try:
        assert held_lock_bytes(image) == []
        blk.activate()
        assert held_lock_bytes(image) == [100, 101, 103, 201, 203]
    finally:
        blk.close()
