"""Helpers of the monitor tests: the tiny guests' sources, emulator
launchers (pyqemu and the real qemu-system-riscv64) and a raw QMP client.
A module of its own, not conftest, so imports never pick up tests/conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYQEMU = str(REPO / ".venv" / "bin" / "pyqemu-system-riscv64")
QEMU = "qemu-system-riscv64"

GUESTS = {
    # a0 = 0x1234, then count in a1 forever
    "loop": """
        .globl _start
    _start:
        li a0, 0x1234
        li a1, 0
    1:  addi a1, a1, 1
        j 1b
    """,
    # says "hi" on the UART, then powers off with status 0
    "poweroff": """
        .globl _start
    _start:
        li t0, 0x10000000
        li t1, 'h'
        sb t1, 0(t0)
        li t1, 'i'
        sb t1, 0(t0)
        li t1, '\\n'
        sb t1, 0(t0)
        li t0, 0x100000
        li t1, 0x5555
        sw t1, 0(t0)
    1:  j 1b
    """,
    # says "hi" on the UART, then loops
    "loop_hi": """
        .globl _start
    _start:
        li t0, 0x10000000
        li t1, 'h'
        sb t1, 0(t0)
        li t1, 'i'
        sb t1, 0(t0)
        li t1, '\\n'
        sb t1, 0(t0)
    1:  j 1b
    """,
    # waits ~0.3 s of its own time (spinning), then powers off
    "late_poweroff": """
        .globl _start
    _start:
        li t2, 200000
    2:  addi t2, t2, -1
        bnez t2, 2b
        li t0, 0x100000
        li t1, 0x5555
        sw t1, 0(t0)
    1:  j 1b
    """,
    # asks for a reset (SiFive test 0x7777) once, then loops; s1 counts boots
    "reset": """
        .globl _start
    _start:
        li t0, 0x100000
        li t1, 0x7777
        sw t1, 0(t0)
    1:  j 1b
    """,
}


def wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path)
                return
            except OSError:
                pass
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited with {proc.returncode}: "
                                 f"{proc.stderr.read().decode(errors='replace')}")
        time.sleep(0.02)
    raise AssertionError(f"no socket at {path}")


class Emulator:
    """One emulator process with a QMP unix socket (and more options)."""

    def __init__(self, binary: str, elf: Path, tmp: Path, extra=(), qmp=True, name="qmp"):
        self.qmp_path = str(tmp / f"{name}-{os.path.basename(binary)}.sock")
        args = [binary, "-M", "virt", "-bios", "none", "-display", "none", "-serial", "null",
                "-kernel", str(elf), *extra]
        if qmp:
            args += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        if qmp:
            wait_for_socket(self.qmp_path, self.proc)

    def wait(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class RawQMP:
    """A plain socket client, for what QMPClient will not send (bad JSON...)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(20)
        self.buf = b""
        self.pending: list[dict] = []     # events read while waiting for a reply

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> dict:
        if self.pending:
            return self.pending.pop(0)
        return self._read()

    def _read(self) -> dict:
        import json
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("monitor closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def recv_reply(self) -> dict:
        """The next message that is not an event."""
        while True:
            m = self._read()
            if "event" not in m:
                return m
            self.pending.append(m)

    def command(self, name: str, **args) -> dict:
        import json
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.send(json.dumps(msg).encode())
        return self.recv_reply()

    def close(self) -> None:
        self.sock.close()
