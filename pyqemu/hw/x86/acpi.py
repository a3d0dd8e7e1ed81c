"""ACPI tables for microvm (ACPI 6.x spec): RSDP -> XSDT -> FADT (hardware-
reduced) -> DSDT, and the MADT. The DSDT describes the virtio-mmio slots as
LNRO0005 devices - the way the Debian kernel (no
CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) finds them, as on QEMU's microvm - and
the MADT lists the LAPICs, the IOAPIC and IRQ 0's override to GSI 2.

The AML is encoded here directly (ACPI spec section 20, "ACPI Machine
Language Specification"), only the few terms the DSDT needs.
"""

from __future__ import annotations

import struct

OEM_ID = b"PYQEMU"
OEM_TABLE_ID = b"MICROVM "
CREATOR_ID = b"PYQM"

RSDP = struct.Struct("<8sB6sBIIQB3s")        # 5.2.5.3 Root System Description Pointer
SDT_HEADER = struct.Struct("<4sIBB6s8sI4sI")  # 5.2.6 System Description Table Header
FADT_LENGTH = 276                             # 5.2.9 FADT, revision 6
FADT_FLAG_RESET_REG_SUP = 1 << 10
FADT_FLAG_HW_REDUCED_ACPI = 1 << 20
GAS = struct.Struct("<BBBBQ")                 # 5.2.3.2 Generic Address Structure
GAS_SYSTEM_IO, GAS_ACCESS_BYTE = 1, 1
IAPC_VGA_NOT_PRESENT = 1 << 2
IAPC_MSI_NOT_SUPPORTED = 1 << 3
IAPC_CMOS_RTC_NOT_PRESENT = 1 << 5
MADT_PCAT_COMPAT = 1                          # 5.2.12: dual 8259s present (KVM's PIC)
MADT_LAPIC = struct.Struct("<BBBBI")          # 5.2.12.2 type 0
MADT_IOAPIC = struct.Struct("<BBBBII")        # 5.2.12.3 type 1
MADT_OVERRIDE = struct.Struct("<BBBBIH")      # 5.2.12.5 type 2
LAPIC_ENABLED = 1

# AML opcodes (20.2)
AML_ZERO, AML_ONE = 0x00, 0x01
AML_NAME, AML_SCOPE, AML_BUFFER, AML_PACKAGE = 0x08, 0x10, 0x11, 0x12
AML_BYTE, AML_WORD, AML_DWORD, AML_STRING = 0x0A, 0x0B, 0x0C, 0x0D
AML_EXT, AML_DEVICE = 0x5B, 0x82
AML_ROOT = 0x5C
# Resource descriptors (6.4)
MEMORY32_FIXED = struct.Struct("<BHBII")      # 6.4.3.4: tag 0x86, length 9, info, base, length
EXTENDED_IRQ = struct.Struct("<BHBBI")        # 6.4.3.6: tag 0x89, length 6, flags, count 1, irq
END_TAG = b"\x79\x00"
IRQ_CONSUMER, IRQ_EDGE = 1 << 0, 1 << 1


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def _table(signature: bytes, revision: int, body: bytes) -> bytes:
    length = SDT_HEADER.size + len(body)
    header = SDT_HEADER.pack(signature, length, revision, 0, OEM_ID, OEM_TABLE_ID, 1, CREATOR_ID, 1)
    table = bytearray(header + body)
    table[9] = _checksum(table)
    return bytes(table)


# -- AML ------------------------------------------------------------------------------
def pkg_length(body_len: int) -> bytes:
    """PkgLength (20.2.4): counts itself; 1 byte below 64, else 2-4 bytes."""
    for extra in range(4):
        total = body_len + 1 + extra
        if extra == 0 and total < 0x40:
            return bytes([total])
        if extra and total < (1 << (4 + 8 * extra)):
            out = [(extra << 6) | (total & 0xF)]
            rest = total >> 4
            for _ in range(extra):
                out.append(rest & 0xFF)
                rest >>= 8
            return bytes(out)
    raise ValueError("AML package too long")


def aml_name_seg(name: str) -> bytes:
    seg = name.encode()
    if len(seg) > 4:
        raise ValueError(f"AML name segment {name!r} longer than 4")
    return seg.ljust(4, b"_")


def aml_integer(value: int) -> bytes:
    if value in (0, 1):
        return bytes([AML_ZERO if value == 0 else AML_ONE])
    if value <= 0xFF:
        return bytes([AML_BYTE, value])
    if value <= 0xFFFF:
        return bytes([AML_WORD]) + struct.pack("<H", value)
    return bytes([AML_DWORD]) + struct.pack("<I", value)


def aml_string(text: str) -> bytes:
    return bytes([AML_STRING]) + text.encode() + b"\0"


def aml_name(name: str, value: bytes) -> bytes:
    return bytes([AML_NAME]) + aml_name_seg(name) + value


def aml_buffer(data: bytes) -> bytes:
    body = aml_integer(len(data)) + data
    return bytes([AML_BUFFER]) + pkg_length(len(body)) + body


def aml_package(*elements: bytes) -> bytes:
    body = bytes([len(elements)]) + b"".join(elements)
    return bytes([AML_PACKAGE]) + pkg_length(len(body)) + body


def aml_device(name: str, *terms: bytes) -> bytes:
    body = aml_name_seg(name) + b"".join(terms)
    return bytes([AML_EXT, AML_DEVICE]) + pkg_length(len(body)) + body


