"""Character backends: stdio (pipes and a real pseudo-terminal), the C-a mux
compared byte for byte with the real QEMU, -serial parsing and its errors."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pyqemu.chardev import ChardevError, parse_serial
from pyqemu.chardev.file import FileChardev
from pyqemu.chardev.null import NullChardev
from pyqemu.chardev.stdio import StdioChardev

REPO = Path(__file__).resolve().parents[3]

# A minimal "machine": the chardev on stdio, a receiver that echoes what the
# vCPU thread gets as <...>, and an event loop like the vCPU's.
CHILD = r"""
import sys, threading, time
from pyqemu.chardev import parse_serial
from pyqemu.system.events import EventQueue
events = EventQueue()
chardev = parse_serial(sys.argv[1])
vcpu = threading.get_ident()
def receive(data):
    assert threading.get_ident() == vcpu, "receiver ran off the vCPU thread"
    chardev.write(b"<" + data + b">")
    if b"boom" in data:
        raise RuntimeError("guest asked for a crash")
if sys.argv[3:] == ["hook"]:
    def quit():
        assert threading.get_ident() == vcpu, "on_quit ran off the vCPU thread"
        chardev.write(b"<QUIT>")
        sys.exit(3)
    chardev.on_quit = quit
chardev.attach(receive, events, on_break=lambda: chardev.write(b"<BREAK>"))
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    events.wait(0.02)
    events.run_pending()
    if chardev.input_closed.is_set() and not events.pending:
        break
