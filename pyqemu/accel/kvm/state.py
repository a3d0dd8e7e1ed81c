"""The state KVM keeps for a VM and its vCPUs, read and written back for
migration and snapshots (api.rst section 4: KVM_GET/SET_REGS, _SREGS,
_XSAVE (FPU, SSE and AVX state), _XCRS, _MSRS, _MP_STATE, _LAPIC, _VCPU_EVENTS,
_DEBUGREGS; on the VM: _IRQCHIP for the two PICs and the IOAPIC, _PIT2,
_CLOCK).

Each piece travels as the bytes of its kernel structure (api.py declares
them): the layout is the kernel's ABI, the same in both processes. Loading
checks every size before anything reaches KVM, and writes back in the
order the kernel needs: special registers (APIC base, EFER) before the
MSRs, the MP state and the LAPIC; the pending events last, over the state
they belong to.
"""

from __future__ import annotations

import ctypes
import struct

from . import api
from .ioctl import ioctl

MSR_RECORD = struct.Struct(">IQ")          # one saved MSR: index, value


class KvmStateError(Exception):
    """A saved state KVM refuses or that does not fit its structure (one line)."""


def _raw(obj) -> bytes:
    return ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))


def _from_raw(cls, data: bytes, what: str):
    if len(data) != ctypes.sizeof(cls):
        raise KvmStateError(f"{what}: {len(data)} bytes, struct {cls.__name__} has "
                            f"{ctypes.sizeof(cls)}")
    return cls.from_buffer_copy(data)


def _get(fd: int, request: int, obj, what: str):
    try:
        ioctl(fd, request, obj)
    except OSError as e:
        raise KvmStateError(f"kvm: reading the {what} failed: {e.strerror}") from None
    return obj


def _set(fd: int, request: int, obj, what: str) -> None:
    try:
        ioctl(fd, request, obj)
    except OSError as e:
        raise KvmStateError(f"kvm: KVM refused the {what}: {e.strerror}") from None


def saved_msr_indices(kvm_fd: int, vcpu_fd: int) -> list[int]:
    """The MSRs to carry: KVM's own list (KVM_GET_MSR_INDEX_LIST), less
    those this vCPU cannot read back."""
    head = api.MsrListHeader(nmsrs=0)
    try:
        ioctl(kvm_fd, api.KVM_GET_MSR_INDEX_LIST, head)
    except OSError:
        pass                                 # E2BIG: nmsrs now says how many
    full = api.msr_list_type(head.nmsrs)(nmsrs=head.nmsrs)
    ioctl(kvm_fd, api.KVM_GET_MSR_INDEX_LIST, full)
    readable = []
    for index in full.indices:
        buf = api.msrs_type(1)(nmsrs=1)
        buf.entries[0].index = index
        if ioctl(vcpu_fd, api.KVM_GET_MSRS, buf) == 1:
            readable.append(index)
    return readable


