"""virtio-blk driven through the MMIO registers; the image checked with the
real qemu-img / qemu-io afterwards."""

from __future__ import annotations

import struct
import subprocess

import pytest

from pyqemu.block import open_image
from pyqemu.hw.virtio.blk import VirtioBlk
from virtio_driver import Driver, INT_ACK, INT_STATUS, make_machine

IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES = 0, 1, 4, 8, 11, 13
F_RO, F_FLUSH, F_DISCARD, F_WZ = 1 << 5, 1 << 9, 1 << 13, 1 << 14
MiB = 1 << 20


def hdr(rtype: int, sector: int) -> bytes:
    return struct.pack("<IIQ", rtype, 0, sector)


def qemu_io(path: str, fmt: str, cmd: str) -> str:
    r = subprocess.run(["qemu-io", "-f", fmt, "-c", cmd, path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Pattern verification failed" not in r.stdout, r.stdout
    return r.stdout


@pytest.fixture(params=["raw", "qcow2"])
def image(request, tmp_path):
    path = str(tmp_path / f"disk.{request.param}")
    subprocess.run(["qemu-img", "create", "-q", "-f", request.param, path, "4M"], check=True)
    subprocess.run(["qemu-io", "-f", request.param, "-c", "write -P 0x5a 0 1M", path],
                   check=True, capture_output=True)
    return path, request.param


def attach(tmp_path, path, fmt, legacy=True, read_only=False, serial=None):
    blk = VirtioBlk(open_image(path, fmt, read_only=read_only), serial=serial)
    m = make_machine(tmp_path, [blk], legacy=legacy)
    d = Driver(m, slot=7)
    return m, d


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "modern"])
def test_read_write_flush(image, tmp_path, legacy):
    path, fmt = image
    m, d = attach(tmp_path, path, fmt, legacy=legacy)
    status = d.init()
    assert status & 4, "DRIVER_OK not set"
    feats = d.features()
    assert feats & F_FLUSH and feats & F_DISCARD and feats & F_WZ and not feats & F_RO
    assert d.config(0, 8) == 4 * MiB // 512           # capacity in sectors
    # read sector 1 (pattern 0x5a) into a two-descriptor data area
    _, n, (data, status_b) = d.submit(0, [(hdr(IN, 1), False), (1024, True), (1, True)])
    assert status_b == b"\0" and data == b"\x5a" * 1024 and n == 1025
    assert d.r(INT_STATUS) & 1 and m.virtio[7].irq.level == 1
    d.w(INT_ACK, 1)
    assert d.r(INT_STATUS) == 0 and m.virtio[7].irq.level == 0
    # write 8 KiB at 2 MiB, then flush
    _, _, (st,) = d.submit(0, [(hdr(OUT, 4096), False), (b"\xc3" * 8192, False), (1, True)])
    assert st == b"\0"
    _, _, (st,) = d.submit(0, [(hdr(FLUSH, 0), False), (1, True)])
    assert st == b"\0"
    m.close_devices()
    qemu_io(path, fmt, "read -P 0xc3 2M 8k")
    qemu_io(path, fmt, "read -P 0x5a 0 1M")
    if fmt == "qcow2":
        r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_discard_and_write_zeroes(image, tmp_path):
    path, fmt = image
    m, d = attach(tmp_path, path, fmt, legacy=False)
    d.init()
    seg = struct.pack("<QII", 0, 128, 0)                      # first 64 KiB
    _, _, (st,) = d.submit(0, [(hdr(DISCARD, 0), False), (seg, False), (1, True)])
    assert st == b"\0"
    seg = struct.pack("<QII", 256, 256, 1)                    # 128 KiB at 128 KiB, may unmap
    _, _, (st,) = d.submit(0, [(hdr(WRITE_ZEROES, 0), False), (seg, False), (1, True)])
    assert st == b"\0"
    # discard with the unmap flag is not defined: unsupported
    seg = struct.pack("<QII", 0, 8, 1)
    _, _, (st,) = d.submit(0, [(hdr(DISCARD, 0), False), (seg, False), (1, True)])
    assert st == b"\2"
    m.close_devices()
    qemu_io(path, fmt, "read -P 0 128k 128k")
    qemu_io(path, fmt, "read -P 0x5a 256k 768k")


def test_get_id_and_out_of_range(tmp_path):
    path = str(tmp_path / "d.raw")
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", path, "1M"], check=True)
    m, d = attach(tmp_path, path, "raw", serial="SER-1234")
    d.init()
    _, n, (ident, st) = d.submit(0, [(hdr(GET_ID, 0), False), (20, True), (1, True)])
    assert st == b"\0" and ident == b"SER-1234".ljust(20, b"\0")
    # past the end of the disk: an I/O error, not a short read
    _, _, (_, st) = d.submit(0, [(hdr(IN, 2047), False), (1024, True), (1, True)])
    assert st == b"\1"
    # an unknown request type
    _, _, (st,) = d.submit(0, [(hdr(99, 0), False), (1, True)])
    assert st == b"\2"
    m.close_devices()


def test_read_only_refuses_writes(tmp_path):
    path = str(tmp_path / "ro.raw")
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", path, "1M"], check=True)
    m, d = attach(tmp_path, path, "raw", read_only=True)
    d.init()
    assert d.features() & F_RO
    for req in ([(hdr(OUT, 0), False), (b"\xff" * 512, False), (1, True)],
                [(hdr(WRITE_ZEROES, 0), False), (struct.pack("<QII", 0, 1, 0), False), (1, True)],
                [(hdr(DISCARD, 0), False), (struct.pack("<QII", 0, 1, 0), False), (1, True)]):
        _, _, bufs = d.submit(0, req)
        assert bufs[-1] == b"\1"
    _, _, (data, st) = d.submit(0, [(hdr(IN, 0), False), (512, True), (1, True)])
    assert st == b"\0" and data == bytes(512)
    m.close_devices()
    qemu_io(path, "raw", "read -P 0 0 1M")
