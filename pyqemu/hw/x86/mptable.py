"""The MultiProcessor Specification 1.4 tables (chapter 4): a floating
pointer in the BIOS area and a configuration table listing the processors
(their LAPIC IDs), the ISA bus, the IOAPIC and the ISA interrupt routing.
Guests (Linux with CONFIG_X86_MPPARSE, the SMP test guest) find the
application processors here and start them with INIT/SIPI."""

from __future__ import annotations

import struct

LAPIC_ADDR = 0xFEE00000
IOAPIC_ADDR = 0xFEC00000
LAPIC_VERSION = 0x14
IOAPIC_VERSION = 0x11

FLOATING = struct.Struct("<4sIBBBB4s")               # 4.1 MP Floating Pointer Structure
CONFIG_HEADER = struct.Struct("<4sHBB8s12sIHHIHBB")  # 4.2 MP Configuration Table Header
PROCESSOR = struct.Struct("<BBBBII8s")               # 4.3.1 Processor Entry (type 0)
BUS = struct.Struct("<BB6s")                         # 4.3.2 Bus Entry (type 1)
IOAPIC = struct.Struct("<BBBBI")                     # 4.3.3 I/O APIC Entry (type 2)
INTSRC = struct.Struct("<BBHBBBB")                   # 4.3.4 I/O Interrupt Assignment (type 3)
LINTSRC = struct.Struct("<BBHBBBB")                  # 4.3.5 Local Interrupt Assignment (type 4)
CPU_ENABLED, CPU_BSP = 1, 2
INT_TYPE_INT, INT_TYPE_NMI, INT_TYPE_EXTINT = 0, 1, 3
ISA_BUS_ID = 0


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def build_mptable(address: int, num_cpus: int, ioapic_id: int | None = None,
                  isa_irqs: range = range(16)) -> bytes:
    """The floating pointer at `address` followed by the configuration table."""
    ioapic_id = num_cpus if ioapic_id is None else ioapic_id
    entries = []
    for cpu in range(num_cpus):
        flags = CPU_ENABLED | (CPU_BSP if cpu == 0 else 0)
        # Signature: family 6; feature flags: FPU and APIC (the guest reads CPUID anyway).
        entries.append(PROCESSOR.pack(0, cpu, LAPIC_VERSION, flags, 0x600, 0x201, bytes(8)))
    entries.append(BUS.pack(1, ISA_BUS_ID, b"ISA   "))
    entries.append(IOAPIC.pack(2, ioapic_id, IOAPIC_VERSION, 1, IOAPIC_ADDR))
    for irq in isa_irqs:
        if irq == 2:
            continue                      # the cascade; the PIT's IRQ 0 is wired to pin 2
        pin = 2 if irq == 0 else irq
        entries.append(INTSRC.pack(3, INT_TYPE_INT, 0, ISA_BUS_ID, irq, ioapic_id, pin))
    entries.append(LINTSRC.pack(4, INT_TYPE_EXTINT, 0, ISA_BUS_ID, 0, 0xFF, 0))
    entries.append(LINTSRC.pack(4, INT_TYPE_NMI, 0, ISA_BUS_ID, 0, 0xFF, 1))
    body = b"".join(entries)
    length = CONFIG_HEADER.size + len(body)
    header = CONFIG_HEADER.pack(b"PCMP", length, 4, 0, b"PYQEMU  ", b"microvm     ", 0, 0,
                                len(entries), LAPIC_ADDR, 0, 0, 0)
    table = header + body
    table = table[:7] + bytes([_checksum(table)]) + table[8:]
    config_addr = address + FLOATING.size
    floating = FLOATING.pack(b"_MP_", config_addr, 1, 4, 0, 0, bytes(4))
    floating = floating[:10] + bytes([_checksum(floating)]) + floating[11:]
    return floating + table
