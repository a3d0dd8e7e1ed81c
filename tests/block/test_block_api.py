"""The Python API other parts of pyqemu use: cache modes, resize, zero
writes, discard and block status, checked against the real tools."""
from __future__ import annotations

import json
import os

import pytest

from blockhelpers import needs_qemu, qemu

from pyqemu.block import BlockError, Status, open_image

pytestmark = needs_qemu


@pytest.mark.parametrize("cache", ["writeback", "none", "directsync", "unsafe", "writethrough"])
def test_cache_modes_unaligned_io(tmp_path, cache):
    image = tmp_path / "c.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", image, "4M", check=True)
    data = os.urandom(100000)
    try:
        blk = open_image(str(image), cache=cache)
    except BlockError as exc:        # a filesystem without O_DIRECT says so clearly
        assert "O_DIRECT" in str(exc)
        return
    with blk:
        blk.pwrite(777, data)
        blk.flush()
        assert blk.pread(777, len(data)) == data
    assert qemu("qemu-img", "check", image).rc == 0
    (tmp_path / "expected.raw").write_bytes(bytes(777) + data + bytes((4 << 20) - 777 - len(data)))
    assert qemu("qemu-img", "compare", tmp_path / "expected.raw", image).rc == 0


def test_grow_l1_and_shrink(tmp_path):
    image = tmp_path / "g.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=512", image, "1M", check=True)
    with open_image(str(image)) as blk:
        blk.pwrite(1000, b"a" * 3000)
        blk.truncate(4 << 20)                       # L1 table must move and grow
        assert blk.length == 4 << 20
        blk.pwrite((4 << 20) - 4096, b"b" * 4096)
        assert blk.pread(1000, 3000) == b"a" * 3000
    assert qemu("qemu-img", "check", image).rc == 0
    assert qemu("qemu-io", "-c", "read -P 0x62 4190208 4096", "-c", "read -P 0x61 1000 3000", image).rc == 0
    with open_image(str(image)) as blk:
        with pytest.raises(BlockError, match="--shrink"):
            blk.truncate(1 << 20)
        blk.truncate(1 << 20, shrink=True)
    assert qemu("qemu-img", "check", image).rc == 0
    assert json.loads(qemu("qemu-img", "info", "--output=json", image).out)["virtual-size"] == 1 << 20


def test_zero_discard_and_status(tmp_path):
    base = tmp_path / "base.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", base, "2M", check=True)
    qemu("qemu-io", "-c", "write -P 0x44 0 2M", base, check=True)
    top = tmp_path / "top.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, check=True)
    with open_image(str(top)) as blk:
        blk.pwrite(0, b"x" * 65536)
        blk.write_zeroes(65536, 65536)              # a zero cluster hides the backing data
        blk.discard(131072, 65536)                  # with a backing file: reads as zeroes too
        blk.write_zeroes(200000, 1000)              # partial: written as data
        status = blk.block_status(0, blk.length)
        assert status.status & Status.DATA and status.depth == 0 and status.length == 65536
        status = blk.block_status(65536, blk.length)
        assert status.status & Status.ZERO and status.status & Status.ALLOCATED
        status = blk.block_status(1 << 20, blk.length - (1 << 20))
        assert status.depth == 1 and status.status & Status.DATA
        assert blk.pread(65536, 131072) == bytes(131072)
        assert blk.pread(200000, 1000) == bytes(1000)
        assert blk.pread(201000, 100) == b"\x44" * 100
    assert qemu("qemu-img", "check", top).rc == 0
    r = qemu("qemu-io", "-c", "read -P 0x78 0 64k", "-c", "read -P 0 64k 128k", "-c", "read -P 0 200000 1000",
             "-c", "read -P 0x44 1M 1M", top)
    assert r.rc == 0 and "Pattern verification failed" not in r.out


@pytest.mark.parametrize("mode", ["metadata", "falloc", "full"])
def test_resize_with_preallocation(ours, tmp_path, mode):
    image = tmp_path / "p.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", image, "1M", check=True)
    qemu("qemu-io", "-c", "write -P 5 0 100k", image, check=True)
    assert ours("resize", f"--preallocation={mode}", image, "3M").rc == 0
    check = json.loads(qemu("qemu-img", "check", "--output=json", image).out)
    assert "corruptions" not in check and "leaks" not in check and check["allocated-clusters"] == 2 + 32
    assert qemu("qemu-io", "-c", "read -P 5 0 100k", "-c", "read -P 0 100k 2972k", image).rc == 0


def test_backend_serialises_threads(tmp_path):
    import threading
    image = tmp_path / "t.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", image, "8M", check=True)
    with open_image(str(image)) as blk:
        def writer(n):
            for i in range(64):
                blk.pwrite((n * 64 + i) * 8192 + 100, bytes([n + 1]) * 5000)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for n in range(4):
            assert blk.pread((n * 64 + 63) * 8192 + 100, 5000) == bytes([n + 1]) * 5000
    assert qemu("qemu-img", "check", image).rc == 0


def test_drive_options(tmp_path):
    from pyqemu.block import drive_from_options
    image = tmp_path / "d.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", image, "1M", check=True)
    with drive_from_options(f"file={image},format=qcow2,if=none,id=disk0,cache.direct=on,file.locking=off") as blk:
        assert blk.root.node_name == "disk0" and blk.root.file.cache == "none"
        # locking=off: QEMU may open it too (at the user's own risk, as with QEMU).
        assert qemu("qemu-io", "-c", "read 0 512", image).rc == 0
    with pytest.raises(BlockError, match="'vmdk' invalid format"):
        drive_from_options(f"file={image},format=vmdk")
