"""virtio-mmio on microvm with virtio-blk: test guest 2 (a minimal driver)
on raw and qcow2 images checked with qemu-img, the same guest on the real
QEMU, ioeventfd-served notifies, and the hostile-virtqueue guest."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kvmhelpers import ours, qemu

PATTERN = b"PATTERN-FROM-THE-TEST-0123456789"
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=1"]


def _raw_image(path):
    data = bytearray(1 << 20)
    data[512:512 + len(PATTERN)] = PATTERN
    path.write_bytes(bytes(data))
    return path


def _qemu_img(*args):
    exe = shutil.which("qemu-img")
    if exe is None:
        pytest.skip("qemu-img is not installed (apt-get install qemu-utils)")
    return subprocess.run([exe, *args], capture_output=True, check=True, timeout=30)


def _sector2(image, fmt, tmp_path):
    if fmt == "raw":
        data = image.read_bytes()
    else:
        out = tmp_path / "check.raw"
        _qemu_img("convert", "-f", fmt, "-O", "raw", str(image), str(out))
        data = out.read_bytes()
    return data[1024:1024 + 22 + len(PATTERN)]


def _guest_lines(out: bytes) -> list[bytes]:
    return out.splitlines()


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_blk_guest_reads_and_writes(guest, tmp_path, fmt):
    image = _raw_image(tmp_path / "disk.raw")
    if fmt == "qcow2":
        q = tmp_path / "disk.qcow2"
        _qemu_img("convert", "-f", "raw", "-O", "qcow2", str(image), str(q))
        image = q
    r = ours("-nographic", "-no-reboot", "-m", "64", "-kernel", guest("blk"), *DEBUG_EXIT,
             "-drive", f"file={image},format={fmt},if=none,id=d0", "-device", "virtio-blk-device,drive=d0")
    lines = _guest_lines(r.stdout)
    assert lines[0].startswith(b"virtio-blk at 0xfeb02e00 version 1 capacity 2048 sectors"), r
    assert lines[1:] == [b"sector 1: " + PATTERN, b"sector 2 written and read back"]
    assert r.returncode == 1, r.stderr
    assert _sector2(image, fmt, tmp_path) == b"written by the guest: " + PATTERN
    if fmt == "qcow2":
        _qemu_img("check", str(image))


def test_blk_guest_same_on_qemu(guest, tmp_path):
    image = _raw_image(tmp_path / "disk.raw")
    real = qemu("-nographic", "-no-reboot", "-m", "64", "-kernel", guest("blk"), *DEBUG_EXIT,
                "-drive", f"file={image},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0")
    assert real.returncode == 1
    # Both boards have QEMU 7.2's 24 slots: the first -device is found at 0xfeb02e00 on each.
    assert _guest_lines(real.stdout)[0].startswith(b"virtio-blk at 0xfeb02e00 version 1 capacity 2048 sectors")
    assert _guest_lines(real.stdout)[1:] == [b"sector 1: " + PATTERN, b"sector 2 written and read back"]
    assert _sector2(image, "raw", tmp_path) == b"written by the guest: " + PATTERN


def test_notifies_go_through_ioeventfd(guest, tmp_path):
    """In-process: the guest's QueueNotify writes reach the I/O thread by
    eventfd, not as MMIO exits into the vCPU loop."""
    from pyqemu.accel.kvm import api
    from pyqemu.hw.virtio.options import VirtioOptions
    from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine
    image = _raw_image(tmp_path / "disk.raw")
    opts = VirtioOptions()
    try:
        opts.add_drive(f"file={image},format=raw,if=none,id=d0")
        assert opts.add_device("virtio-blk-device,drive=d0", {})
        cfg = MicrovmConfig(ram_size=64 << 20, kernel=guest("blk"), debug_exits=[(0xF4, 1)],
                            virtio_devices=opts.all_devices(), no_reboot=True)
        m = MicrovmMachine(cfg)
        code = m.run()
        m.close_devices()
    finally:
        opts.close()
    assert code == 1
    assert m.virtio_iothread.notifies == 3          # read, write, read back
    mmio_exits = m.runner.exit_counts.get(api.ExitReason.MMIO, 0)
    assert mmio_exits > 0                           # register setup still exits...
    assert _sector2(image, "raw", tmp_path) == b"written by the guest: " + PATTERN


def test_hostile_virtqueues(guest, tmp_path):
    image = _raw_image(tmp_path / "disk.raw")
    before = image.read_bytes()
    r = ours("-nographic", "-no-reboot", "-m", "64", "-d", "guest_errors", "-kernel", guest("hostile"),
             *DEBUG_EXIT, "-drive", f"file={image},format=raw,if=none,id=d0",
             "-device", "virtio-blk-device,drive=d0")
    out = r.stdout.decode()
    assert r.returncode == 1, (out, r.stderr)
    for case in ("descriptor loop", "buffer past RAM", "buffer in the MMIO hole", "oversized chain",
                 "available index jump"):
        assert f"{case}: device needs reset" in out
    assert "zero-length chain: completed with error status" in out
    assert out.endswith("good request: " + PATTERN.decode() + "\n")
    err = r.stderr.decode()
    assert "loops" in err and "0x7f0000000000 hits no memory" in err and "0xfee00000 hits no memory" in err
    assert "Traceback" not in err
    assert image.read_bytes() == before              # nothing was written anywhere
