"""Helpers of tests/kvm_migration: the migcount guest (tests/x86_guests/
migcount.c), pyqemu-system-x86_64 processes with the console in a file and
QMP on a unix socket (the QMP client of tests/migration), the guest's disk
records read back with the real qemu-img."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


guest_build = _load("x86_guest_build_mig", ROOT / "tests" / "x86_guests" / "build.py")
guest_build.GUESTS.setdefault("migcount", ["start64.S", "lib.c", "virtio.c", "migcount.c"])
_mighelpers = _load("mighelpers_for_kvm", ROOT / "tests" / "migration" / "mighelpers.py")
QMP = _mighelpers.QMP
lock_bytes = _mighelpers.lock_bytes                      # lock bytes a process holds
write_locked_by_someone = _mighelpers.write_locked_by_someone   # as the real qemu-io sees it

from pyqemu.accel.kvm.system import probe  # noqa: E402

KVM_PROBLEM = probe()
COUNT = re.compile(rb"count (\d+)\n")


def guest_elf() -> str:
    try:
        return str(guest_build.build("migcount"))
    except guest_build.BuildError as e:
        pytest.skip(f"cannot build the x86 test guest migcount: {e}")


def make_disk(path: Path, size: str = "16M") -> str:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return str(path)


class VM:
    """One pyqemu-system-x86_64 running migcount on a qcow2 disk."""

    def __init__(self, tmp: Path, name: str, disk: str, *extra: str, mem: str = "64M",
                 append: str = "delay=3000"):
        self.tmp = tmp
        self.name = name
        self.console = tmp / f"{name}.console"
        self.qmp_path = str(tmp / f"{name}.qmp")
        self.stderr_path = tmp / f"{name}.stderr"
        self.argv = [sys.executable, "-m", "pyqemu.cli.system_x86", "-M", "microvm", "-m", mem,
                     "-nographic", "-kernel", guest_elf(), "-append", append,
                     "-serial", f"file:{self.console}", "-monitor", "none",
                     "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                     "-drive", f"file={disk},if=none,id=d0,format=qcow2",
                     "-device", "virtio-blk-device,drive=d0", *extra]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "wb"), cwd=ROOT)
        try:
            self.qmp = QMP(self.qmp_path)
        except Exception:
            self.kill()
            raise RuntimeError(f"{name} did not start: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> bytes:
        try:
            return self.console.read_bytes()
        except FileNotFoundError:
            return b""

    def counts(self) -> list[int]:
        return [int(m) for m in COUNT.findall(self.output())]

    def wait_count(self, n: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.counts()
            if c and c[-1] >= n:
                return c[-1]
            if self.proc.poll() is not None or b"FAIL" in self.output():
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: count {n} not reached; console "
                             f"{self.output()[-300:]!r}, stderr {self.stderr()[-500:]}")

    def status(self) -> str:
        return self.qmp.cmd("query-status")["status"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def quit(self) -> int:
        try:
            self.qmp.cmd("quit")
        except Exception:
            pass
        try:
            return self.proc.wait(15)
        finally:
            self.kill()


def records(disk: str, tmp: Path) -> list[int]:
    """The record numbers on the disk, sector by sector from 1 until the
    first sector without one (read with the real qemu-img)."""
    raw = tmp / "records.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", disk, str(raw)],
                   check=True)
    data = raw.read_bytes()
    out = []
    for sector in range(1, len(data) // 512):
        s = data[sector * 512:(sector + 1) * 512]
        if not s.startswith(b"REC "):
            break
        n = int(s[4:20], 16)
        assert s[20:] == bytes([n & 0xFF]) * 492, f"sector {sector}: record {n} damaged"
        out.append(n)
    return out


def img_check(disk: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-img", "check", "-U", disk], capture_output=True, text=True)


def counts_in(text: bytes) -> list[int]:
    return [int(m) for m in COUNT.findall(text)]


def free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_migration(vm: VM, want: set, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = vm.qmp.cmd("query-migrate")
        if info.get("status") in want:
            return info
        time.sleep(0.05)
    raise TimeoutError(f"migration status {vm.qmp.cmd('query-migrate')}")
