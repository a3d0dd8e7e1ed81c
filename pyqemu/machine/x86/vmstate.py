"""What of a microvm migrates and snapshots, in stream order (the hooks
pyqemu/migration/state.py asks a board for: vmstate_sections, ram_blocks,
block_backends).

Sections: `timer` (the VMM's virtual clock: the UART's timeouts), the
in-kernel devices (`kvm-irqchip`: both PICs and the IOAPIC; `kvm-pit`;
`kvm-clock`), then `kvm-cpu` per vCPU (after the irqchip: the LAPIC and the
pending events land over it), the UART, and per occupied virtio slot the
transport and its device model. KVM's structures travel as their bytes
(pyqemu/accel/kvm/state.py); each is captured in pre_save with the vCPUs
out of KVM_RUN and written back to KVM in post_load.
"""

from __future__ import annotations

from ...accel.kvm.state import KvmStateError, VcpuState, VmState
from ...migration.state import ClockState
from ...migration.vmstate import VMStateDescription, VMStateError, buffer, u32, u64


def _captured(obj) -> None:
    try:
        obj.capture()
    except KvmStateError as e:
        raise VMStateError(str(e)) from None


def _restored(obj, version_id: int) -> None:
    try:
        obj.restore()
    except KvmStateError as e:
        raise VMStateError(str(e)) from None


VMSTATE_KVM_CPU = VMStateDescription("kvm-cpu", 1, 1, (
    buffer("regs"), buffer("sregs"), buffer("xsave"), buffer("xcrs"), buffer("msrs"),
    u32("mp_state"), buffer("lapic"), buffer("events"), buffer("debugregs"),
), pre_save=_captured, post_load=_restored)

VMSTATE_KVM_IRQCHIP = VMStateDescription("kvm-irqchip", 1, 1, (
    buffer("pic_master"), buffer("pic_slave"), buffer("ioapic"),
), pre_save=_captured)

VMSTATE_KVM_PIT = VMStateDescription("kvm-pit", 1, 1, (buffer("pit"),))

# The last section of the VM's three: its post_load writes all of them to
# KVM at once (irqchip, PIT, clock), as KVM_SET_CLOCK belongs after the rest.
VMSTATE_KVM_CLOCK = VMStateDescription("kvm-clock", 1, 1, (u64("clock_ns"),),
                                       post_load=_restored)


class MicrovmState:
    """The board's migration hooks, kept once per machine. Building it
    touches no vCPU (they may be running)."""

    def __init__(self, machine):
        self.machine = machine
        self.vcpus = [VcpuState(v, machine.kvm.fd) for v in machine.vcpus]
        self.vm = VmState(machine.vm)
        self.clock = ClockState(machine.clock)

    def sections(self) -> list[tuple]:
        m = self.machine
        s = [("timer", 0, ClockState.VMSTATE, self.clock),
             (VMSTATE_KVM_IRQCHIP.name, 0, VMSTATE_KVM_IRQCHIP, self.vm),
             (VMSTATE_KVM_PIT.name, 0, VMSTATE_KVM_PIT, self.vm),
             (VMSTATE_KVM_CLOCK.name, 0, VMSTATE_KVM_CLOCK, self.vm)]
        s += [(VMSTATE_KVM_CPU.name, v.vcpu.index, VMSTATE_KVM_CPU, v) for v in self.vcpus]
        s.append((m.uart.VMSTATE.name, 0, m.uart.VMSTATE, m.uart))
        for slot, t in enumerate(m.virtio):
            if t.device is None:
                continue
            s.append((t.VMSTATE.name, slot, t.VMSTATE, t))
            s.append((t.device.VMSTATE.name, slot, t.device.VMSTATE, t.device))
        return s

    def ram_blocks(self) -> list:
        return [(region.name, region) for _base, region in self.machine.ram_regions]

    def block_backends(self) -> list:
        out = []
        for t in self.machine.virtio:
            backend = getattr(t.device, "backend", None)
            if backend is not None:
                out.append(backend)
        return out