def aml_scope_root(seg: str, *terms: bytes) -> bytes:
    body = bytes([AML_ROOT]) + aml_name_seg(seg) + b"".join(terms)
    return bytes([AML_SCOPE]) + pkg_length(len(body)) + body


def resource_template(*descriptors: bytes) -> bytes:
    return aml_buffer(b"".join(descriptors) + END_TAG)


def memory32_fixed(base: int, length: int) -> bytes:
    return MEMORY32_FIXED.pack(0x86, 9, 1, base, length)


def extended_irq(gsi: int, edge: bool = True) -> bytes:
    return EXTENDED_IRQ.pack(0x89, 6, IRQ_CONSUMER | (IRQ_EDGE if edge else 0), 1, gsi)


# -- tables ---------------------------------------------------------------------------
def build_dsdt(virtio_slots: list[tuple[int, int, int]], s5_type: int = 5) -> bytes:
    """virtio_slots: (base, size, gsi) of each virtio-mmio slot; \\_S5 gives
    the sleep type the power-off write uses (7.4.2 \\_Sx System States)."""
    devices = [aml_device(f"VR{i:02X}",
                          aml_name("_HID", aml_string("LNRO0005")),
                          aml_name("_UID", aml_integer(i)),
                          aml_name("_CRS", resource_template(memory32_fixed(base, size), extended_irq(gsi))))
               for i, (base, size, gsi) in enumerate(virtio_slots)]
    s5 = aml_name("_S5_", aml_package(aml_integer(s5_type)))
    return _table(b"DSDT", 2, s5 + aml_scope_root("_SB_", *devices))


def build_madt(num_cpus: int, lapic_addr: int, ioapic_id: int, ioapic_addr: int) -> bytes:
    body = struct.pack("<II", lapic_addr, MADT_PCAT_COMPAT)
    for cpu in range(num_cpus):
        body += MADT_LAPIC.pack(0, MADT_LAPIC.size, cpu, cpu, LAPIC_ENABLED)
    body += MADT_IOAPIC.pack(1, MADT_IOAPIC.size, ioapic_id, 0, ioapic_addr, 0)
    body += MADT_OVERRIDE.pack(2, MADT_OVERRIDE.size, 0, 0, 2, 0)     # ISA IRQ 0 -> GSI 2
    return _table(b"APIC", 5, body)


def _gas_io(port: int) -> bytes:
    return GAS.pack(GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, port)


def build_fadt(dsdt_addr: int, sleep_control: int | None = None, sleep_status: int | None = None,
               reset_port: int | None = None, reset_value: int = 0) -> bytes:
    body = bytearray(FADT_LENGTH - SDT_HEADER.size)

    def put(offset: int, fmt: str, value: int) -> None:
        struct.pack_into(fmt, body, offset - SDT_HEADER.size, value)

    put(40, "<I", dsdt_addr)                  # DSDT
    put(109, "<H", IAPC_VGA_NOT_PRESENT | IAPC_MSI_NOT_SUPPORTED | IAPC_CMOS_RTC_NOT_PRESENT)
    flags = FADT_FLAG_HW_REDUCED_ACPI
    if reset_port is not None:
        flags |= FADT_FLAG_RESET_REG_SUP
        body[116 - SDT_HEADER.size:128 - SDT_HEADER.size] = _gas_io(reset_port)
        put(128, "<B", reset_value)
    if sleep_control is not None:
        body[244 - SDT_HEADER.size:256 - SDT_HEADER.size] = _gas_io(sleep_control)
    if sleep_status is not None:
        body[256 - SDT_HEADER.size:268 - SDT_HEADER.size] = _gas_io(sleep_status)
    put(112, "<I", flags)
    put(131, "<B", 1)                         # FADT minor version (6.1)
    put(140, "<Q", dsdt_addr)                 # X_DSDT
    put(268, "<Q", int.from_bytes(b"PYQEMU\0\0", "little"))   # hypervisor vendor identity
    return _table(b"FACP", 6, bytes(body))


def build_acpi(address: int, num_cpus: int, virtio_slots: list[tuple[int, int, int]],
               lapic_addr: int = 0xFEE00000, ioapic_addr: int = 0xFEC00000,
               pm_ports: tuple[int, int, int, int] | None = None) -> bytes:
    """pm_ports: (sleep control, sleep status, reset port, reset value) for the FADT."""
    """RSDP at `address`, then XSDT, FADT, DSDT and MADT; one blob to load there."""
    blob = bytearray(64)                      # RSDP (36 bytes), padded
    def place(table: bytes) -> int:
        while len(blob) % 16:
            blob.append(0)
        at = address + len(blob)
        blob.extend(table)
        return at

    dsdt = place(build_dsdt(virtio_slots))
    if pm_ports is not None:
        control, status, reset, value = pm_ports
        fadt = place(build_fadt(dsdt, control, status, reset, value))
    else:
        fadt = place(build_fadt(dsdt))
    madt = place(build_madt(num_cpus, lapic_addr, num_cpus, ioapic_addr))
    xsdt = place(_table(b"XSDT", 1, struct.pack("<QQ", fadt, madt)))
    rsdp = bytearray(RSDP.pack(b"RSD PTR ", 0, OEM_ID, 2, 0, RSDP.size, xsdt, 0, bytes(3)))
    rsdp[8] = _checksum(rsdp[:20])
    rsdp[32] = _checksum(rsdp)
    blob[:RSDP.size] = rsdp
    return bytes(blob)
