"""A KVM vCPU descriptor (api.rst 4.7 KVM_CREATE_VCPU and the vCPU ioctls),
its shared kvm_run page, and the register dump printed when the guest stops
on an error."""

from __future__ import annotations

import ctypes
import mmap
import os

from . import api
from .ioctl import ioctl
from .vm import KvmVm


class KvmVcpu:
    def __init__(self, vm: KvmVm, index: int):
        self.vm = vm
        self.index = index
        try:
            self.fd = ioctl(vm.fd, api.KVM_CREATE_VCPU, index)
        except OSError as e:
            raise api.KvmError(f"kvm: creating vCPU {index} failed: {e.strerror}") from None
        self._run_map = mmap.mmap(self.fd, vm.kvm.vcpu_mmap_size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        self.run_struct = api.Run.from_buffer(self._run_map)
        self.run_addr = ctypes.addressof(self.run_struct)

    # -- registers -------------------------------------------------------------------
    def get_regs(self) -> api.Regs:
        regs = api.Regs()
        ioctl(self.fd, api.KVM_GET_REGS, regs)
        return regs

    def set_regs(self, regs: api.Regs) -> None:
        ioctl(self.fd, api.KVM_SET_REGS, regs)

    def get_sregs(self) -> api.Sregs:
        sregs = api.Sregs()
        ioctl(self.fd, api.KVM_GET_SREGS, sregs)
        return sregs

    def set_sregs(self, sregs: api.Sregs) -> None:
        ioctl(self.fd, api.KVM_SET_SREGS, sregs)

    def set_cpuid(self, entries: list[api.CpuidEntry2]) -> None:
        buf = api.cpuid2_type(len(entries))(nent=len(entries))
        for i, e in enumerate(entries):
            buf.entries[i] = e
        try:
            ioctl(self.fd, api.KVM_SET_CPUID2, buf)
        except OSError as e:
            raise api.KvmError(f"kvm: KVM_SET_CPUID2 on vCPU {self.index} failed: {e.strerror}") from None

    def set_msrs(self, values: dict[int, int]) -> None:
        buf = api.msrs_type(len(values))(nmsrs=len(values))
        for i, (index, data) in enumerate(values.items()):
            buf.entries[i].index = index
            buf.entries[i].data = data
        done = ioctl(self.fd, api.KVM_SET_MSRS, buf)
        if done != len(values):
            bad = list(values)[done]
            raise api.KvmError(f"kvm: vCPU {self.index} refused MSR {bad:#x}")

    def get_msr(self, index: int) -> int | None:
        buf = api.msrs_type(1)(nmsrs=1)
        buf.entries[0].index = index
        return buf.entries[0].data if ioctl(self.fd, api.KVM_GET_MSRS, buf) == 1 else None

    def get_mp_state(self) -> int:
        st = api.MpState()
        ioctl(self.fd, api.KVM_GET_MP_STATE, st)
        return st.mp_state

    def set_mp_state(self, state: int) -> None:
        ioctl(self.fd, api.KVM_SET_MP_STATE, api.MpState(mp_state=state))

    # -- running -----------------------------------------------------------------------
    def run(self) -> int:
        """One KVM_RUN (GIL released while the guest runs): 0, or the errno
        (EINTR when kicked by a signal or immediate_exit)."""
        try:
            ioctl(self.fd, api.KVM_RUN)
        except OSError as e:
            return e.errno
        return 0

    def io_data(self, offset: int, length: int) -> memoryview:
        """The bytes of a KVM_EXIT_IO inside the kvm_run mapping."""
        return memoryview(self._run_map)[offset:offset + length]

    def close(self) -> None:
        del self.run_struct
        try:
            self._run_map.close()
        except BufferError:
            pass
        os.close(self.fd)

    # -- the dump printed on INTERNAL_ERROR / SHUTDOWN / FAIL_ENTRY -------------------
    def dump_state(self) -> str:
        try:
            r = self.get_regs()
            s = self.get_sregs()
        except OSError as e:
            return f"(registers unavailable: {e.strerror})\n"
        lines = [
            f"RAX={r.rax:016x} RBX={r.rbx:016x} RCX={r.rcx:016x} RDX={r.rdx:016x}",
            f"RSI={r.rsi:016x} RDI={r.rdi:016x} RBP={r.rbp:016x} RSP={r.rsp:016x}",
            f"R8 ={r.r8:016x} R9 ={r.r9:016x} R10={r.r10:016x} R11={r.r11:016x}",
            f"R12={r.r12:016x} R13={r.r13:016x} R14={r.r14:016x} R15={r.r15:016x}",
            f"RIP={r.rip:016x} RFL={r.rflags:08x} CPL={s.cs.dpl if s.cr0 & 1 else 0}",
        ]
        for name in ("es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"):
            seg = getattr(s, name)
            lines.append(f"{name.upper():<3}={seg.selector:04x} {seg.base:016x} {seg.limit:08x} "
                         f"type={seg.type:x} p={seg.present} dpl={seg.dpl} db={seg.db} "
                         f"l={seg.l} g={seg.g}")
        lines.append(f"GDT=     {s.gdt.base:016x} {s.gdt.limit:08x}")
        lines.append(f"IDT=     {s.idt.base:016x} {s.idt.limit:08x}")
        lines.append(f"CR0={s.cr0:08x} CR2={s.cr2:016x} CR3={s.cr3:016x} CR4={s.cr4:08x}")
        lines.append(f"EFER={s.efer:016x} APIC_BASE={s.apic_base:016x}")
        return "\n".join(lines) + "\n"
