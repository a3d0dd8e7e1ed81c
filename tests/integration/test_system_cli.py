"""The system emulator's command line and its default boot, checked against
the real qemu-system-riscv64 where one exists on the machine."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYQEMU64 = ROOT / ".venv" / "bin" / "pyqemu-system-riscv64"
PYQEMU32 = ROOT / ".venv" / "bin" / "pyqemu-system-riscv32"
OPENSBI = Path("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin")


def run(args, binary=PYQEMU64, timeout=30, stdin=subprocess.DEVNULL):
    return subprocess.run([str(binary), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=stdin)


@pytest.mark.parametrize("args,message", [
    (["-bios", "none", "-kernel", "/nonexistent.elf"], "could not load kernel '/nonexistent.elf'"),
    (["-bios", "none", "-kernel", "/etc/hostname"], "not an ELF file"),
    (["-bios", "none", "-kernel", sys.executable], "not RISC-V"),
    (["-m", "1"], "-m: RAM size"),
    (["-m", "lots"], "-m lots: invalid size"),
    (["-smp", "1000"], "Invalid SMP CPUs 1000"),
    (["-smp", "x"], "-smp x: invalid number of CPUs"),
    (["-bogus"], "-bogus: invalid option"),
    (["-kernel"], "-kernel: requires an argument"),
    (["-M", "pc"], "unsupported machine type 'pc'"),
    (["-cpu", "cortex-a53"], "unable to find CPU model 'cortex-a53'"),
    (["-serial", "tcp:nowhere"], "-serial tcp:nowhere"),
    (["-d", "nonsense"], "unknown log item 'nonsense'"),
    (["-accel", "kvm"], "invalid accelerator kvm"),
    (["-bios", "none"], "-bios none needs -kernel"),
    (["-bios", "/nonexistent.bin"], "could not load firmware '/nonexistent.bin'"),
])
def test_bad_input_is_one_line_and_status_1(args, message):
    r = run(args)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr


def test_elf_for_the_other_xlen_is_refused(tmp_path):
    # A 64-bit RISC-V ELF given to the 32-bit emulator.
    src = tmp_path / "a.S"
    src.write_text(".globl _start\n_start: j _start\n")
    elf = tmp_path / "a.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-nostdlib", "-Ttext=0x80000000", str(src),
                    "-o", str(elf)], check=True)
    r = run(["-bios", "none", "-kernel", str(elf)], binary=PYQEMU32)
    assert r.returncode == 1
    assert "64-bit ELF on a 32-bit machine" in r.stderr


def test_help_listings():
    assert "virt" in run(["-M", "help"]).stdout
    assert "rv64" in run(["-cpu", "help"]).stdout
    assert "in_asm" in run(["-d", "help"]).stdout
    v = run(["-version"])
    assert v.returncode == 0 and "version 7.2.0" in v.stdout
    h = run(["-h"])
    assert h.returncode == 0 and "-kernel" in h.stdout and "-nographic" in h.stdout


def test_sifive_test_exit_status(tmp_path):
    """(code << 16) | 0x3333 powers off with status `code`, like QEMU."""
    src = tmp_path / "exit.S"
    src.write_text("""
        .globl _start
    _start:
        li t0, 0x100000
        li t1, (42 << 16) | 0x3333
        sw t1, 0(t0)
    1:  j 1b
    """)
    elf = tmp_path / "exit.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-nostdlib", "-Ttext=0x80000000", str(src),
                    "-o", str(elf)], check=True)
    ours = run(["-M", "virt", "-bios", "none", "-nographic", "-kernel", str(elf)])
    theirs = subprocess.run(["qemu-system-riscv64", "-M", "virt", "-bios", "none", "-nographic",
                             "-kernel", str(elf)], capture_output=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert theirs.returncode == 42
    assert ours.returncode == theirs.returncode


def test_dumpdtb_is_a_valid_device_tree(tmp_path):
    dtb = tmp_path / "virt.dtb"
    src = tmp_path / "a.S"
    src.write_text(".globl _start\n_start: j _start\n")
    elf = tmp_path / "a.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-nostdlib", "-Ttext=0x80000000", str(src),
                    "-o", str(elf)], check=True)
    dtb.unlink(missing_ok=True)
    r = subprocess.run([str(PYQEMU64), "-M", f"virt,dumpdtb={dtb}", "-bios", "none",
                        "-kernel", str(elf), "-smp", "2"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert dtb.exists(), r.stderr
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                         text=True, check=True).stdout
    assert 'riscv,isa = "rv64imafdc' in dts
    assert "cpu@1" in dts and "serial@10000000" in dts and "plic@c000000" in dts


def _banner(text: str) -> list[str]:
    """The firmware banner lines that do not depend on the CPU's extensions."""
    keep = ("OpenSBI v", "Platform Name", "Platform HART Count", "Platform IPI Device",
            "Platform Timer Device", "Platform Console Device", "Platform Reboot Device",
            "Platform Shutdown Device", "Firmware Base", "Firmware Size", "Runtime SBI Version",
            "Domain0", "Boot HART ID", "Boot HART Domain", "Boot HART Priv Version",
            "Boot HART PMP Count", "Boot HART PMP Granularity", "Boot HART PMP Address Bits",
            "Boot HART ISA Extensions")
    return [ln.rstrip() for ln in text.splitlines() if ln.startswith(keep)]


@pytest.mark.skipif(not OPENSBI.exists(), reason="Debian's opensbi package is not installed")
def test_default_boot_shows_the_opensbi_banner_like_qemu():
    # Run both until the firmware hands over to the next stage: with no
    # kernel, QEMU tells OpenSBI the next stage is at 0, and the S-mode jump
    # there faults (instruction access fault at epc 0).
    def boot(cmd, seconds):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        out = err = b""
        deadline = time.monotonic() + seconds
        os.set_blocking(p.stdout.fileno(), False)
        os.set_blocking(p.stderr.fileno(), False)
        while time.monotonic() < deadline:
            select.select([p.stdout, p.stderr], [], [], 0.5)
            out += p.stdout.read() or b""
            err += p.stderr.read() or b""
            if b"epc:0x0000000000000000" in err:
                break
        p.kill()
        p.wait()
        return out.decode(errors="replace"), err.decode(errors="replace")

    q_out, q_err = boot(["qemu-system-riscv64", "-M", "virt", "-nographic", "-d", "int"], 30)
    p_out, p_err = boot([str(PYQEMU64), "-M", "virt", "-nographic", "-d", "int"], 120)
    handover = "cause:0000000000000001, epc:0x0000000000000000"
    assert handover in q_err
    assert handover in p_err, p_out[-2000:]
    assert "Domain0 Next Mode         : S-mode" in p_out
    assert _banner(p_out) == _banner(q_out)


def test_ctrl_a_x_quits_from_a_terminal():
    """-nographic on a terminal: raw mode, C-a h lists the escapes, C-a x quits."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(PYQEMU64), [str(PYQEMU64), "-M", "virt", "-nographic"])
    out = b""

    def read_until(marker: bytes, seconds: float) -> bool:
        nonlocal out
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return marker in out
            if marker in out:
                return True
        return False

    try:
        assert read_until(b"OpenSBI v", 60), out
        os.write(fd, b"\x01h")
        assert read_until(b"C-a x    exit emulator", 10), out
        os.write(fd, b"\x01x")
        assert read_until(b"QEMU: Terminated", 10), out
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
