"""Images we write are clean for the real qemu-img and read back identically
through it; images the real tools write read back identically through ours."""
from __future__ import annotations

import pytest

from blockhelpers import needs_qemu, qemu, random_raw, read_file

from pyqemu.block import open_image

pytestmark = needs_qemu

SIZE = 4 << 20


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "src.raw"
    random_raw(path, SIZE, seed=7, fill=0.5, granule=32768)
    return path


@pytest.fixture(scope="module")
def text_source(tmp_path_factory):
    """Compressible data, so that compressed clusters really are compressed."""
    import random
    rng = random.Random(3)
    words = [b"alpha ", b"beta ", b"gamma ", b"qcow2 ", b"cluster "]
    data = b"".join(rng.choice(words) for _ in range(400000))[: 3 << 20]
    path = tmp_path_factory.mktemp("txt") / "text.raw"
    path.write_bytes(data + bytes(SIZE - len(data)))
    return path


@pytest.mark.parametrize("opts", [
    "compat=0.10",
    "compat=1.1",
    "cluster_size=512",
    "cluster_size=4096,refcount_bits=1",
    "cluster_size=2M,refcount_bits=64",
    "cluster_size=16384,refcount_bits=8",
])
def test_our_convert_passes_qemu_check_and_matches(ours, source, tmp_path, opts):
    image = tmp_path / "out.qcow2"
    r = ours("convert", "-O", "qcow2", "-o", opts, source, image)
    assert r.rc == 0, r.err
    check = qemu("qemu-img", "check", image)
    assert check.rc == 0, check.out + check.err
    assert "No errors were found" in check.out
    qemu("qemu-img", "convert", "-O", "raw", image, tmp_path / "q.raw", check=True)
    assert ours("convert", "-O", "raw", image, tmp_path / "o.raw").rc == 0
    assert read_file(tmp_path / "q.raw") == read_file(source)
    assert read_file(tmp_path / "o.raw") == read_file(source)
    if "compat=0.10" in opts:
        assert "compat: 0.10" in qemu("qemu-img", "info", image).out


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_compressed_both_ways(ours, text_source, tmp_path, kind):
    mine, theirs = tmp_path / "mine.qcow2", tmp_path / "theirs.qcow2"
    assert ours("convert", "-c", "-O", "qcow2", "-o", f"compression_type={kind}", text_source, mine).rc == 0
    check = qemu("qemu-img", "check", "--output=json", mine)
    assert check.rc == 0 and '"compressed-clusters"' in check.out, check.out
    assert mine.stat().st_size < SIZE // 2          # really compressed
    assert qemu("qemu-img", "compare", text_source, mine).rc == 0
    qemu("qemu-img", "convert", "-c", "-O", "qcow2", "-o", f"compression_type={kind}", text_source, theirs,
         check=True)
    r = ours("compare", text_source, theirs)
    assert r.rc == 0 and "Images are identical." in r.out
    # A partial overwrite of a compressed cluster (copy-on-write) stays readable by both.
    with open_image(str(theirs)) as blk:
        blk.pwrite(70000, b"\xab" * 1000)
    assert qemu("qemu-img", "check", theirs).rc == 0
    expected = bytearray(read_file(text_source))
    expected[70000:71000] = b"\xab" * 1000
    qemu("qemu-img", "convert", "-O", "raw", theirs, tmp_path / "t.raw", check=True)
    assert read_file(tmp_path / "t.raw") == bytes(expected)


def test_qemu_io_writes_read_back_through_ours(ours, tmp_path):
    image = tmp_path / "q.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", image, "2M", check=True)
    qemu("qemu-io", "-c", "write -P 0x5a 1000 70000", "-c", "write -z 4096 8192", "-c", "write -P 0x11 1M 4096",
         image, check=True)
    with open_image(str(image), read_only=True) as blk:
        data = blk.pread(0, blk.length)
    expected = bytearray(2 << 20)
    expected[1000:71000] = b"\x5a" * 70000
    expected[4096:12288] = bytes(8192)
    expected[1 << 20:(1 << 20) + 4096] = b"\x11" * 4096
    assert data == bytes(expected)


