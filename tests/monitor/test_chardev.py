"""Character backends: socket (server wait=on, client), pty, ringbuf, file,
-chardev + -mon; against qemu-system-riscv64 where both can run."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest

from monhelpers import PYQEMU, QEMU, RawQMP, wait_for_socket


def _serial_over_socket(binary: str, elf, tmp_path) -> tuple[bytes, int]:
    path = str(tmp_path / f"serial-{os.path.basename(binary)}.sock")
    proc = subprocess.Popen([binary, "-M", "virt", "-bios", "none", "-display", "none",
                             "-chardev", f"socket,id=s0,path={path},server=on,wait=on",
                             "-serial", "chardev:s0", "-kernel", str(elf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        s = socket.socket(socket.AF_UNIX)
        while True:
            # The path exists from bind(), a moment before listen(): until
            # then a connect is refused.
            try:
                s.connect(path)          # wait=on: the guest starts only now
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        s.settimeout(20)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data, proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_serial_on_a_socket_server_waits_for_its_client(guests, tmp_path):
    ours = _serial_over_socket(PYQEMU, guests["poweroff"], tmp_path)
    theirs = _serial_over_socket(QEMU, guests["poweroff"], tmp_path)
    assert ours == theirs == (b"hi\n", 0)


def test_serial_as_a_socket_client(guests, tmp_path):
    path = str(tmp_path / "listen.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(20)
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "none", "-display", "none",
                             "-chardev", f"socket,id=c0,path={path}", "-serial", "chardev:c0",
                             "-kernel", str(guests["poweroff"])],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn, _ = srv.accept()
    conn.settimeout(20)
    data = b""
    while b"\n" not in data:
        data += conn.recv(100)
    assert data == b"hi\n"
    assert proc.wait(20) == 0
    conn.close()
    srv.close()


def test_qmp_on_chardev_with_mon_and_query_chardev(guests, launch, tmp_path):
    qpath = str(tmp_path / "ctl.sock")
    out = tmp_path / "serial.txt"
    emu = launch(guests["loop"], "-S", "-chardev", f"socket,id=ctl,path={qpath},server=on,wait=off",
                 "-mon", "chardev=ctl,mode=control", "-chardev", "ringbuf,id=rb,size=4096",
                 "-chardev", f"file,id=f0,path={out}", qmp=False)
    wait_for_socket(qpath, emu.proc)
    c = RawQMP(qpath)
    assert "QMP" in c.recv()
    c.command("qmp_capabilities")
    devs = {d["label"]: (d["filename"], d["frontend-open"])
            for d in c.command("query-chardev")["return"]}
    assert devs == {"ctl": (f"unix:{qpath},server=on", True), "rb": ("ringbuf", False),
                    "f0": ("file", False), "serial0": ("null", True)}


def test_pty_serial_announces_its_device(guests):
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "none", "-display", "none",
                             "-serial", "pty", "-kernel", str(guests["loop"])],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline().decode()
        m = re.fullmatch(r"char device redirected to (/dev/pts/\d+) \(label serial0\)\n", line)
        assert m, line
        assert os.path.exists(m.group(1))
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()


@pytest.mark.parametrize("args, message", [
    (["-chardev", "socket,path=/tmp/x"], "Parameter 'id' is missing"),
    (["-chardev", "bogus,id=x"], "'bogus' is not a valid char driver name"),
    (["-chardev", "ringbuf,id=x,size=1000"], "must be power of two"),
    (["-mon", "chardev=nope"], "chardev 'nope' not found"),
    (["-serial", "chardev:nope"], "chardev 'nope' not found"),
    (["-qmp", "tcp:localhost:notaport,server=on"], "invalid port"),
    (["-chardev", "socket,id=x,path=/tmp/x,bogus=1"], "Invalid parameter 'bogus'"),
])
def test_bad_chardev_options_are_one_line(guests, args, message):
    r = subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", *args, "-kernel",
                        str(guests["loop"])], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _ringbuf_session(binary, elf, tmp_path):
    """The guest says "hi\\n" into a ringbuf serial; read it over QMP."""
    path = str(tmp_path / f"rb-{os.path.basename(binary)}.sock")
    proc = subprocess.Popen([binary, "-M", "virt", "-bios", "none", "-display", "none",
                             "-chardev", "ringbuf,id=rb,size=8", "-serial", "chardev:rb",
                             "-no-shutdown", "-kernel", str(elf),
                             "-qmp", f"unix:{path},server=on,wait=off"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_socket(path, proc)
        c = RawQMP(path)
        c.recv()
        c.command("qmp_capabilities")
        out = []
        deadline = time.monotonic() + 20
        got = ""
        while "\n" not in got and time.monotonic() < deadline:
            got += c.command("ringbuf-read", device="rb", size=100)["return"]
            time.sleep(0.02)
        out.append(got)
        out.append(c.command("ringbuf-write", device="rb", data="0123456789"))
        out.append(c.command("ringbuf-read", device="rb", size=100, format="base64"))
        out.append(c.command("ringbuf-read", device="nope", size=1)["error"])
        c.close()
        return out
    finally:
        proc.kill()
        proc.wait()


def test_ringbuf_read_write_match_qemu(guests, tmp_path):
    """The ring keeps the newest `size` bytes; reads take the oldest first."""
    ours = _ringbuf_session(PYQEMU, guests["loop_hi"], tmp_path)
    theirs = _ringbuf_session(QEMU, guests["loop_hi"], tmp_path)
    assert ours == theirs
    assert ours[0] == "hi\n"
