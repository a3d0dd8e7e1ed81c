"""The KVM API (Documentation/virt/kvm/api.rst, include/uapi/linux/kvm.h and
arch/x86/include/uapi/asm/kvm.h): ioctl numbers and structures, declared once
as ctypes classes. Nothing here holds state; system.py, vm.py and vcpu.py
hold the descriptors.
"""

from __future__ import annotations

import ctypes
import enum

# -- ioctl number encoding (include/uapi/asm-generic/ioctl.h) ----------------------------
_IOC_WRITE, _IOC_READ = 1, 2
KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def _io(nr: int) -> int:
    return _ioc(0, nr, 0)


def _ior(nr: int, struct) -> int:
    return _ioc(_IOC_READ, nr, ctypes.sizeof(struct))


def _iow(nr: int, struct) -> int:
    return _ioc(_IOC_WRITE, nr, ctypes.sizeof(struct))


def _iowr(nr: int, struct) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ctypes.sizeof(struct))


u8, u16, u32, u64, s32 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32


# -- structures (api.rst section 4 names each one next to its ioctl) ------------------------
class UserspaceMemoryRegion(ctypes.Structure):        # 4.35 KVM_SET_USER_MEMORY_REGION
    _fields_ = [("slot", u32), ("flags", u32), ("guest_phys_addr", u64),
                ("memory_size", u64), ("userspace_addr", u64)]


KVM_MEM_LOG_DIRTY_PAGES = 1 << 0


class Regs(ctypes.Structure):                         # 4.11 KVM_GET_REGS (x86)
    _fields_ = [(n, u64) for n in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
                                    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                                    "rip", "rflags")]


class Segment(ctypes.Structure):                      # 4.13 KVM_GET_SREGS: struct kvm_segment
    _fields_ = [("base", u64), ("limit", u32), ("selector", u16), ("type", u8),
                ("present", u8), ("dpl", u8), ("db", u8), ("s", u8), ("l", u8), ("g", u8),
                ("avl", u8), ("unusable", u8), ("padding", u8)]


class DTable(ctypes.Structure):                       # struct kvm_dtable
    _fields_ = [("base", u64), ("limit", u16), ("padding", u16 * 3)]


KVM_NR_INTERRUPTS = 256