chardev.close()
"""


def run_child(spec: str, data: bytes, seconds: float = 10,
              *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, spec, str(seconds), *extra], input=data,
                          capture_output=True, timeout=seconds + 10, cwd=REPO)


def real_qemu_mux(data: bytes) -> subprocess.CompletedProcess:
    qemu = shutil.which("qemu-system-riscv64")
    if qemu is None:
        pytest.skip("qemu-system-riscv64 is not installed (scripts/bootstrap.sh installs it)")
    return subprocess.run([qemu, "-M", "virt", "-nographic", "-bios", "none"], input=data,
                          capture_output=True, timeout=30)


def test_mux_help_and_quit_match_real_qemu():
    keys = b"\x01h\x01x"
    ours, real = run_child("mon:stdio", keys), real_qemu_mux(keys)
    assert ours.returncode == real.returncode == 0
    assert ours.stdout == real.stdout
    assert ours.stdout.endswith(b"QEMU: Terminated\n\r")


def test_mux_quit_stops_input_at_the_escape():
    ours = run_child("mon:stdio", b"ab\x01xcd")
    assert ours.returncode == 0
    assert ours.stdout in (b"<ab>QEMU: Terminated\n\r", b"QEMU: Terminated\n\r")


def test_mux_quit_hook_runs_on_the_vcpu_thread():
    ours = run_child("mon:stdio", b"\x01x", 10, "hook")
    assert ours.returncode == 3, ours.stderr
    assert ours.stdout == b"QEMU: Terminated\n\r<QUIT>"


def test_mux_escapes_reaching_the_guest():
    ours = run_child("mon:stdio", b"a\x01\x01b\x01zc\x01cd\x01be")
    assert ours.returncode == 0, ours.stderr
    assert b"QEMU: no monitor\n\r" in ours.stdout
    # Input may arrive in any number of chunks, each echoed as <...>: join them.
    guest = ours.stdout.replace(b"QEMU: no monitor\n\r", b"").replace(b"><", b"")
    # C-a C-a is one C-a; C-a z is swallowed; C-a b is a break, in order.
    assert guest == b"<a\x01bcdBREAKe>"


def test_mux_timestamps_toggle():
    ours = run_child("mon:stdio", b"\x01tone\ntwo\n")
    assert ours.returncode == 0, ours.stderr
    # Every line the output starts gets a stamp, the echo's closing ">" too.
    stamped = re.sub(rb"\[00:00:00\.\d\d\d\] ", b"[T] ", ours.stdout).replace(b"><", b"")
    assert stamped == b"[T] <one\n[T] two\n[T] >"


def test_plain_stdio_passes_everything_and_eof_is_not_an_error():
    ours = run_child("stdio", b"hello\x01x")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.replace(b"><", b"") == b"<hello\x01x>"
    assert ours.stderr == b""


def test_empty_stdin_is_fine():
    ours = run_child("stdio", b"")
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, b"", b"")


def _pty_child(action: bytes):
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "mon:stdio", "10"], stdin=slave,
                            stdout=slave, stderr=subprocess.PIPE, cwd=REPO)
    try:
        # Wait until the child has put the terminal into raw mode.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and termios.tcgetattr(slave)[3] & termios.ICANON:
            time.sleep(0.01)
        raw = termios.tcgetattr(slave)
        os.write(master, action)
        proc.wait(timeout=10)
        output = b""
        while True:
            if not select.select([master], [], [], 0.2)[0]:
                break
            output += os.read(master, 4096)
        after = termios.tcgetattr(slave)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    return before, raw, after, proc, output


def test_terminal_raw_mode_and_restored_after_quit():
    before, raw, after, proc, output = _pty_child(b"hi\x01x")
    lflag, iflag = raw[3], raw[0]
    assert not lflag & (termios.ICANON | termios.ECHO)
    assert not iflag & termios.ICRNL              # Enter reaches the guest as CR
    assert lflag & termios.ISIG                   # Ctrl-C still stops the emulator
    assert proc.returncode == 0
    # The terminal's output processing (kept on, as QEMU keeps it) makes \n \r\n.
    assert output.endswith(b"QEMU: Terminated\r\n\r")
    assert after == before


def test_terminal_restored_when_the_emulator_crashes():
    before, raw, after, proc, output = _pty_child(b"boom")
    assert not raw[3] & termios.ICANON
    assert proc.returncode == 1
    assert b"guest asked for a crash" in proc.stderr.read()
    assert after == before


def test_parse_serial_backends(tmp_path):
    assert parse_serial("none") is None
    assert isinstance(parse_serial("null"), NullChardev)
    parse_serial("null").write(b"discarded")
    stdio = parse_serial("stdio")
    assert isinstance(stdio, StdioChardev) and not stdio.mux
    assert parse_serial("mon:stdio").mux
    path = tmp_path / "out.txt"
    path.write_bytes(b"old contents that QEMU truncates")
    chardev = parse_serial(f"file:{path}")
    assert isinstance(chardev, FileChardev)
    chardev.write(b"line 1\n")
    chardev.write(b"line 2\n")
    assert path.read_bytes() == b"line 1\nline 2\n"   # unbuffered
    chardev.close()
    chardev.close()


def test_parse_serial_socket_and_pty_backends(tmp_path):
    from pyqemu.chardev.pty import PtyChardev
    from pyqemu.chardev.socket import SocketChardev
    sock = parse_serial(f"unix:{tmp_path / 's'},server=on,wait=off")
    try:
        assert isinstance(sock, SocketChardev)
    finally:
        sock.close()
    pty = parse_serial("pty")
    try:
        assert isinstance(pty, PtyChardev)
    finally:
        pty.close()


@pytest.mark.parametrize("spec", ["foo", "bogus:thing", "file:/nonexistent/dir/x", "file:"])
def test_parse_serial_errors_read_like_qemu(spec):
    qemu = shutil.which("qemu-system-riscv64")
    if qemu is None:
        pytest.skip("qemu-system-riscv64 is not installed")
    with pytest.raises(ChardevError) as ours:
        parse_serial(spec)
    real = subprocess.run([qemu, "-M", "virt", "-display", "none", "-bios", "none",
                           "-serial", spec], capture_output=True, text=True, timeout=30)
    first_line = real.stderr.splitlines()[0]
    assert first_line == f"qemu-system-riscv64: {ours.value}"
