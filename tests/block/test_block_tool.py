"""pyqemu-img output formats and exit statuses, compared with qemu-img's."""
from __future__ import annotations

import json
import struct

import pytest

from blockhelpers import needs_qemu, qemu, random_raw, read_file

from pyqemu.block import open_image

pytestmark = needs_qemu


@pytest.fixture
def chain(tmp_path):
    base = tmp_path / "a.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", base, "10M", check=True)
    qemu("qemu-io", "-c", "write -P 0x11 0 100k", "-c", "write -z 1M 64k", base, check=True)
    top = tmp_path / "b.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", top, check=True)
    qemu("qemu-io", "-c", "write -P 0x22 2M 64k", top, check=True)
    return base, top


def test_map_output_equals_qemu(ours, chain, monkeypatch):
    base, top = chain
    monkeypatch.chdir(top.parent)
    for fmt in ("json", "human"):
        mine = ours("map", f"--output={fmt}", top.name)
        theirs = qemu("qemu-img", "map", f"--output={fmt}", top.name)
        assert mine.rc == theirs.rc == 0
        assert mine.out == theirs.out


def test_info_output_equals_qemu(ours, chain, monkeypatch):
    base, top = chain
    monkeypatch.chdir(top.parent)
    for args in (["--output=json"], [], ["--backing-chain"], ["--backing-chain", "--output=json"]):
        mine = ours("info", *args, top.name)
        theirs = qemu("qemu-img", "info", *args, top.name)
        assert mine.rc == theirs.rc == 0
        if "--output=json" in args:
            assert json.loads(mine.out) == json.loads(theirs.out)
            assert mine.out == theirs.out      # same key order and layout too
        else:
            assert mine.out == theirs.out


def test_check_outputs_and_exit_statuses(ours, chain, tmp_path):
    base, _ = chain
    mine, theirs = ours("check", base), qemu("qemu-img", "check", base)
    assert mine.rc == theirs.rc == 0 and mine.out == theirs.out.replace(str(base), str(base))
    # A leak: a refcount without a user, inside the file.
    leak = tmp_path / "leak.qcow2"
    leak.write_bytes(read_file(base) + bytes(4 * 65536))
    with open(leak, "r+b") as f:
        f.seek(0x20000 + 2 * 9)
        f.write(b"\x00\x01")
    mine, theirs = ours("check", leak), qemu("qemu-img", "check", leak)
    assert mine.rc == theirs.rc == 3
    assert mine.out == theirs.out and mine.err == theirs.err.replace("qemu-img", "pyqemu-img")
    mj, tj = ours("check", "--output=json", leak), qemu("qemu-img", "check", "--output=json", leak)
    assert json.loads(mj.out) == json.loads(tj.out)
    # A corruption: a used cluster with refcount 0.
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(read_file(base))
    with open(bad, "r+b") as f:
        f.seek(0x20000 + 2 * 5)
        f.write(b"\x00\x00")
    mine, theirs = ours("check", bad), qemu("qemu-img", "check", bad)
    assert mine.rc == theirs.rc == 2
    assert mine.out == theirs.out
    assert json.loads(ours("check", "--output=json", bad).out)["corruptions"] == \
        json.loads(qemu("qemu-img", "check", "--output=json", bad).out)["corruptions"]
    # Repairs
    r = ours("check", "-r", "leaks", leak)
    assert r.rc == 0 and "    1 leaked clusters\n    0 corruptions" in r.out
    assert qemu("qemu-img", "check", leak).rc == 0
    r = ours("check", "-r", "all", bad)
    assert r.rc == 0 and "No errors were found on the image." in r.out
    assert qemu("qemu-img", "check", bad).rc == 0


def test_create_output_and_defaults(ours, tmp_path):
    mine = ours("create", "-f", "qcow2", tmp_path / "m.qcow2", "1G")
    theirs = qemu("qemu-img", "create", "-f", "qcow2", tmp_path / "q.qcow2", "1G")
    assert mine.out.replace("m.qcow2", "X") == theirs.out.replace("q.qcow2", "X")
    # Same layout as QEMU: 196,624 bytes for an empty 1 GiB image.
    assert (tmp_path / "m.qcow2").stat().st_size == (tmp_path / "q.qcow2").stat().st_size == 196624
    assert read_file(tmp_path / "m.qcow2") == read_file(tmp_path / "q.qcow2")
    r = ours("create", "-f", "raw", tmp_path / "r.raw", "1.5M")
    assert r.out == f"Formatting '{tmp_path / 'r.raw'}', fmt=raw size=1572864\n"
    assert (tmp_path / "r.raw").stat().st_size == 1572864