class Sregs(ctypes.Structure):                        # 4.13 KVM_GET_SREGS (x86)
    _fields_ = [("cs", Segment), ("ds", Segment), ("es", Segment), ("fs", Segment),
                ("gs", Segment), ("ss", Segment), ("tr", Segment), ("ldt", Segment),
                ("gdt", DTable), ("idt", DTable),
                ("cr0", u64), ("cr2", u64), ("cr3", u64), ("cr4", u64), ("cr8", u64),
                ("efer", u64), ("apic_base", u64),
                ("interrupt_bitmap", u64 * ((KVM_NR_INTERRUPTS + 63) // 64))]


class CpuidEntry2(ctypes.Structure):                  # 4.46 KVM_SET_CPUID2
    _fields_ = [("function", u32), ("index", u32), ("flags", u32), ("eax", u32),
                ("ebx", u32), ("ecx", u32), ("edx", u32), ("padding", u32 * 3)]


KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1


class Cpuid2Header(ctypes.Structure):                 # struct kvm_cpuid2 without its entries
    _fields_ = [("nent", u32), ("padding", u32)]


def cpuid2_type(n: int):
    """struct kvm_cpuid2 with room for n entries."""
    class Cpuid2(ctypes.Structure):
        _fields_ = [("nent", u32), ("padding", u32), ("entries", CpuidEntry2 * n)]
    return Cpuid2


class MsrEntry(ctypes.Structure):                     # 4.19 KVM_SET_MSRS
    _fields_ = [("index", u32), ("reserved", u32), ("data", u64)]


class MsrsHeader(ctypes.Structure):
    _fields_ = [("nmsrs", u32), ("pad", u32)]


def msrs_type(n: int):
    class Msrs(ctypes.Structure):
        _fields_ = [("nmsrs", u32), ("pad", u32), ("entries", MsrEntry * n)]
    return Msrs


class IrqLevel(ctypes.Structure):                     # 4.25 KVM_IRQ_LINE
    _fields_ = [("irq", u32), ("level", u32)]


class PitConfig(ctypes.Structure):                    # 4.71 KVM_CREATE_PIT2
    _fields_ = [("flags", u32), ("pad", u32 * 15)]


class Irqfd(ctypes.Structure):                        # 4.75 KVM_IRQFD
    _fields_ = [("fd", u32), ("gsi", u32), ("flags", u32), ("resamplefd", u32),
                ("pad", u8 * 16)]


class Ioeventfd(ctypes.Structure):                    # 4.59 KVM_IOEVENTFD
    _fields_ = [("datamatch", u64), ("addr", u64), ("len", u32), ("fd", s32),
                ("flags", u32), ("pad", u8 * 36)]


KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
KVM_IOEVENTFD_FLAG_PIO = 1 << 1
KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2


class DirtyLog(ctypes.Structure):                     # 4.8 KVM_GET_DIRTY_LOG
    _fields_ = [("slot", u32), ("padding1", u32), ("dirty_bitmap", u64)]


class MpState(ctypes.Structure):                      # 4.38 KVM_GET_MP_STATE
    _fields_ = [("mp_state", u32)]


class MpStateValue(enum.IntEnum):
    RUNNABLE = 0
    UNINITIALIZED = 1
    INIT_RECEIVED = 2
    HALTED = 3
    SIPI_RECEIVED = 4


# -- struct kvm_run, the page shared with the kernel (5. The kvm_run structure) ---------
class RunIo(ctypes.Structure):
    _fields_ = [("direction", u8), ("size", u8), ("port", u16), ("count", u32),
                ("data_offset", u64)]


KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT = 0, 1


class RunMmio(ctypes.Structure):
    _fields_ = [("phys_addr", u64), ("data", u8 * 8), ("len", u32), ("is_write", u8)]


class RunFailEntry(ctypes.Structure):
    _fields_ = [("hardware_entry_failure_reason", u64), ("cpu", u32)]


class RunInternal(ctypes.Structure):
    _fields_ = [("suberror", u32), ("ndata", u32), ("data", u64 * 16)]


class RunSystemEvent(ctypes.Structure):
    _fields_ = [("type", u32), ("ndata", u32), ("data", u64 * 16)]


class RunExit(ctypes.Union):
    _fields_ = [("io", RunIo), ("mmio", RunMmio), ("fail_entry", RunFailEntry),
                ("internal", RunInternal), ("system_event", RunSystemEvent),
                ("padding", ctypes.c_char * 256)]


class Run(ctypes.Structure):
    _fields_ = [("request_interrupt_window", u8), ("immediate_exit", u8), ("padding1", u8 * 6),
                ("exit_reason", u32), ("ready_for_interrupt_injection", u8), ("if_flag", u8),
                ("flags", u16), ("cr8", u64), ("apic_base", u64), ("u", RunExit)]


class ExitReason(enum.IntEnum):
    UNKNOWN = 0
    EXCEPTION = 1
    IO = 2
    HYPERCALL = 3
    DEBUG = 4
    HLT = 5
    MMIO = 6
    IRQ_WINDOW_OPEN = 7
    SHUTDOWN = 8
    FAIL_ENTRY = 9
    INTR = 10
    INTERNAL_ERROR = 17
    SYSTEM_EVENT = 24


class InternalError(enum.IntEnum):
    EMULATION = 1
    SIMUL_EX = 2
    DELIVERY_EV = 3
    UNEXPECTED_EXIT_REASON = 4


class Cap(enum.IntEnum):                              # KVM_CHECK_EXTENSION arguments
    IRQCHIP = 0
    USER_MEMORY = 3
    SET_TSS_ADDR = 4
    EXT_CPUID = 7
    NR_VCPUS = 9
    IRQFD = 32
    PIT2 = 33
    IOEVENTFD = 36
    MAX_VCPUS = 66
    IMMEDIATE_EXIT = 136


# -- ioctl numbers --------------------------------------------------------------------
KVM_API_VERSION = 12
KVM_GET_API_VERSION = _io(0x00)
KVM_CREATE_VM = _io(0x01)
KVM_CHECK_EXTENSION = _io(0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)
KVM_GET_SUPPORTED_CPUID = _iowr(0x05, Cpuid2Header)
KVM_CREATE_VCPU = _io(0x41)
KVM_GET_DIRTY_LOG = _iow(0x42, DirtyLog)
KVM_SET_USER_MEMORY_REGION = _iow(0x46, UserspaceMemoryRegion)
KVM_SET_TSS_ADDR = _io(0x47)
KVM_SET_IDENTITY_MAP_ADDR = _iow(0x48, u64)
KVM_CREATE_IRQCHIP = _io(0x60)
KVM_IRQ_LINE = _iow(0x61, IrqLevel)
KVM_IRQFD = _iow(0x76, Irqfd)
KVM_CREATE_PIT2 = _iow(0x77, PitConfig)
KVM_IOEVENTFD = _iow(0x79, Ioeventfd)
KVM_RUN = _io(0x80)
KVM_GET_REGS = _ior(0x81, Regs)
KVM_SET_REGS = _iow(0x82, Regs)
KVM_GET_SREGS = _ior(0x83, Sregs)
KVM_SET_SREGS = _iow(0x84, Sregs)
KVM_GET_MSRS = _iowr(0x88, MsrsHeader)
KVM_SET_MSRS = _iow(0x89, MsrsHeader)
KVM_SET_CPUID2 = _iow(0x90, Cpuid2Header)
KVM_GET_MP_STATE = _ior(0x98, MpState)
KVM_SET_MP_STATE = _iow(0x99, MpState)


class KvmError(Exception):
    """A KVM call that failed, or a KVM this machine cannot use: one line for the user."""


# -- saved state (migration, snapshots): the vCPU and VM state ioctls -----------------------
class Fpu(ctypes.Structure):                          # 4.22 KVM_GET_FPU (x86)
    _fields_ = [("fpr", u8 * 128), ("fcw", u16), ("fsw", u16), ("ftwx", u8), ("pad1", u8),
                ("last_opcode", u16), ("last_ip", u64), ("last_dp", u64),
                ("xmm", u8 * 256), ("mxcsr", u32), ("pad2", u32)]


class LapicState(ctypes.Structure):                   # 4.57 KVM_GET_LAPIC: the APIC page
    _fields_ = [("regs", ctypes.c_char * 1024)]


class Irqchip(ctypes.Structure):                      # 4.26 KVM_GET_IRQCHIP
    _fields_ = [("chip_id", u32), ("pad", u32), ("chip", ctypes.c_char * 512)]


class IrqchipId(enum.IntEnum):
    PIC_MASTER = 0
    PIC_SLAVE = 1
    IOAPIC = 2


class PitChannelState(ctypes.Structure):              # struct kvm_pit_channel_state
    _fields_ = [("count", u32), ("latched_count", u16), ("count_latched", u8),
                ("status_latched", u8), ("status", u8), ("read_state", u8),
                ("write_state", u8), ("write_latch", u8), ("rw_mode", u8), ("mode", u8),
                ("bcd", u8), ("gate", u8), ("count_load_time", ctypes.c_int64)]


class PitState2(ctypes.Structure):                    # 4.72 KVM_GET_PIT2
    _fields_ = [("channels", PitChannelState * 3), ("flags", u32), ("reserved", u32 * 9)]


class ClockData(ctypes.Structure):                    # 4.53 KVM_GET_CLOCK
    _fields_ = [("clock", u64), ("flags", u32), ("pad0", u32), ("realtime", u64),
                ("host_tsc", u64), ("pad", u32 * 4)]


class VcpuEvents(ctypes.Structure):                   # 4.31 KVM_GET_VCPU_EVENTS, as bytes:
    _fields_ = [("raw", ctypes.c_char * 64)]         # pending exception/interrupt/NMI/SIPI/SMI


class DebugRegs(ctypes.Structure):                    # 4.32 KVM_GET_DEBUGREGS
    _fields_ = [("db", u64 * 4), ("dr6", u64), ("dr7", u64), ("flags", u64),
                ("reserved", u64 * 9)]


class Xsave(ctypes.Structure):                        # 4.42 KVM_GET_XSAVE (the legacy 4 KiB area)
    _fields_ = [("region", u32 * 1024)]


class Xcr(ctypes.Structure):
    _fields_ = [("xcr", u32), ("reserved", u32), ("value", u64)]


class Xcrs(ctypes.Structure):                         # 4.44 KVM_GET_XCRS
    _fields_ = [("nr_xcrs", u32), ("flags", u32), ("xcrs", Xcr * 16), ("padding", u64 * 16)]


class MsrListHeader(ctypes.Structure):                # 4.3 KVM_GET_MSR_INDEX_LIST
    _fields_ = [("nmsrs", u32)]


def msr_list_type(n: int):
    class MsrList(ctypes.Structure):
        _fields_ = [("nmsrs", u32), ("indices", u32 * n)]
    return MsrList


KVM_GET_MSR_INDEX_LIST = _iowr(0x02, MsrListHeader)
KVM_GET_IRQCHIP = _iowr(0x62, Irqchip)
KVM_SET_IRQCHIP = _ior(0x63, Irqchip)
KVM_SET_CLOCK = _iow(0x7B, ClockData)
KVM_GET_CLOCK = _ior(0x7C, ClockData)
KVM_GET_FPU = _ior(0x8C, Fpu)
KVM_SET_FPU = _iow(0x8D, Fpu)
KVM_GET_LAPIC = _ior(0x8E, LapicState)
KVM_SET_LAPIC = _iow(0x8F, LapicState)
KVM_GET_VCPU_EVENTS = _ior(0x9F, VcpuEvents)
KVM_SET_VCPU_EVENTS = _iow(0xA0, VcpuEvents)
KVM_GET_PIT2 = _ior(0x9F, PitState2)
KVM_SET_PIT2 = _iow(0xA0, PitState2)
KVM_GET_DEBUGREGS = _ior(0xA1, DebugRegs)
KVM_SET_DEBUGREGS = _iow(0xA2, DebugRegs)
KVM_GET_XSAVE = _ior(0xA4, Xsave)
KVM_SET_XSAVE = _iow(0xA5, Xsave)
KVM_GET_XCRS = _ior(0xA6, Xcrs)
KVM_SET_XCRS = _iow(0xA7, Xcrs)


# -- GSI routing (4.52 KVM_SET_GSI_ROUTING) -----------------------------------------------
class IrqRoutingIrqchip(ctypes.Structure):
    _fields_ = [("irqchip", u32), ("pin", u32)]


class IrqRoutingUnion(ctypes.Union):
    _fields_ = [("irqchip", IrqRoutingIrqchip), ("pad", u32 * 8)]


class IrqRoutingEntry(ctypes.Structure):              # struct kvm_irq_routing_entry
    _fields_ = [("gsi", u32), ("type", u32), ("flags", u32), ("pad", u32), ("u", IrqRoutingUnion)]


class IrqRoutingHeader(ctypes.Structure):             # struct kvm_irq_routing without entries
    _fields_ = [("nr", u32), ("flags", u32)]


def irq_routing_type(n: int):
    class IrqRouting(ctypes.Structure):
        _fields_ = [("nr", u32), ("flags", u32), ("entries", IrqRoutingEntry * n)]
    return IrqRouting


KVM_IRQ_ROUTING_IRQCHIP = 1
KVM_SET_GSI_ROUTING = _iow(0x6A, IrqRoutingHeader)