def test_mixed_backing_chain(ours, tmp_path):
    """raw (qemu) <- qcow2 (ours) <- qcow2 (qemu) <- qcow2 (ours), each layer written by the other tool."""
    base = tmp_path / "base.raw"
    qemu("qemu-img", "create", "-f", "raw", base, "3M", check=True)
    qemu("qemu-io", "-f", "raw", "-c", "write -P 0x01 0 3M", base, check=True)
    mid = tmp_path / "mid.qcow2"
    assert ours("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid).rc == 0
    qemu("qemu-io", "-c", "write -P 0x02 1M 64k", mid, check=True)
    upper = tmp_path / "upper.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", upper, check=True)
    with open_image(str(upper)) as blk:
        blk.pwrite(2 << 20, b"\x03" * 5000)
    top = tmp_path / "top.qcow2"
    assert ours("create", "-f", "qcow2", "-b", "upper.qcow2", "-F", "qcow2", "-o", "cluster_size=512", top).rc == 0
    qemu("qemu-io", "-c", "write -P 0x04 100 600", "-c", "write -z 2M 512", top, check=True)
    expected = bytearray(b"\x01" * (3 << 20))
    expected[1 << 20:(1 << 20) + 65536] = b"\x02" * 65536
    expected[2 << 20:(2 << 20) + 5000] = b"\x03" * 5000
    expected[100:700] = b"\x04" * 600
    expected[2 << 20:(2 << 20) + 512] = bytes(512)
    for image in (mid, upper, top):
        assert qemu("qemu-img", "check", image).rc == 0
    qemu("qemu-img", "convert", "-O", "raw", top, tmp_path / "q.raw", check=True)
    assert ours("convert", "-O", "raw", top, tmp_path / "o.raw").rc == 0
    assert read_file(tmp_path / "q.raw") == bytes(expected)
    assert read_file(tmp_path / "o.raw") == bytes(expected)
    info = ours("info", "--backing-chain", top)
    assert info.out.count("image: ") == 4 and "file format: raw" in info.out


def test_snapshots_both_ways(ours, tmp_path):
    image = tmp_path / "s.qcow2"
    assert ours("create", "-f", "qcow2", image, "4M").rc == 0
    qemu("qemu-io", "-c", "write -P 0x11 0 1M", image, check=True)
    assert ours("snapshot", "-c", "one", image).rc == 0
    qemu("qemu-io", "-c", "write -P 0x22 512k 1M", image, check=True)
    qemu("qemu-img", "snapshot", "-c", "two", image, check=True)
    assert qemu("qemu-img", "check", image).rc == 0
    listing = qemu("qemu-img", "snapshot", "-l", image).out
    assert "one" in listing and "two" in listing
    r = ours("snapshot", "-l", image)
    assert r.out.splitlines()[0] == "Snapshot list:" and " one " in r.out and " two " in r.out
    assert ours("snapshot", "-a", "one", image).rc == 0
    assert qemu("qemu-img", "check", image).rc == 0
    assert qemu("qemu-io", "-c", "read -P 0x11 0 1M", "-c", "read -P 0 1M 1M", image).rc == 0
    qemu("qemu-img", "snapshot", "-a", "two", image, check=True)
    with open_image(str(image), read_only=True) as blk:
        assert blk.pread(0, 512 << 10) == b"\x11" * (512 << 10)
        assert blk.pread(512 << 10, 1 << 20) == b"\x22" * (1 << 20)
    assert ours("snapshot", "-d", "one", image).rc == 0
    assert ours("check", image).rc == 0
    qemu("qemu-img", "snapshot", "-d", "two", image, check=True)
    result = qemu("qemu-img", "check", image)
    assert result.rc == 0 and "No errors" in result.out
    assert ours("snapshot", "-l", image).out == ""


def test_convert_output_equals_qemu_byte_for_byte(ours, source, tmp_path):
    """raw -> qcow2 by both tools, then each -> raw by the other: identical files."""
    qemu("qemu-img", "convert", "-O", "qcow2", source, tmp_path / "q.qcow2", check=True)
    assert ours("convert", "-O", "qcow2", source, tmp_path / "o.qcow2").rc == 0
    assert ours("convert", "-O", "raw", tmp_path / "q.qcow2", tmp_path / "a.raw").rc == 0
    qemu("qemu-img", "convert", "-O", "raw", tmp_path / "o.qcow2", tmp_path / "b.raw", check=True)
    assert read_file(tmp_path / "a.raw") == read_file(tmp_path / "b.raw") == read_file(source)
    r = ours("compare", tmp_path / "q.qcow2", tmp_path / "o.qcow2")
    assert r.rc == 0 and r.out == "Images are identical.\n"
