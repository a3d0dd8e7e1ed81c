"""Helpers of the gdbstub tests: an emulator with a QMP socket whose gdbstub
is started by HMP `gdbserver`, gdb-multiarch in batch mode, and a raw
remote-protocol client for what a gdb script cannot do (^C)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYQEMU = str(REPO / ".venv" / "bin" / "pyqemu-system-riscv64")
QEMU = "qemu-system-riscv64"
_COUNT = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QMP:
    def __init__(self, path: str, proc: subprocess.Popen):
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"no QMP socket: {proc.stderr.read().decode()}")
                time.sleep(0.02)
        self.sock.settimeout(20)
        self.buf = b""
        self.events: list[dict] = []
        self._read()                                  # greeting
        self.command("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name: str, **args):
        msg = {"execute": name, **({"arguments": args} if args else {})}
        self.sock.sendall(json.dumps(msg).encode())
        while True:
            m = self._read()
            if "event" in m:
                self.events.append(m["event"])
                continue
            if "error" in m:
                raise AssertionError(f"{name}: {m['error']}")
            return m["return"]

    def status(self) -> str:
        return self.command("query-status")["status"]


class GdbTarget:
    """qemu-system-riscv64 or pyqemu-system-riscv64, -S, gdbstub on a free port."""

    def __init__(self, binary: str, elf: Path, tmp: Path, extra=()):
        # unix socket paths are short (108 bytes): a short name in the test's tmp dir
        self.qmp_path = str(tmp / f"{os.path.basename(binary)[0]}{next(_COUNT)}.sock")
        self.proc = subprocess.Popen(
            [binary, "-M", "virt", "-bios", "none", "-display", "none", "-serial", "null",
             "-kernel", str(elf), "-S", "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.qmp = QMP(self.qmp_path, self.proc)
        self.port = free_port()
        out = self.qmp.command("human-monitor-command", **{"command-line":
                                                          f"gdbserver tcp::{self.port}"})
        assert out.strip() == f"Waiting for gdb connection on device 'tcp::{self.port}'", out

    def gdb(self, elf: Path, commands: list[str], timeout: float = 60) -> str:
        """Run gdb-multiarch in batch mode; its output with the port taken out."""
        args = ["gdb-multiarch", "-q", "-nx", "-batch", "-ex", "set confirm off",
                "-ex", "set pagination off", "-ex", f"target remote 127.0.0.1:{self.port}"]
        for c in commands:
            args += ["-ex", c]
        r = subprocess.run(args + [str(elf)], capture_output=True, text=True, timeout=timeout)
        return (r.stdout + r.stderr).replace(str(self.port), "PORT")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class RemoteClient:
    """The remote protocol by hand (GDB manual, appendix E)."""

    def __init__(self, port: int | None = None, path: str | None = None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(20)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def _packet(self) -> str:
        while True:
            m = re.search(rb"\$([^#]*)#([0-9a-f]{2})", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1).decode()
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("stub closed the connection")
            self.buf += chunk

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, payload: str, reply: bool = True) -> str | None:
        cs = sum(payload.encode()) & 0xFF
        self.sock.sendall(f"${payload}#{cs:02x}".encode())
        return self._packet() if reply else None

    def wait_reply(self) -> str:
        return self._packet()

    def close(self) -> None:
        self.sock.close()
