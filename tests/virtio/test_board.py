"""The virt board's virtio slots against the real qemu-system-riscv64: the
order devices fill them, the device tree nodes, and the command line."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pyqemu.hw.virtio.rng import VirtioRng
from virtio_driver import make_machine

REPO = Path(__file__).resolve().parents[2]
PYQEMU = str(REPO / ".venv" / "bin" / "pyqemu-system-riscv64")
QEMU = "qemu-system-riscv64"
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} not installed")


def _loop_fw(tmp_path) -> str:
    fw = tmp_path / "loop.bin"
    fw.write_bytes(struct.pack("<I", 0x0000006F))
    return str(fw)


def _pyqemu(tmp_path, *args, stdin=None):
    return subprocess.run([PYQEMU, "-M", "virt", "-bios", _loop_fw(tmp_path), "-display", "none",
                           *args], capture_output=True, text=True, input=stdin, timeout=60)


@needs_qemu
def test_slot_order_as_qemu(tmp_path):
    img = tmp_path / "d.img"
    img.write_bytes(bytes(1 << 20))
    args = ["-drive", f"file={img},format=raw,if=none,id=d0", "-device",
            "virtio-blk-device,drive=d0", "-device", "virtio-rng-device"]
    r = subprocess.run([QEMU, "-M", "virt", "-bios", "none", "-display", "none", "-monitor",
                        "stdio", *args], input="info qtree\nquit\n", capture_output=True,
                       text=True, timeout=30)
    # slot base -> device model, as QEMU placed them
    want = {}
    for chunk in r.stdout.split("dev: virtio-mmio,")[1:]:
        base = re.search(r"mmio (\w+)/0+200", chunk)
        model = re.search(r"dev: (virtio-[\w-]+-device)", chunk)
        want[int(base.group(1), 16)] = model.group(1) if model else None
    assert want[0x10008000] == "virtio-blk-device" and want[0x10007000] == "virtio-rng-device"
    assert len(want) == 8
    ids = {"virtio-blk-device": 2, "virtio-rng-device": 4, None: 0}
    out = _pyqemu(tmp_path, *args, "-monitor", "stdio", stdin="quit\n")
    assert out.returncode == 0, out.stderr
    # the same placement on our board, read through the bus
    from pyqemu.block import open_image
    from pyqemu.hw.virtio.blk import VirtioBlk
    m = make_machine(tmp_path, [VirtioBlk(open_image(str(img), "raw")), VirtioRng()])
    for base, model in want.items():
        assert m.bus.read(base, 4) == 0x74726976
        assert m.bus.read(base + 4, 4) == 1                 # legacy, as QEMU 7.2
        assert m.bus.read(base + 8, 4) == ids[model], hex(base)
    assert m.virtio[7].irq.number == 8 and m.virtio[0].irq.number == 1
    m.close_devices()


def _virtio_nodes(dtb: Path) -> list[str]:
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"virtio_mmio@\w+ \{[^}]*\}", dts)


@needs_qemu
@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")
def test_device_tree_nodes_as_qemu(tmp_path):
    subprocess.run([QEMU, "-M", f"virt,dumpdtb={tmp_path / 'q.dtb'}", "-bios", "none",
                    "-device", "virtio-rng-device"], capture_output=True, check=True, timeout=30)
    r = _pyqemu(tmp_path, "-M", f"virt,dumpdtb={tmp_path / 'p.dtb'}", "-device",
                "virtio-rng-device")
    assert r.returncode == 0, r.stderr
    want, got = _virtio_nodes(tmp_path / "q.dtb"), _virtio_nodes(tmp_path / "p.dtb")
    assert len(want) == 8
    # phandles of the PLIC may be numbered differently: compare the rest
    strip = lambda nodes: [re.sub(r"interrupt-parent = <0x\w+>", "", n) for n in nodes]
    assert strip(got) == strip(want)


@pytest.mark.parametrize("args,message", [
    (["-device", "virtio-blk-device,drive=nope"],
     "-device virtio-blk-device,drive=nope: Property 'virtio-blk-device.drive' can't find value 'nope'"),
    (["-device", "virtio-blk-device"], "-device virtio-blk-device: drive property not set"),
    (["-device", "foo"], "-device foo: 'foo' is not a valid device model name"),
    (["-device", "virtconsole,chardev=c0"],
     "-device virtconsole,chardev=c0: No 'virtio-serial-bus' bus found for device 'virtconsole'"),
    (["-drive", "file=/nonexistent.img,format=raw,if=none,id=d0"],
     "-drive file=/nonexistent.img,format=raw,if=none,id=d0: Could not open '/nonexistent.img': "
     "No such file or directory"),
    (["-global", "virtio-mmio.bogus=1"],
     "can't apply global virtio-mmio.bogus=1: Property 'virtio-mmio.bogus' not found"),
])
def test_command_line_errors(tmp_path, args, message):
    r = _pyqemu(tmp_path, *args)
    assert r.returncode == 1
    assert r.stderr == f"pyqemu-system-riscv64: {message}\n"


def test_command_line_devices_hold_their_images(tmp_path):
    """-blockdev, -drive, the console pair and -global parse; the images stay
    locked while the machine runs and are released at exit."""
    raw, qcow = tmp_path / "a.raw", tmp_path / "b.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "1M"], check=True)
    (tmp_path / "c.raw").write_bytes(bytes(4096))
    proc = subprocess.Popen(
        [PYQEMU, "-M", "virt", "-bios", _loop_fw(tmp_path), "-display", "none",
         "-monitor", "stdio", "-serial", "null", "-chardev", f"file,id=c0,path={tmp_path / 'con'}",
         "-global", "virtio-mmio.force-legacy=false",
         "-blockdev", f"driver=qcow2,node-name=n0,file.driver=file,file.filename={qcow}",
         "-drive", f"file={raw},format=raw,if=none,id=d0,readonly=on,cache=none",
         "-device", "virtio-blk-device,drive=n0,serial=abc", "-device", "virtio-blk-device,drive=d0",
         "-device", "virtio-rng-device", "-device", "virtio-serial-device",
         "-device", "virtconsole,chardev=c0",
         "-drive", f"file={tmp_path / 'c.raw'},format=raw,if=virtio"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("info status\n")
        proc.stdin.flush()
        proc.stdout.readline()
        busy = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write 0 512", str(qcow)],
                              capture_output=True, text=True)
        assert 'Failed to get "write" lock' in busy.stderr
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ok = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write 0 512", str(qcow)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "lock" not in ok.stderr
