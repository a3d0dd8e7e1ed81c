"""mip's read-modify-write rules (privileged spec, "Machine Interrupt
Registers (mip and mie)").

SEIP reads as the OR of a software-writable bit and the PLIC's S-mode line,
but "only the software-writable SEIP bit participates in the read-modify-write
sequence of a CSRRS or CSRRC instruction". OpenSBI sets and clears SSIP with
csrs/csrc on every IPI; if the line's level were copied into the software bit
the hart would see an external interrupt forever after the PLIC line drops.
(The same for Sstc's STIP is checked against QEMU by the `timer` guest.)
"""

from __future__ import annotations

from pyqemu.memory.address_space import AddressSpace
from pyqemu.target.riscv.cpu import RISCVCPU
from pyqemu.target.riscv.csr import CSRRC, CSRRS, CSRRW, SEIP, SSIP

MIP = 0x344
SEIP_BIT = 9


def _csr(cpu, kind, value):
    return cpu.csrs.access(MIP, kind, value, True, True)


def _hart():
    cpu = RISCVCPU(0, 64, AddressSpace())
    cpu.priv = 3
    return cpu


def test_csrs_of_ssip_does_not_latch_the_plic_line_into_seip():
    cpu = _hart()
    cpu.set_irq(SEIP_BIT, 1)
    assert _csr(cpu, CSRRS, SSIP) & SEIP          # the read shows the line
    _csr(cpu, CSRRC, SSIP)
    cpu.set_irq(SEIP_BIT, 0)
    assert cpu.mip & (SEIP | SSIP) == 0


def test_software_seip_is_ored_with_the_line_and_survives_it():
    cpu = _hart()
    _csr(cpu, CSRRS, SEIP)
    cpu.set_irq(SEIP_BIT, 1)
    cpu.set_irq(SEIP_BIT, 0)
    assert cpu.mip & SEIP
    _csr(cpu, CSRRC, SEIP)
    assert not cpu.mip & SEIP


def test_csrrw_writes_the_software_bit_whatever_the_line():
    cpu = _hart()
    cpu.set_irq(SEIP_BIT, 1)
    _csr(cpu, CSRRW, 0)
    assert cpu.mip & SEIP                          # the line still reads
    cpu.set_irq(SEIP_BIT, 0)
    assert not cpu.mip & SEIP
