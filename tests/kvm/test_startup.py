"""Start-up imports only what the command line asks for (issue 6: start-up
faster than QEMU's): a board with a serial on stdio and no monitor runs
without asyncio, the monitor, the block layer, migration or pyelftools, and
still ends on a signal as QEMU does."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from kvmhelpers import QEMU, ROOT

COMMON = ["-display", "none", "-serial", "stdio", "-no-reboot", "-m", "64",
          "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
NOT_ON_THE_PLAIN_PATH = ("asyncio", "pyqemu.monitor", "pyqemu.block", "pyqemu.migration.migration",
                         "pyqemu.hw.virtio.blk", "elftools", "zstandard")


def _imported(stderr: bytes) -> set[str]:
    """Module names from `python -X importtime`'s report."""
    return {m.group(1).decode() for m in
            re.finditer(rb"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", stderr, re.M)}


def _ours_importtime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "pyqemu.cli.system_x86", *args],
                          capture_output=True, timeout=30, cwd=ROOT)


def test_plain_command_line_imports_no_monitor_block_or_elftools(guest):
    r = _ours_importtime("-M", "microvm", "-kernel", guest("pio"), "-append", "n=0", *COMMON)
    assert r.returncode == 1, r.stderr[-2000:]          # the guest's debug-exit status 0
    loaded = _imported(r.stderr)
    assert "pyqemu.machine.x86.microvm" in loaded
    heavy = {m for m in loaded if m.startswith(NOT_ON_THE_PLAIN_PATH)}
    assert not heavy, heavy


def test_monitor_still_brings_its_loop(guest):
    """-qmp (or a socket chardev) is what pulls in asyncio and the monitor."""
    r = _ours_importtime("-M", "microvm", "-kernel", guest("pio"), "-append", "n=0", *COMMON,
                         "-qmp", "null")
    assert r.returncode == 1, r.stderr[-2000:]
    loaded = _imported(r.stderr)
    assert "asyncio" in loaded and "pyqemu.monitor.server" in loaded


def _terminate(cmd: list[str]) -> tuple[int, bytes]:
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, cwd=ROOT)
    time.sleep(1.0)
    assert p.poll() is None, p.stderr.read()
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=10)
    return p.returncode, err


def test_sigterm_ends_the_plain_path_like_qemu(guest):
    """A guest still running (a long port-I/O loop): SIGTERM ends both VMMs
    with status 0 and a 'terminating on signal 15' line."""
    args = ["-M", "microvm", "-kernel", guest("pio"), "-append", "n=100000000", *COMMON]
    code, err = _terminate([sys.executable, "-m", "pyqemu.cli.system_x86", *args])
    assert code == 0 and b"terminating on signal 15" in err, err
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    code, err = _terminate([QEMU, "-enable-kvm", *args])
    assert code == 0 and b"terminating on signal 15" in err, err