class VcpuState:
    """One vCPU's KVM state as bytes (captured by `capture`, written back by
    `restore`, both with the vCPU out of KVM_RUN)."""

    def __init__(self, vcpu, kvm_fd: int):
        self.vcpu = vcpu
        self.kvm_fd = kvm_fd
        # Asked of KVM at the first capture, with the vCPU out of KVM_RUN: a
        # vCPU ioctl on a running vCPU waits for its next exit (vcpu mutex).
        self.msr_indices: list[int] | None = None
        self.regs = b""
        self.sregs = b""
        self.xsave = b""
        self.xcrs = b""
        self.msrs = b""
        self.mp_state = 0
        self.lapic = b""
        self.events = b""
        self.debugregs = b""

    def capture(self) -> None:
        fd = self.vcpu.fd
        if self.msr_indices is None:
            self.msr_indices = saved_msr_indices(self.kvm_fd, fd)
        self.regs = _raw(_get(fd, api.KVM_GET_REGS, api.Regs(), "registers"))
        self.sregs = _raw(_get(fd, api.KVM_GET_SREGS, api.Sregs(), "special registers"))
        self.xsave = _raw(_get(fd, api.KVM_GET_XSAVE, api.Xsave(), "XSAVE area"))
        self.xcrs = _raw(_get(fd, api.KVM_GET_XCRS, api.Xcrs(), "XCRs"))
        n = len(self.msr_indices)
        buf = api.msrs_type(n)(nmsrs=n)
        for i, index in enumerate(self.msr_indices):
            buf.entries[i].index = index
        got = ioctl(fd, api.KVM_GET_MSRS, buf)
        self.msrs = b"".join(MSR_RECORD.pack(buf.entries[i].index, buf.entries[i].data)
                             for i in range(got))
        self.mp_state = self.vcpu.get_mp_state()
        self.lapic = _raw(_get(fd, api.KVM_GET_LAPIC, api.LapicState(), "LAPIC"))
        self.events = _raw(_get(fd, api.KVM_GET_VCPU_EVENTS, api.VcpuEvents(), "pending events"))
        self.debugregs = _raw(_get(fd, api.KVM_GET_DEBUGREGS, api.DebugRegs(), "debug registers"))

    def check(self) -> None:
        """Every piece fits its structure (before any reaches KVM)."""
        where = f"vCPU {self.vcpu.index}"
        for cls, data, what in ((api.Regs, self.regs, "registers"),
                                (api.Sregs, self.sregs, "special registers"),
                                (api.Xsave, self.xsave, "XSAVE area"), (api.Xcrs, self.xcrs, "XCRs"),
                                (api.LapicState, self.lapic, "LAPIC"),
                                (api.VcpuEvents, self.events, "pending events"),
                                (api.DebugRegs, self.debugregs, "debug registers")):
            _from_raw(cls, data, f"{where} {what}")
        if len(self.msrs) % MSR_RECORD.size:
            raise KvmStateError(f"{where} MSRs: {len(self.msrs)} bytes is not a whole number "
                                "of records")
        if self.mp_state > max(api.MpStateValue):
            raise KvmStateError(f"{where}: unknown MP state {self.mp_state}")

    def restore(self) -> None:
        self.check()
        fd = self.vcpu.fd
        where = f"vCPU {self.vcpu.index}"
        _set(fd, api.KVM_SET_REGS, _from_raw(api.Regs, self.regs, where), "registers")
        _set(fd, api.KVM_SET_XSAVE, _from_raw(api.Xsave, self.xsave, where), "XSAVE area")
        _set(fd, api.KVM_SET_XCRS, _from_raw(api.Xcrs, self.xcrs, where), "XCRs")
        _set(fd, api.KVM_SET_SREGS, _from_raw(api.Sregs, self.sregs, where), "special registers")
        records = [MSR_RECORD.unpack_from(self.msrs, o)
                   for o in range(0, len(self.msrs), MSR_RECORD.size)]
        # KVM_SET_MSRS stops at the first MSR it refuses: go on after it, and
        # fail only where the refused value differs from what this vCPU has.
        while records:
            buf = api.msrs_type(len(records))(nmsrs=len(records))
            for i, (index, value) in enumerate(records):
                buf.entries[i].index, buf.entries[i].data = index, value
            done = ioctl(fd, api.KVM_SET_MSRS, buf)
            if done == len(records):
                break
            index, value = records[done]
            if self.vcpu.get_msr(index) != value:
                raise KvmStateError(f"kvm: {where} refused MSR {index:#x} = {value:#x}")
            records = records[done + 1:]
        self.vcpu.set_mp_state(self.mp_state)
        _set(fd, api.KVM_SET_LAPIC, _from_raw(api.LapicState, self.lapic, where), "LAPIC")
        _set(fd, api.KVM_SET_VCPU_EVENTS, _from_raw(api.VcpuEvents, self.events, where),
             "pending events")
        _set(fd, api.KVM_SET_DEBUGREGS, _from_raw(api.DebugRegs, self.debugregs, where),
             "debug registers")


class VmState:
    """The VM's in-kernel devices: the PICs and IOAPIC, the PIT, the KVM clock."""

    def __init__(self, vm):
        self.vm = vm
        self.pic_master = self.pic_slave = self.ioapic = b""
        self.pit = b""
        self.clock_ns = 0

    def _chip(self, chip: api.IrqchipId) -> bytes:
        c = _get(self.vm.fd, api.KVM_GET_IRQCHIP, api.Irqchip(chip_id=chip), chip.name)
        # (not c.chip: a c_char array reads as bytes up to its first NUL)
        return ctypes.string_at(ctypes.addressof(c) + api.Irqchip.chip.offset, 512)

    def capture(self) -> None:
        self.pic_master = self._chip(api.IrqchipId.PIC_MASTER)
        self.pic_slave = self._chip(api.IrqchipId.PIC_SLAVE)
        self.ioapic = self._chip(api.IrqchipId.IOAPIC)
        self.pit = _raw(_get(self.vm.fd, api.KVM_GET_PIT2, api.PitState2(), "PIT"))
        self.clock_ns = _get(self.vm.fd, api.KVM_GET_CLOCK, api.ClockData(), "KVM clock").clock

    def check(self) -> None:
        for name in ("pic_master", "pic_slave", "ioapic"):
            data = getattr(self, name)
            if len(data) != 512:
                raise KvmStateError(f"irqchip {name}: {len(data)} bytes, KVM's chip state has 512")
        _from_raw(api.PitState2, self.pit, "PIT")

    def restore(self) -> None:
        self.check()
        fd = self.vm.fd
        for chip, data in ((api.IrqchipId.PIC_MASTER, self.pic_master),
                           (api.IrqchipId.PIC_SLAVE, self.pic_slave),
                           (api.IrqchipId.IOAPIC, self.ioapic)):
            c = api.Irqchip(chip_id=chip)
            ctypes.memmove(ctypes.addressof(c) + api.Irqchip.chip.offset, data, 512)
            _set(fd, api.KVM_SET_IRQCHIP, c, chip.name)
        _set(fd, api.KVM_SET_PIT2, _from_raw(api.PitState2, self.pit, "PIT"), "PIT")
        _set(fd, api.KVM_SET_CLOCK, api.ClockData(clock=self.clock_ns), "KVM clock")
