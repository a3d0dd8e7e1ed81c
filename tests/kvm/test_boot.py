"""-kernel in each entry mode, the UART at 0x3f8, isa-debug-exit; the same
guest on the real QEMU gives the same serial output and exit status."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from kvmhelpers import ours, ours_cmd, qemu, ROOT

COMMON = ["-nographic", "-no-reboot", "-m", "64", "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
MODES_OUT = b"hello from real mode\nhello from protected mode\nhello from long mode\n"


@pytest.mark.parametrize("status", [0, 21, 127])
def test_modes_guest_matches_qemu(guest, status):
    kernel = guest("modes")
    mine = ours("-M", "microvm", "-accel", "kvm", "-kernel", kernel, "-append", f"status={status}", *COMMON)
    assert mine.stdout == MODES_OUT, mine.stderr
    assert mine.returncode == (status << 1) | 1
    if status == 21:
        real = qemu("-kernel", kernel, "-append", f"status={status}", *COMMON)
        assert real.stdout == mine.stdout
        assert real.returncode == mine.returncode


def test_plain_elf64_entered_in_long_mode(guest):
    kernel = guest("elf64").replace(".elf", ".elf64")
    mine = ours("-kernel", kernel, *COMMON)
    assert mine.stdout == b"hello from a 64-bit ELF entry\n", mine.stderr
    assert mine.returncode == 11


def test_debug_exit_iosize_2(guest):
    # A byte written to a 2-byte port: the status is still (value << 1) | 1.
    mine = ours("-kernel", guest("modes"), "-nographic", "-device", "isa-debug-exit,iosize=2,iobase=0xf4",
                "-append", "x=3")
    assert mine.returncode == 7


def test_guest_fault_reports_registers(guest):
    """A kernel-mode int3 with an empty IDT: a triple fault (hardware
    virtualization) or an emulation failure (this host's PVM). Either way
    registers on stderr, and no Python traceback."""
    p = subprocess.Popen(ours_cmd("-nographic", "-no-reboot", "-kernel", guest("fault"), "-m", "64"),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        err = b""
        os.set_blocking(p.stderr.fileno(), False)
        while time.monotonic() < deadline and b"EFER=" not in err and p.poll() is None:
            time.sleep(0.05)
            err += p.stderr.read() or b""
        err += p.stderr.read() or b""
    finally:
        if p.poll() is None:
            p.terminate()
        p.wait(10)
    assert b"Traceback" not in err
    assert b"RBX=000000000000cafe" in err, err
    assert b"RIP=000000000010001" in err
    assert b"KVM internal error" in err or b"triple fault" in err
