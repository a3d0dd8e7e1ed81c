"""Command-line errors of -incoming and -loadvm: one line, naming the input."""

from __future__ import annotations

import subprocess

import pytest

from mighelpers import PYQEMU, create_disk, guest_elf


def _run(tmp_path, *args, fmt="qcow2"):
    disk = tmp_path / f"d.{fmt}"
    if fmt == "qcow2":
        create_disk(disk)
    else:
        disk.write_bytes(bytes(1 << 20))
    return subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", "-nographic", "-kernel",
                           guest_elf(), "-drive", f"file={disk},if=none,id=d0,format={fmt}",
                           "-device", "virtio-blk-device,drive=d0", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, fmt, message", [
    (("-incoming", "bogus:1"), "qcow2", "unknown migration protocol: bogus:1"),
    (("-incoming", "tcp:127.0.0.1"), "qcow2", "address '127.0.0.1' of 'tcp:127.0.0.1' lacks a port"),
    (("-incoming", "tcp:127.0.0.1:http"), "qcow2", "port 'http' of 'tcp:127.0.0.1:http' is not a number"),
    (("-incoming", "file:/nonexistent/x"), "qcow2",
     "Failed to listen on 'file:/nonexistent/x': No such file or directory"),
    (("-loadvm", "s", "-incoming", "defer"), "qcow2", "-loadvm and -incoming cannot be used together"),
    (("-loadvm", "s"), "raw", "Device '{disk}' is writable but does not support snapshots"),
])
def test_one_line_errors(tmp_path, args, fmt, message):
    r = _run(tmp_path, *args, fmt=fmt)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "pyqemu-system-riscv64: " + message.format(disk=tmp_path / f"d.{fmt}")]
