"""Helpers of the migration tests: the migrate_counter guest, processes of
pyqemu-system-riscv64 (or the real qemu-system-riscv64) with the console in a
file and QMP on a unix socket, and a small synchronous QMP client."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "guests"))
import build as guest_build  # noqa: E402

PYQEMU = str(ROOT / ".venv" / "bin" / "pyqemu-system-riscv64")
QEMU = "qemu-system-riscv64"
GUEST = guest_build.Guest("migrate_counter", ("migrate_counter.c",))


def guest_elf() -> str:
    return str(guest_build.build(GUEST))


class QMP:
    """Line-oriented QMP over a unix socket: commands wait for their answer,
    events are kept in order."""

    def __init__(self, path: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events: list[dict] = []
        self._read()                       # greeting
        self.cmd("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def cmd_raw(self, name: str, **args) -> dict:
        msg = {"execute": name}
        if args:
            msg["arguments"] = {k.replace("_", "-"): v for k, v in args.items()}
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def cmd(self, name: str, **args):
        r = self.cmd_raw(name, **args)
        if "error" in r:
            raise RuntimeError(f"{name}: {r['error']['desc']}")
        return r["return"]

    def hmp(self, line: str) -> str:
        return self.cmd("human-monitor-command", command_line=line)

    def wait_event(self, name: str, timeout: float = 30.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and all(e.get("data", {}).get(k) == v for k, v in match.items()):
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} {match} event; have {self.events}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                r = self._read()
            except socket.timeout:
                continue
            if "event" in r:
                self.events.append(r)

    def close(self) -> None:
        self.sock.close()


class VM:
    """One emulator process running the migrate_counter guest."""

    def __init__(self, tmp: Path, name: str, disk: str, *extra: str, binary: str = PYQEMU,
                 mem: str = "128M", pass_fds: tuple = ()):
        self.tmp = tmp
        self.name = name
        self.console = tmp / f"{name}.console"
        self.qmp_path = str(tmp / f"{name}.qmp")
        self.stderr_path = tmp / f"{name}.stderr"
        argv = [binary, "-M", "virt", "-bios", "none", "-m", mem, "-nographic",
                "-kernel", guest_elf(), "-serial", f"file:{self.console}",
                "-monitor", "none", "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-drive", f"file={disk},if=none,id=d0,format=qcow2",
                "-device", "virtio-blk-device,drive=d0", *extra]
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "wb"), pass_fds=pass_fds)
        try:
            self.qmp = QMP(self.qmp_path)
        except Exception:
            self.kill()
            raise

    def text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def counts(self) -> list[int]:
        return [int(x) for x in re.findall(r"^count (\d+)$", self.text(), re.M)]

    def wait_count(self, n: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.counts()
            if c and c[-1] >= n:
                return c[-1]
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: counter did not reach {n}: {self.counts()[-3:]}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status(self) -> str:
        return self.qmp.cmd("query-status")["status"]

    def wait_exit(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def quit(self) -> None:
        if self.proc.poll() is None:
            try:
                self.qmp.cmd_raw("quit")
            except (OSError, EOFError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def create_disk(path: Path, size: str = "4M", cluster_size: int = 512) -> str:
    """A qcow2 image; 512-byte clusters by default, so that every record the
    guest writes allocates a cluster (and every 64th an L2 table): the side
    that takes over must re-read that metadata, or `qemu-img check` sees
    the overlap."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster_size}",
                    str(path), size], check=True)
    return str(path)


def records(disk: str, count: int) -> list[int]:
    """The record numbers in sectors 0..count-1 as the real qemu-img reads
    them (-U: the image may be in use); stops at the first sector without one."""
    raw = disk + ".records.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", disk, raw],
                   check=True)
    with open(raw, "rb") as f:
        out = f.read(512 * count)
    os.unlink(raw)
    nums = []
    for i in range(count):
        rec = out[i * 512:(i + 1) * 512]
        if not rec.startswith(b"REC "):
            break
        nums.append(int(rec[4:12]))
    return nums


def lock_bytes(pid: int, path: str) -> set[int]:
    """The lock bytes process `pid` holds on `path` (OFD locks, from
    /proc/PID/fdinfo: which process owns what, as FACTS.md lists it)."""
    st = os.stat(path)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    held = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.path.realpath(os.path.join(fd_dir, fd)) != os.path.realpath(path):
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for line in info.splitlines():
            if line.startswith("lock:") and ident in line:
                start, end = line.split()[-2:]
                held.update(range(int(start), int(end) + 1))
    return held


def write_locked_by_someone(disk: str) -> bool:
    """True if the real qemu-img cannot take the write lock (someone holds it)."""
    r = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "", disk], capture_output=True, text=True)
    if r.returncode == 0:
        return False
    if 'Failed to get "write" lock' in r.stderr or "Failed to get" in r.stderr:
        return True
    raise AssertionError(f"qemu-io failed otherwise: {r.stderr}")


def qemu_img_check(disk: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-img", "check", "-U", disk], capture_output=True, text=True)
