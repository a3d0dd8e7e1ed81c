"""Linux direct boot: the bzImage 64-bit protocol (boot_params, e820,
command line, initrd) checked with a minimal bzImage-shaped guest, and the
Debian bookworm kernel as a PVH vmlinux printing "Linux version" on our
serial port (as far as this host's KVM takes a stock kernel, the real QEMU
included)."""

from __future__ import annotations

import importlib.util

import pytest

from kvmhelpers import ROOT, guest_build, ours, ours_cmd, run_until


def test_bzimage_boot_protocol(tmp_path):
    kernel = str(guest_build.build_flat("minibz"))
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"INITRD-0123456789")
    r = ours("-nographic", "-no-reboot", "-m", "64", "-kernel", kernel, "-append", "console=ttyS0 quiet",
             "-initrd", str(initrd), "-device", "isa-debug-exit,iobase=0xf4,iosize=1")
    assert r.stdout == (b"bzImage entry: cmdline=console=ttyS0 quiet e820=3 loader=0xff "
                        b"initrd=INITRD-0 cs=0x10 ds=0x18\n"), r.stderr
    assert r.returncode == 15


def test_initrd_needs_linux(guest, tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"x")
    r = ours("-nographic", "-kernel", guest("modes"), "-initrd", str(initrd))
    assert r.returncode == 1 and b"-initrd needs a Linux kernel" in r.stderr


def _debian_kernel():
    spec = importlib.util.spec_from_file_location("x86_linux_fetch", ROOT / "scripts" / "x86-linux" / "fetch.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    found = fetch.cached()
    if found is None:
        try:
            found = fetch.fetch()
        except (fetch.FetchError, OSError) as e:
            pytest.skip(f"cannot fetch the Debian kernel: {e}")
    return found


@pytest.mark.timeout(300)
def test_debian_pvh_vmlinux_prints_linux_version(tmp_path):
    """Up to the kernel taking our ACPI tables (the DSDT with the virtio-mmio
    device, the MADT with 2 CPUs and the IOAPIC): about a minute here, as
    kernel-mode code is emulated by this host's KVM (~2 MIPS)."""
    _vmlinuz, vmlinux = _debian_kernel()
    disk = tmp_path / "disk.raw"
    disk.write_bytes(bytes(1 << 20))
    args = ["-nographic", "-no-reboot", "-m", "256", "-smp", "2", "-kernel", str(vmlinux),
            "-append", "console=ttyS0 earlyprintk=ttyS0",
            "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]
    seconds, out = run_until(ours_cmd(*args), b"ACPI: Using ACPI", 240)
    assert seconds is not None, out[-2000:]
    text = out.decode(errors="replace")
    assert "] Linux version 6.1." in text
    assert "Command line: console=ttyS0 earlyprintk=ttyS0" in text
    assert "ACPI: RSDP 0x00000000000E0000 000024 (v02 PYQEMU)" in text
    assert "ACPI: DSDT 0x00000000000E0040" in text
    assert "IOAPIC[0]: apic_id 2, version 17, address 0xfec00000, GSI 0-23" in text
    assert "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)" in text
    assert "Traceback" not in text


@pytest.mark.timeout(300)
def test_debian_bzimage_prints_linux_version():
    """The bzImage through the 64-bit boot protocol, its payload decompressed
    by the VMM (x-decompress-bzimage=on): the kernel's own decompressor runs
    in kernel mode, which this host's KVM emulates - many minutes, on the
    real QEMU too. On a host with hardware virtualization it is not needed."""
    vmlinuz, _vmlinux = _debian_kernel()
    args = ["-M", "microvm,x-decompress-bzimage=on", "-nographic", "-no-reboot", "-m", "256",
            "-kernel", str(vmlinuz), "-append", "console=ttyS0 earlyprintk=ttyS0"]
    seconds, out = run_until(ours_cmd(*args), b"Command line: console=ttyS0 earlyprintk=ttyS0", 240)
    assert seconds is not None, out[-2000:]
    assert b"] Linux version 6.1." in out
    assert b"Traceback" not in out


def test_x_decompress_bzimage_value_is_checked(guest):
    r = ours("-M", "microvm,x-decompress-bzimage=maybe", "-kernel", guest("modes"), "-nographic")
    assert r.returncode == 1 and b"'x-decompress-bzimage' expects 'on' or 'off'" in r.stderr
