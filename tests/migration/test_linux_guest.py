"""The Debian riscv64 kernel of the Linux-on-RISC-V fixture
(scripts/linux-guest/build.py), live-migrated over TCP while it boots, its
root disk a qcow2 image on shared storage: the console goes on on the
destination line for line. (The whole acceptance workload needs the guest
to reach userspace, which pyqemu does not do fast enough yet.)"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mighelpers import PYQEMU, QMP, VM, lock_bytes, qemu_img_check

FIXTURE = Path.home() / ".cache" / "pyqemu" / "linux-guest"
PRINTK = re.compile(r"\[ *\d+\.\d{6}\] ")

pytestmark = pytest.mark.skipif(not (FIXTURE / "Image").exists(),
                                reason="Linux guest fixture not built (scripts/linux-guest/build.py)")


class LinuxVM(VM):
    def __init__(self, tmp: Path, name: str, disk: str, *extra: str):
        self.tmp = tmp
        self.name = name
        self.console = tmp / f"{name}.console"
        self.qmp_path = str(tmp / f"{name}.qmp")
        self.stderr_path = tmp / f"{name}.stderr"
        self.proc = subprocess.Popen(
            [PYQEMU, "-M", "virt", "-m", "512M", "-nographic", "-kernel", str(FIXTURE / "Image"),
             "-initrd", str(FIXTURE / "initramfs.gz"),
             "-append", "console=ttyS0 cryptomgr.notests earlycon=uart8250,mmio,0x10000000",
             "-serial", f"file:{self.console}", "-monitor", "none",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
             "-drive", f"file={disk},if=none,id=d0,format=qcow2",
             "-device", "virtio-blk-device,drive=d0", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "wb"))
        self.qmp = QMP(self.qmp_path)

    def wait_text(self, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while what not in self.text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError(f"{self.name}: no '{what}' on the console")
            time.sleep(0.2)


def test_a_booting_kernel_moves_to_another_process(tmp_path):
    disk = str(tmp_path / "root.qcow2")
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(FIXTURE / "disk.img"), disk],
                   check=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    src = LinuxVM(tmp_path, "src", disk)
    dst = None
    try:
        src.wait_text("Linux version", 120)
        dst = LinuxVM(tmp_path, "dst", disk, "-incoming", f"tcp:127.0.0.1:{port}")
        src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while (info := src.qmp.cmd("query-migrate"))["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert info["status"] == "completed", info
        assert info["downtime"] < 300 and info["ram"]["total"] == 512 << 20 | 0xF000
        assert lock_bytes(dst.proc.pid, disk) == {100, 101, 103, 201, 203}
        before = src.text()
        deadline = time.monotonic() + 90
        while dst.text().count("\n") < 5:
            assert time.monotonic() < deadline, "the kernel printed nothing on the destination"
            time.sleep(0.5)
        whole = before + dst.text()
        kernel = whole[whole.index("[    0.000000] Linux version"):]
        lines = kernel.splitlines()[:-1]        # the last one may be half printed
        assert all(PRINTK.match(line) for line in lines), \
            [line for line in lines if not PRINTK.match(line)][:3]
        assert dst.status() == "running" and src.status() == "postmigrate"
    finally:
        src.quit()
        if dst is not None:
            dst.quit()
    assert qemu_img_check(disk).returncode == 0
