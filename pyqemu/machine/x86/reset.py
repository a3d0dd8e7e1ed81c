"""What `system_reset` (and a guest's reset: a triple fault, the ACPI
reset register) puts back: every vCPU and the
in-kernel interrupt controllers as KVM created them.

A PC's reset is a power-on reset (Intel SDM vol. 3A 9.1 "Initialization
overview"): the processor's registers, its local APIC (IA32_APIC_BASE back
to 0xFEE00000 in xAPIC mode, LVT entries masked, the APIC software-disabled
through the SVR; SDM 10.4.7.1 "Local APIC State After Power-Up or Reset"),
pending events, debug registers, x87/SSE/AVX state and MSRs are those of a
processor that never ran. KVM gives a freshly created vCPU exactly that
state, so the board captures it once, before the first KVM_RUN, and writes
it back on each reset (with the same capture/restore code as migration,
accel/kvm/state.py) rather than spelling every reset value out a second
time. Without this a rebooting guest would find the previous boot's LAPIC
(timer armed, x2APIC mode), its kvmclock and steal-time MSRs still pointing
into RAM the new boot reuses, and IOAPIC pins left unmasked.

The KVM clock is left running across a reset, as on QEMU: only guest-visible
device state goes back, not time.
"""

from __future__ import annotations

from ...accel.kvm.state import KvmStateError, VcpuState, VmState


class PowerOnState:
    def __init__(self, kvm, vm, vcpus) -> None:
        """Capture now: the vCPUs are created, their CPUID set (XSAVE's size
        and the MSR list depend on it), nothing has run yet."""
        self._vcpus = [VcpuState(v, kvm.fd) for v in vcpus]
        for s in self._vcpus:
            # The vCPUs are alike: the MSR list is asked of KVM once.
            s.msr_indices = self._vcpus[0].msr_indices
            s.capture()
        self._vm = VmState(vm)
        self._vm.capture()

    def restore(self) -> None:
        """With every vCPU out of KVM_RUN. Raises KvmStateError (one line)
        if KVM refuses a piece."""
        now = VmState(self._vm.vm)
        now.capture()
        self._vm.clock_ns = now.clock_ns
        self._vm.restore()
        for s in self._vcpus:
            s.restore()


__all__ = ["KvmStateError", "PowerOnState"]
