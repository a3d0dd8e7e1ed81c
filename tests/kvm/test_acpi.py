"""The ACPI tables microvm puts at 0xe0000, read back from guest RAM:
checksums, the RSDP -> XSDT -> FADT/MADT -> DSDT chain, and the DSDT's AML
disassembled by ACPICA's iasl (Debian package acpica-tools)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from pyqemu.hw.virtio.options import VirtioOptions
from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine


def _table(m, addr):
    sig = m.bus.read_bytes(addr, 4)
    length = struct.unpack("<I", m.bus.read_bytes(addr + 4, 4))[0]
    data = m.bus.read_bytes(addr, length)
    assert sum(data) & 0xFF == 0, sig
    return sig, data


def test_acpi_tables(guest, tmp_path):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(bytes(1 << 20))
    opts = VirtioOptions()
    try:
        opts.add_drive(f"file={disk},format=raw,if=none,id=d0")
        assert opts.add_device("virtio-blk-device,drive=d0", {})
        m = MicrovmMachine(MicrovmConfig(ram_size=64 << 20, smp=3, kernel=guest("modes"),
                                         virtio_devices=opts.all_devices()))
        rsdp = m.bus.read_bytes(0xE0000, 36)
        assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) & 0xFF == 0 and sum(rsdp) & 0xFF == 0
        assert rsdp[15] == 2                               # ACPI 2.0+: the XSDT
        sig, xsdt = _table(m, struct.unpack_from("<Q", rsdp, 24)[0])
        assert sig == b"XSDT"
        tables = dict(_table(m, a) for a in struct.unpack_from(f"<{(len(xsdt) - 36) // 8}Q", xsdt, 36))
        assert set(tables) == {b"FACP", b"APIC"}
        fadt = tables[b"FACP"]
        assert struct.unpack_from("<I", fadt, 112)[0] & (1 << 20)       # HW_REDUCED_ACPI
        sig, dsdt = _table(m, struct.unpack_from("<Q", fadt, 140)[0])
        assert sig == b"DSDT"
        madt = tables[b"APIC"]
        lapics = [madt[i + 3] for i in range(44, len(madt), 8) if madt[i] == 0 and madt[i + 1] == 8]
        assert lapics[:3] == [0, 1, 2]
        m.close_devices()
    finally:
        opts.close()
    iasl = shutil.which("iasl")
    if iasl is None:
        pytest.skip("iasl not installed (apt-get install acpica-tools): AML not disassembled")
    (tmp_path / "dsdt.dat").write_bytes(dsdt)
    subprocess.run([iasl, "-d", str(tmp_path / "dsdt.dat")], capture_output=True, check=True, timeout=30)
    dsl = (tmp_path / "dsdt.dsl").read_text()
    assert 'Name (_HID, "LNRO0005")' in dsl
    assert "0xFEB02E00,         // Address Base" in dsl
    assert "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )" in dsl
    assert "0x00000005," in dsl                             # the first device's GSI
    assert "Name (_S5, Package (0x01)" in dsl


def test_virtio_slots_filled_from_the_top(guest):
    """rng then console (command-line order) land in slots 23 and 22 (QEMU
    7.2's 24 slots, filled from the top), each
    reachable on the MMIO bus with its device ID; empty slots answer device
    ID 0; the DSDT describes exactly the two occupied ones."""
    opts = VirtioOptions()
    try:
        assert opts.add_device("virtio-rng-device", {})
        assert opts.add_device("virtio-serial-device", {})
        m = MicrovmMachine(MicrovmConfig(ram_size=16 << 20, kernel=guest("modes"),
                                         virtio_devices=opts.all_devices()))
        ids = {}
        for slot in range(24):
            base = 0xFEB00000 + 0x200 * slot
            assert m.mmio_read(base, 4) == 0x74726976               # "virt"
            ids[slot] = m.mmio_read(base + 8, 4)
        assert ids == {**{slot: 0 for slot in range(22)}, 22: 3, 23: 4}
        rsdp = m.bus.read_bytes(0xE0000, 36)
        _sig, xsdt = _table(m, struct.unpack_from("<Q", rsdp, 24)[0])
        _sig, fadt = _table(m, struct.unpack_from("<Q", xsdt, 36)[0])
        _sig, dsdt = _table(m, struct.unpack_from("<Q", fadt, 140)[0])
        assert dsdt.count(b"LNRO0005") == 2
        assert struct.pack("<I", 0xFEB02E00) in dsdt and struct.pack("<I", 0xFEB02C00) in dsdt
        m.close_devices()
    finally:
        opts.close()


@pytest.mark.parametrize("mode, status, last", [("poweroff", 0, "powering off"),
                                                ("reset", 5, "booted again after the ACPI reset")])
def test_acpi_poweroff_and_reset_like_qemu(guest, mode, status, last):
    """Guest 5 finds the sleep control / reset registers and \\_S5 in the
    tables and uses them; QEMU's microvm gives the same run."""
    from kvmhelpers import ours, qemu
    args = ["-nographic", "-m", "64", "-kernel", guest("acpipm"), "-append", mode,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
    mine = ours(*args)
    lines = mine.stdout.decode().splitlines()
    assert lines[0] == "FADT flags 0x100400, \\_S5 type 5", (lines, mine.stderr)
    assert lines[-1] == last and mine.returncode == status
    real = qemu(*args)
    assert real.stdout == mine.stdout and real.returncode == mine.returncode
