"""Bad images and bad options: one clear line naming the image, no traceback,
no hang, and no write to an image found corrupt."""
from __future__ import annotations

import struct

import pytest

from blockhelpers import needs_qemu, ours_subprocess, qemu, read_file

from pyqemu.block import BlockError, ImageCorrupt, blockdev_from_options, drive_from_options, open_image
from pyqemu.block.options import parse_option_string, parse_size

pytestmark = needs_qemu


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "i.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", path, "4M", check=True)
    qemu("qemu-io", "-c", "write -P 0x33 0 128k", path, check=True)
    return path


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("what,offset,data,message", [
    ("magic", 0, b"QFI\x00", None),                       # no longer qcow2: probed as raw, opens fine
    ("version", 4, struct.pack(">I", 9), "Unsupported qcow2 version 9"),
    ("cluster bits", 20, struct.pack(">I", 40), "Unsupported cluster size"),
    ("l1 offset", 40, struct.pack(">Q", 1 << 50), "L1 table offset"),
    ("reftable offset", 48, struct.pack(">Q", 1 << 50), "refcount table offset"),
    ("absurd l1 size", 36, struct.pack(">I", 0x7FFFFFFF), "Active L1 table too large"),
    ("absurd size", 24, struct.pack(">Q", 1 << 62), "L1 table too small"),
    ("unknown feature", 72, struct.pack(">Q", 1 << 40), "Unsupported qcow2 feature"),
    ("l2 past eof", 0x30000, struct.pack(">Q", (1 << 63) | (1 << 40)), "L2 table offset"),
    ("refblock past eof", 0x10000, struct.pack(">Q", 1 << 40), "Refcount block offset"),
])
def test_corrupted_header_and_tables(tmp_path, image, what, offset, data, message):
    patch(image, offset, data)
    r = ours_subprocess("info", image)
    assert "Traceback" not in r.err
    if message is None:
        assert r.rc == 0 and "file format: raw" in r.out
        return
    assert r.rc == 1, r.out
    assert r.err.startswith("pyqemu-img: ") and message in r.err and str(image) in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_data_cluster_into_metadata_is_caught_and_image_marked_corrupt(image, tmp_path):
    """An L2 entry pointing past the end of the file: reading fails cleanly,
    the image gets the corrupt bit, and later opens are read-only."""
    l2 = struct.unpack(">Q", read_file(image)[0x30000:0x30008])[0] & 0x00FFFFFFFFFFFE00
    patch(image, l2, struct.pack(">Q", (1 << 63) | (1 << 44)))
    blk = open_image(str(image))
    with pytest.raises(ImageCorrupt, match="Marking image as corrupt"):
        blk.pread(0, 4096)
    before = read_file(image)
    with pytest.raises(BlockError):
        blk.pwrite(65536, b"x" * 512)
    blk.close()
    assert read_file(image)[512:] == before[512:]
    with pytest.raises(ImageCorrupt, match="is corrupt; cannot be opened read/write"):
        open_image(str(image))
    assert "corrupt: true" in qemu("qemu-img", "info", image).out
    with open_image(str(image), read_only=True) as blk:     # still readable where sound
        assert blk.pread(2 << 20, 512) == bytes(512)


def test_refcount_overflow_is_an_error(tmp_path):
    path = tmp_path / "o.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-o", "refcount_bits=1", path, "1M", check=True)
    qemu("qemu-io", "-c", "write -P 1 0 64k", path, check=True)
    r = ours_subprocess("snapshot", "-c", "s1", path)        # would need refcount 2 > 1
    assert r.rc == 1 and "Refcount overflow" in r.err and "Traceback" not in r.err
    assert qemu("qemu-img", "check", path).rc in (0, 3)