def test_convert_compare_progress_and_exit_statuses(ours, tmp_path):
    src = random_raw(tmp_path / "s.raw", 2 << 20, seed=5)
    r = ours("convert", "-p", "-O", "qcow2", src, tmp_path / "o.qcow2")
    assert r.out.startswith("    (0.00/100%)\r") and r.out.endswith("    (100.00/100%)\r\n")
    assert ours("compare", src, tmp_path / "o.qcow2").rc == 0
    with open_image(str(tmp_path / "o.qcow2")) as blk:
        blk.pwrite(1234567, b"\xff")
    mine = ours("compare", src, tmp_path / "o.qcow2")
    theirs = qemu("qemu-img", "compare", src, tmp_path / "o.qcow2")
    assert mine.rc == theirs.rc == 1 and mine.out == theirs.out
    assert ours("compare", src, tmp_path / "missing.qcow2").rc == 2
    # Size mismatch: the extra area must be zero; -s makes it a difference.
    qemu("qemu-img", "create", "-f", "qcow2", tmp_path / "big.qcow2", "3M", check=True)
    qemu("qemu-img", "convert", "-n", "-O", "qcow2", src, tmp_path / "big.qcow2", check=True)
    mine = ours("compare", src, tmp_path / "big.qcow2")
    theirs = qemu("qemu-img", "compare", src, tmp_path / "big.qcow2")
    assert mine.rc == theirs.rc == 0 and mine.out == theirs.out
    assert ours("compare", "-s", src, tmp_path / "big.qcow2").rc == 1


def test_sparse_raw_output(ours, tmp_path):
    src = tmp_path / "s.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", src, "8M", check=True)
    qemu("qemu-io", "-c", "write -P 1 1M 64k", src, check=True)
    assert ours("convert", "-O", "raw", src, tmp_path / "o.raw").rc == 0
    assert (tmp_path / "o.raw").stat().st_blocks * 512 <= 128 << 10
    assert ours("convert", "-S", "0", "-O", "raw", src, tmp_path / "full.raw").rc == 0
    assert (tmp_path / "full.raw").stat().st_blocks * 512 >= 8 << 20


def test_resize_commit_rebase(ours, chain, tmp_path):
    base, top = chain
    assert ours("resize", top, "+2M").out == "Image resized.\n"
    assert qemu("qemu-img", "info", "--output=json", top).out.count('"virtual-size": 12582912') == 1
    r = ours("resize", top, "-1M")
    assert r.rc == 1 and r.err == "pyqemu-img: Use the --shrink option to perform a shrink operation.\n"
    assert ours("resize", "--shrink", top, "10M").rc == 0
    assert qemu("qemu-img", "check", top).rc == 0
    expected = read_file(_to_raw(top, tmp_path / "before.raw"))
    assert ours("commit", top).out == "Image committed.\n"
    assert qemu("qemu-img", "check", base).rc == 0 and qemu("qemu-img", "check", top).rc == 0
    assert read_file(_to_raw(base, tmp_path / "base.raw")) == expected
    assert read_file(_to_raw(top, tmp_path / "top.raw")) == expected
    # Safe rebase onto an empty image keeps the content; -u only rewrites the name.
    empty = tmp_path / "e.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", empty, "10M", check=True)
    assert ours("rebase", "-b", empty, "-F", "qcow2", top).rc == 0
    assert qemu("qemu-img", "check", top).rc == 0
    assert read_file(_to_raw(top, tmp_path / "r.raw")) == expected
    info = json.loads(qemu("qemu-img", "info", "--output=json", top).out)
    assert info["backing-filename"] == str(empty)
    assert ours("rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", top).rc == 0
    assert json.loads(qemu("qemu-img", "info", "--output=json", top).out)["backing-filename"] == "a.qcow2"


def _to_raw(image, out):
    qemu("qemu-img", "convert", "-O", "raw", image, out, check=True)
    return out


def test_amend_measure_dd_bench(ours, tmp_path):
    image = tmp_path / "x.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", image, "4M", check=True)
    qemu("qemu-io", "-c", "write -P 9 0 1M", "-c", "write -z 2M 64k", image, check=True)
    assert ours("amend", "-o", "compat=0.10", image).rc == 0
    info = qemu("qemu-img", "info", image)
    assert "compat: 0.10" in info.out and qemu("qemu-img", "check", image).rc == 0
    assert ours("amend", "-o", "compat=1.1,lazy_refcounts=on", image).rc == 0
    assert "lazy refcounts: true" in qemu("qemu-img", "info", image).out
    for args in (["--size", "1G", "-O", "qcow2"], ["-O", "qcow2", str(image)]):
        mine = json.loads(ours("measure", "--output=json", *args).out)
        theirs = json.loads(qemu("qemu-img", "measure", "--output=json", *args).out)
        assert mine["fully-allocated"] == theirs["fully-allocated"]
        assert abs(mine["required"] - theirs["required"]) <= 2 * 65536
    assert ours("dd", "if=" + str(image), "of=" + str(tmp_path / "d.raw"), "bs=64k", "count=4", "skip=2").rc == 0
    assert read_file(tmp_path / "d.raw") == b"\x09" * (4 * 65536)
    r = ours("bench", "-c", "100", image)
    assert r.rc == 0 and r.out.startswith("Sending 100 read requests, 4096 bytes each, 64 in parallel")


