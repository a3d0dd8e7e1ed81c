"""Clear one-line errors: no usable /dev/kvm, KVM asked of the RISC-V
emulator, bad -cpu features, bad -kernel."""

from __future__ import annotations

import os
import subprocess
import sys

from kvmhelpers import ROOT, ours


def test_missing_dev_kvm_is_one_line_and_status_1(guest):
    env = dict(os.environ, PYQEMU_KVM_DEVICE="/nonexistent/kvm")
    r = ours("-kernel", guest("modes"), "-nographic", env=env)
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Could not access KVM kernel module /nonexistent/kvm" in lines[0]
    assert "No such file or directory" in lines[0]


def test_not_a_kvm_device(guest):
    env = dict(os.environ, PYQEMU_KVM_DEVICE="/dev/null")
    r = ours("-kernel", guest("modes"), "-nographic", env=env)
    assert r.returncode == 1
    assert r.stderr.decode().count("\n") == 1
    assert "/dev/null is not a KVM device" in r.stderr.decode()


def test_accel_kvm_on_riscv_is_refused():
    code = ("import sys; from pyqemu.cli.system import main_riscv64; "
            "sys.argv = ['pyqemu-system-riscv64', '-M', 'virt', '-accel', 'kvm', '-nographic', "
            "'-bios', 'none']; main_riscv64()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr
    assert b"invalid accelerator kvm" in r.stderr and b"RISC-V" in r.stderr


def test_cpu_feature_errors(guest):
    r = ours("-cpu", "host,-nosuchfeature", "-kernel", guest("modes"), "-nographic")
    assert r.returncode == 1
    assert b"Property 'nosuchfeature' not found" in r.stderr
    r = ours("-cpu", "pentium", "-kernel", guest("modes"), "-nographic")
    assert r.returncode == 1 and b"unable to find CPU model 'pentium'" in r.stderr


def test_hidden_cpu_feature_still_boots(guest):
    r = ours("-cpu", "host,-avx2,-x2apic", "-kernel", guest("modes"), "-nographic", "-append", "s=1",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=1")
    assert r.returncode == 3, r.stderr


def test_bad_kernel_and_accel(guest, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 100)
    r = ours("-kernel", str(junk), "-nographic")
    assert r.returncode == 1
    assert f"could not load kernel '{junk}'".encode() in r.stderr
    r = ours("-kernel", "/nonexistent.elf", "-nographic")
    assert r.returncode == 1 and b"No such file or directory" in r.stderr
    r = ours("-accel", "tcg", "-kernel", guest("modes"), "-nographic")
    assert r.returncode == 1 and b"only with kvm" in r.stderr
    r = ours("-M", "pc", "-kernel", guest("modes"), "-nographic")
    assert r.returncode == 1 and b"unsupported machine type 'pc'" in r.stderr
