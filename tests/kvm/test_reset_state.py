"""system_reset puts the vCPUs and the in-kernel interrupt controllers back
to their power-on state (SDM 10.4.7.1): a previous boot's LAPIC setup,
x2APIC mode, MSRs, debug registers and unmasked IOAPIC pins do not leak into
the next boot, and the guest boots again after it."""

from __future__ import annotations

import ctypes
import struct

from pyqemu.accel.kvm import api
from pyqemu.accel.kvm.ioctl import ioctl
from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine

APIC_TPR, APIC_SVR, APIC_LVT_TIMER, APIC_TMICT = 0x80, 0xF0, 0x320, 0x380
LVT_MASKED = 1 << 16
APIC_BASE_ENABLE, APIC_BASE_X2APIC, APIC_BASE_BSP = 1 << 11, 1 << 10, 1 << 8
MSR_IA32_SYSENTER_CS = 0x174
IOAPIC_REDIR_OFFSET = 24          # struct kvm_ioapic_state: base u64, ioregsel, id, irr, pad


def _lapic(vcpu) -> bytearray:
    st = api.LapicState()
    ioctl(vcpu.fd, api.KVM_GET_LAPIC, st)
    return bytearray(ctypes.string_at(ctypes.addressof(st), ctypes.sizeof(st)))   # .regs stops at a NUL


def _set_lapic(vcpu, regs: bytearray) -> None:
    ioctl(vcpu.fd, api.KVM_SET_LAPIC, api.LapicState.from_buffer_copy(bytes(regs)))


def _reg(regs: bytearray, offset: int) -> int:
    return struct.unpack_from("<I", regs, offset)[0]


def _ioapic(vm) -> api.Irqchip:
    chip = api.Irqchip(chip_id=api.IrqchipId.IOAPIC)
    ioctl(vm.fd, api.KVM_GET_IRQCHIP, chip)
    return chip


def _pin(chip: api.Irqchip, n: int) -> int:
    return struct.unpack_from("<Q", ctypes.string_at(ctypes.addressof(chip) + api.Irqchip.chip.offset
                                                     + IOAPIC_REDIR_OFFSET + 8 * n, 8))[0]


def _dr7(vcpu) -> int:
    d = api.DebugRegs()
    ioctl(vcpu.fd, api.KVM_GET_DEBUGREGS, d)
    return d.dr7


def test_reset_restores_power_on_lapic_and_cpu_state(guest):
    m = MicrovmMachine(MicrovmConfig(ram_size=32 << 20, smp=2, kernel=guest("pio"), append="n=0",
                                     debug_exits=[(0xF4, 1)], no_reboot=True))
    try:
        bsp, ap = m.vcpus
        fresh_ap_lapic = _lapic(ap)
        fresh_bsp_apic_base = bsp.get_sregs().apic_base
        assert fresh_bsp_apic_base == 0xFEE00000 | APIC_BASE_ENABLE | APIC_BASE_BSP

        # What a booted OS leaves behind: the AP's LAPIC enabled with a
        # periodic timer armed and a raised TPR; the BSP in x2APIC mode (where
        # KVM offers it), with SYSENTER set up and a hardware breakpoint armed;
        # the UART's IOAPIC pin unmasked.
        regs = _lapic(ap)
        struct.pack_into("<I", regs, APIC_SVR, 0x1FF)
        struct.pack_into("<I", regs, APIC_TPR, 0x20)
        struct.pack_into("<I", regs, APIC_LVT_TIMER, 0x20030)
        struct.pack_into("<I", regs, APIC_TMICT, 100000)
        _set_lapic(ap, regs)
        assert _reg(_lapic(ap), APIC_SVR) == 0x1FF
        sregs = bsp.get_sregs()
        sregs.apic_base = fresh_bsp_apic_base | APIC_BASE_X2APIC
        try:
            bsp.set_sregs(sregs)
        except OSError:
            pass                                  # no x2APIC on this host's KVM
        bsp.set_msrs({MSR_IA32_SYSENTER_CS: 0x10})
        d = api.DebugRegs()
        ioctl(bsp.fd, api.KVM_GET_DEBUGREGS, d)
        d.db[0], d.dr7 = 0x1000, 0x401
        ioctl(bsp.fd, api.KVM_SET_DEBUGREGS, d)
        chip = _ioapic(m.vm)
        pin4 = api.Irqchip.chip.offset + IOAPIC_REDIR_OFFSET + 4 * 8
        ctypes.memmove(ctypes.addressof(chip) + pin4, struct.pack("<Q", 0x30), 8)
        ioctl(m.vm.fd, api.KVM_SET_IRQCHIP, chip)
        assert _pin(_ioapic(m.vm), 4) == 0x30

        m.reset()

        after = _lapic(ap)
        assert _reg(after, APIC_SVR) == 0xFF                  # software-disabled
        assert _reg(after, APIC_TPR) == 0
        assert _reg(after, APIC_LVT_TIMER) & LVT_MASKED
        assert _reg(after, APIC_TMICT) == 0
        assert after == fresh_ap_lapic
        assert bsp.get_sregs().apic_base == fresh_bsp_apic_base     # xAPIC mode again
        assert bsp.get_msr(MSR_IA32_SYSENTER_CS) == 0
        assert _dr7(bsp) == 0x400
        assert _pin(_ioapic(m.vm), 4) & LVT_MASKED
        assert ap.get_mp_state() == api.MpStateValue.UNINITIALIZED

        # And the guest still boots from the reset state: its first
        # instruction leaves through isa-debug-exit with status 0.
        assert m.run() == 1
    finally:
        m.close_devices()