def test_convert_with_backing_and_existing_target(ours, tmp_path):
    base = random_raw(tmp_path / "base.raw", 2 << 20, seed=11, fill=0.9)
    changed = bytearray(read_file(base))
    changed[100000:100100] = b"\x01" * 100
    (tmp_path / "new.raw").write_bytes(bytes(changed))
    # -B: only what differs from the backing file lands in the new image.
    assert ours("convert", "-O", "qcow2", "-B", "base.raw", "-F", "raw", tmp_path / "new.raw",
                tmp_path / "delta.qcow2").rc == 0
    info = json.loads(qemu("qemu-img", "info", "--output=json", tmp_path / "delta.qcow2").out)
    assert info["backing-filename"] == "base.raw" and info["backing-filename-format"] == "raw"
    mapping = json.loads(qemu("qemu-img", "map", "--output=json", tmp_path / "delta.qcow2").out)
    own = sum(e["length"] for e in mapping if e["depth"] == 0 and e["data"])
    assert 0 < own <= 65536
    assert qemu("qemu-img", "compare", tmp_path / "new.raw", tmp_path / "delta.qcow2").rc == 0
    # -n: write into an existing image, zeroing what the source has as zero.
    target = tmp_path / "t.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", target, "2M", check=True)
    qemu("qemu-io", "-c", "write -P 0x66 0 2M", target, check=True)
    empty = tmp_path / "empty.raw"
    empty.write_bytes(bytes(2 << 20))
    assert ours("convert", "-n", "-f", "raw", "-O", "qcow2", empty, target).rc == 0
    assert qemu("qemu-img", "compare", empty, target).rc == 0 and qemu("qemu-img", "check", target).rc == 0


@pytest.mark.parametrize("mode", ["metadata", "falloc", "full"])
def test_preallocation(ours, tmp_path, mode):
    image = tmp_path / "p.qcow2"
    assert ours("create", "-f", "qcow2", "-o", f"preallocation={mode},cluster_size=65536", image, "3M").rc == 0
    check = json.loads(qemu("qemu-img", "check", "--output=json", image).out)
    assert check["check-errors"] == 0 and "corruptions" not in check and "leaks" not in check
    assert check["allocated-clusters"] == 48
    if mode != "metadata":
        assert image.stat().st_blocks * 512 >= 3 << 20
    assert qemu("qemu-io", "-c", "read -P 0 0 3M", image).rc == 0


def test_image_opts(ours, chain):
    base, top = chain
    mine = ours("map", "--output=json", "--image-opts", f"driver=qcow2,file.driver=file,file.filename={top}")
    theirs = qemu("qemu-img", "map", "--output=json", "--image-opts",
                  f"driver=qcow2,file.driver=file,file.filename={top}")
    assert mine.rc == theirs.rc == 0 and mine.out == theirs.out
    assert ours("check", "--image-opts", f"driver=qcow2,file.filename={base}").rc == 0


def test_convert_from_internal_snapshot(ours, tmp_path):
    image = tmp_path / "s.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", image, "2M", check=True)
    qemu("qemu-io", "-c", "write -P 7 0 64k", image, check=True)
    qemu("qemu-img", "snapshot", "-c", "s1", image, check=True)
    qemu("qemu-io", "-c", "write -P 8 0 64k", image, check=True)
    assert ours("convert", "-l", "snapshot.name=s1", "-O", "raw", image, tmp_path / "mine.raw").rc == 0
    qemu("qemu-img", "convert", "-l", "snapshot.name=s1", "-O", "raw", image, tmp_path / "theirs.raw", check=True)
    assert read_file(tmp_path / "mine.raw") == read_file(tmp_path / "theirs.raw")
    assert read_file(tmp_path / "mine.raw")[:4] == b"\x07" * 4


def test_check_statistics_equal_qemu(ours, tmp_path):
    """Allocation, fragmentation and compression figures, human and JSON."""
    text = tmp_path / "t.raw"
    text.write_bytes((b"compressible data " * 60000)[:1 << 20] + bytes(1 << 20))
    images = []
    comp = tmp_path / "c.qcow2"
    qemu("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", text, comp, check=True)
    images.append(comp)
    frag = tmp_path / "f.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=512", frag, "1M", check=True)
    with open_image(str(frag)) as blk:
        for i in range(60):
            blk.pwrite((i * 37 % 64) * 8192, b"x" * 512)
    images.append(frag)
    empty = tmp_path / "e.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", empty, "1M", check=True)
    images.append(empty)
    for image in images:
        for args in ([], ["--output=json"]):
            mine, theirs = ours("check", *args, image), qemu("qemu-img", "check", *args, image)
            assert mine.rc == theirs.rc == 0
            assert mine.out == theirs.out, image.name