def test_backing_loop(tmp_path):
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", a, "1M", check=True)
    qemu("qemu-img", "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b, check=True)
    qemu("qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a, check=True)
    r = ours_subprocess("info", "--backing-chain", b)
    assert r.rc == 1 and "loops" in r.err and "Traceback" not in r.err


def test_bad_sizes_and_options(tmp_path):
    r = ours_subprocess("create", "-f", "qcow2", tmp_path / "x.qcow2", "12Q")
    assert r.rc == 1 and "Invalid image size" in r.err
    r = ours_subprocess("create", "-f", "qcow2", "-o", "cluster_size=3000", tmp_path / "x.qcow2", "1M")
    assert r.rc == 1 and "Cluster size must be a power of two" in r.err
    r = ours_subprocess("create", "-f", "qcow2", tmp_path / "x.qcow2", "9E")
    assert r.rc == 1 and "Traceback" not in r.err
    r = ours_subprocess("info", tmp_path / "missing")
    assert r.rc == 1 and r.err == (f"pyqemu-img: Could not open '{tmp_path / 'missing'}': "
                                   "No such file or directory\n")
    r = ours_subprocess("frobnicate")
    assert r.rc == 1 and "Command not found: frobnicate" in r.err


def test_option_parsing_and_blockdev_api(tmp_path, image):
    assert parse_option_string("driver=qcow2,file.driver=file,file.filename=a,,b,node-name=n0") == {
        "driver": "qcow2", "file": {"driver": "file", "filename": "a,b"}, "node-name": "n0"}
    assert parse_size("1.5M") == 1572864 and parse_size("512") == 512
    blk = blockdev_from_options(f"driver=qcow2,file.filename={image},node-name=disk0")
    try:
        assert blk.root.node_name == "disk0" and blk.root.driver == "qcow2"
        assert blk.pread(0, 4) == b"\x33" * 4
        blk.pwrite(1 << 20, b"abc")
        blk.write_zeroes(0, 65536)
        blk.discard(65536, 65536)
        blk.flush()
        ext = blk.block_status(0, blk.length)
        assert ext.length == 65536
    finally:
        blk.close()
    assert qemu("qemu-img", "check", image).rc == 0
    with drive_from_options(f"file={image},format=qcow2,readonly=on") as blk:
        assert blk.pread(1 << 20, 3) == b"abc"
        with pytest.raises(BlockError, match="read-only"):
            blk.pwrite(0, b"x")
    # snapshot=on: writes go to a temporary overlay, the image is untouched.
    before = read_file(image)
    with drive_from_options(f"file={image},format=qcow2,snapshot=on") as blk:
        blk.pwrite(0, b"temp" * 1024)
        assert blk.pread(0, 4) == b"temp"
    assert read_file(image) == before
    with pytest.raises(BlockError, match="Parameter 'bogus' is unexpected"):
        blockdev_from_options({"driver": "qcow2", "file.filename": str(image), "bogus": "1"})
    with pytest.raises(BlockError, match="force-share=on can only be used with read-only images"):
        open_image(str(image), force_share=True)


@pytest.mark.parametrize("how", ["l2 entry into the L1 table", "refcount of the L1 table cleared"])
def test_writes_onto_metadata_are_refused(image, how):
    data = read_file(image)
    l2 = struct.unpack(">Q", data[0x30000:0x30008])[0] & 0x00FFFFFFFFFFFE00
    if how.startswith("l2"):
        patch(image, l2, struct.pack(">Q", (1 << 63) | 0x30000))      # guest cluster 0 -> L1 table
        offset = 0
    else:
        patch(image, 0x20000 + 2 * 3, b"\x00\x00")                      # L1 cluster looks free
        offset = 2 << 20                                                 # needs a new cluster
    before = read_file(image)
    blk = open_image(str(image))
    try:
        with pytest.raises(ImageCorrupt, match="Preventing invalid write on metadata"):
            blk.pwrite(offset, b"\xee" * 65536)
    finally:
        blk.close()
    after = read_file(image)
    assert after[0x30000:0x40000] == before[0x30000:0x40000]           # L1 table intact
    assert "corrupt: true" in qemu("qemu-img", "info", image).out


def test_dirty_image_is_repaired_on_read_write_open(image):
    """A lazy-refcounts image left dirty (stale refcounts) is rebuilt before writing."""
    qemu("qemu-img", "amend", "-o", "lazy_refcounts=on", image, check=True)
    patch(image, 72, struct.pack(">Q", 1))                     # dirty bit
    patch(image, 0x20000 + 2 * 5, b"\x00\x00")                 # stale refcount of a data cluster
    assert qemu("qemu-img", "check", "-U", image).rc in (2, 0)
    with open_image(str(image)) as blk:
        blk.pwrite(3 << 20, b"z" * 4096)
        assert blk.pread(0, 4) == b"\x33" * 4
    r = qemu("qemu-img", "check", image)
    assert r.rc == 0, r.out + r.err
    assert "cleanly shut down" not in qemu("qemu-img", "info", image).out
