"""The x86_64 `microvm` board under KVM: QEMU's minimal PC-less machine.

    guest-physical                         I/O ports
    0x00000000  RAM (below 3 GiB)          0x3f8-0x3ff  16550A UART, GSI 4
    0x000e0000  ACPI: RSDP, XSDT, FADT, DSDT (virtio-mmio), MADT
    0x000f0000  MP floating pointer + table    0x600-0x602  ACPI sleep control/status, reset
    0xfeb00000  virtio-mmio slots          0xf4 (e.g.)  isa-debug-exit (-device)
                (24, 0x200 apart, from the top; n-th device GSI 5+n)
    0xfec00000  IOAPIC   (in-kernel)
    0xfee00000  LAPICs   (in-kernel)
    0x100000000 RAM above 3 GiB

The CPU, the interrupt controllers (PIC, IOAPIC, LAPICs) and the PIT are
KVM's; Python models the UART, the debug-exit port and the virtio devices,
reached through the exits the runner dispatches here.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ...accel.kvm import api
from ...accel.kvm.cpuid import CpuModelError, guest_cpuid
from ...accel.kvm.runner import KvmRunner
from ...accel.kvm.system import Kvm
from ...accel.kvm.vcpu import KvmVcpu
from ...accel.kvm.vm import KvmVm
from ...chardev.base import Chardev
from ...hw.char.ns16550a import Ns16550a
from ...hw.irq import IRQLine
from ...hw.x86.debug_exit import IsaDebugExit
from ...hw.x86 import acpi_pm
from ...hw.x86.acpi import build_acpi
from ...hw.x86.mptable import build_mptable
from ...memory.address_space import AddressSpace, GuestMemoryError
from ...memory.region import MmioRegion, RamRegion
from ...system.clock import VirtualClock
from ...system.events import EventQueue
from ...system.runstate import RunState, RunStateMachine, ShutdownCause
from ..loader import LoadError
from . import boot
from .reset import KvmStateError, PowerOnState
from .dirty import DirtyTrackingBus

COM1_PORT, COM1_GSI, COM1_SIZE = 0x3F8, 4, 8
MPTABLE_ADDR = 0xF0000          # in the BIOS area Linux and the MP spec search
ACPI_ADDR = 0xE0000             # RSDP (found by the legacy scan too) and the tables
LOW_RAM_MAX = 3 << 30
MSR_IA32_TSC, MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING = 0x10, 0x1A0, 1
HIGH_RAM_BASE = 1 << 32
DEFAULT_RAM = 128 << 20
MAX_RAM = 1 << 40


class MachineError(Exception):
    """A configuration or image problem: one line for the user."""


@dataclass
class MicrovmConfig:
    ram_size: int = DEFAULT_RAM
    smp: int = 1
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    serial: Chardev | None = None
    no_reboot: bool = False
    no_shutdown: bool = False
    start_paused: bool = False
    name: str | None = None
    log: object = None
    cpu_changes: dict[str, bool] = field(default_factory=dict)
    debug_exits: list[tuple[int, int]] = field(default_factory=list)   # (iobase, iosize)
    virtio_devices: list = field(default_factory=list)
    virtio_legacy: bool = True
    xlen: int = 64               # the monitor's RISC-V-shaped queries read it
    decompress_bzimage: bool = False   # -machine microvm,x-decompress-bzimage=on


class CpuView:
    """What the monitor asks of a CPU (through runner.run_on_vcpu, so the
    vCPU is out of KVM_RUN): its index, program counter and register dump."""

    xlen = 64

    def __init__(self, vcpu: KvmVcpu):
        self._vcpu = vcpu
        self.hart_id = vcpu.index

    @property
    def pc(self) -> int:
        return self._vcpu.get_regs().rip

    def dump_registers(self) -> str:
        return f"\nCPU#{self.hart_id}\n{self._vcpu.dump_state()}"


class MicrovmMachine:
    target_arch = "x86_64"

    def __init__(self, cfg: MicrovmConfig, kvm: Kvm | None = None):
        self.cfg = cfg
        self.exit_code: int | None = None
        self.dumped_dtb = False
        self.triple_faults = 0
        if cfg.ram_size < (2 << 20) or cfg.ram_size > MAX_RAM:
            raise MachineError(f"-m: RAM size {cfg.ram_size} out of range for microvm "
                               f"(2M .. {MAX_RAM >> 20}M)")
        if not cfg.kernel:
            raise MachineError("microvm needs -kernel: pyqemu has no x86 firmware")
        try:
            self.kvm = kvm or Kvm()
            max_cpus = min(self.kvm.max_vcpus(), 255)
            if not 1 <= cfg.smp <= max_cpus:
                raise MachineError(f"Invalid SMP CPUs {cfg.smp}. The max CPUs supported by "
                                   f"machine 'microvm' is {max_cpus}")
            self.vm = KvmVm(self.kvm)
            self.vm.create_irqchip()
        except api.KvmError as e:
            raise MachineError(f"failed to initialize kvm: {e}") from None
        self.lock = threading.RLock()
        self.clock = VirtualClock()
        self.clock.stop()
        self.events = EventQueue()
        self.bus = DirtyTrackingBus("memory")
        self.io = AddressSpace("io")
        self._map_ram()
        log = cfg.log
        self._guest_err = (lambda m: log.guest_error(m)) if log else None
        self.uart = Ns16550a(IRQLine(self._set_gsi, COM1_GSI), cfg.serial, clock=self.clock,
                             log=self._guest_err)
        self.io.map(COM1_PORT, MmioRegion("serial", COM1_SIZE, self.uart))
        self.acpi_pm = acpi_pm.AcpiPm(self._on_acpi_poweroff, self._guest_reset, log=self._guest_err)
        self.io.map(acpi_pm.SLEEP_CONTROL_PORT, MmioRegion("acpi-pm", acpi_pm.PORT_COUNT, self.acpi_pm))
        self.devices: list = [self.uart, self.acpi_pm]
        for iobase, iosize in cfg.debug_exits:
            dev = IsaDebugExit(self._on_debug_exit, iobase, iosize)
            try:
                self.io.map(iobase, MmioRegion("isa-debug-exit", iosize, dev))
            except ValueError as e:
                raise MachineError(f"-device isa-debug-exit,iobase={iobase:#x}: {e}") from None
            self.devices.append(dev)
        self.virtio: list = []
        self.virtio_slots: list[tuple[int, int | None]] = []   # (base, gsi or None if empty) per slot
        self.virtio_iothread = None
        self.runner_quiesce_hooks: list = []
        self._map_virtio()
        if cfg.serial is not None:
            cfg.serial.attach(self.uart.receive, self.events, on_break=self.uart.receive_break)
        try:
            self.vcpus = [KvmVcpu(self.vm, i) for i in range(cfg.smp)]
            supported = self.kvm.supported_cpuid()
            for v in self.vcpus:
                v.set_cpuid(guest_cpuid(supported, cfg.cpu_changes, v.index, cfg.smp))
        except CpuModelError as e:
            raise MachineError(str(e)) from None
        except api.KvmError as e:
            raise MachineError(str(e)) from None
        try:
            self.power_on: PowerOnState | None = PowerOnState(self.kvm, self.vm, self.vcpus)  # before any KVM_RUN
        except KvmStateError as e:
            # A KVM without one of the state ioctls still runs guests; only
            # resets then keep the previous boot's vCPU and irqchip state.
            self.power_on = None
            os.write(2, f"warning: resets will not reset the vCPUs' KVM state: {e}\n".encode())
        self.harts = [CpuView(v) for v in self.vcpus]
        self.runner = KvmRunner(self.vcpus, self.clock, self.events, self, self.lock, log)
        self.runner.quiesce_hooks = self.runner_quiesce_hooks
        self._migration_state = None
        self.runstate = RunStateMachine(self.runner)
        self.exit_requested = threading.Event()
        self.exit_listeners: list = []
        self._load_images()

    # -- building ----------------------------------------------------------------------
    def _map_ram(self) -> None:
        cfg = self.cfg
        low = min(cfg.ram_size, LOW_RAM_MAX)
        self.ram = RamRegion("microvm.ram", low)
        self.bus.map(0, self.ram)
        self.vm.add_ram(0, self.ram)
        self.ram_regions = [(0, self.ram)]
        if cfg.ram_size > low:
            high = RamRegion("microvm.ram.high", cfg.ram_size - low)
            self.bus.map(HIGH_RAM_BASE, high)
            self.vm.add_ram(HIGH_RAM_BASE, high)
            self.ram_regions.append((HIGH_RAM_BASE, high))

    def _map_virtio(self) -> None:
        """virtio-mmio slots (filled by virtio.py's wiring when devices are given)."""
        if self.cfg.virtio_devices:
            from .virtio import attach_virtio
            attach_virtio(self)

    def _set_gsi(self, gsi: int, level: int) -> None:
        self.vm.set_irq_line(gsi, level)

    def memory_map(self) -> boot.MemoryMap:
        ranges = [(0, 0x9FC00, boot.E820_RAM), (0x9FC00, 0x100000 - 0x9FC00, boot.E820_RESERVED)]
        for base, region in self.ram_regions:
            start = max(base, 0x100000)
            ranges.append((start, base + region.size - start, boot.E820_RAM))
        return boot.MemoryMap(ranges)

    def _load_images(self) -> None:
        cfg = self.cfg
        boot.install_boot_tables(self.bus)
        self.bus.load_image(MPTABLE_ADDR, build_mptable(MPTABLE_ADDR, cfg.smp))
        used = []
        if self.virtio:
            from .virtio import VIRTIO_STRIDE      # the virtio models: only with virtio devices
            used = [(base, VIRTIO_STRIDE, gsi) for t, (base, gsi) in zip(self.virtio, self.virtio_slots)
                    if t.device is not None]
        pm = (acpi_pm.SLEEP_CONTROL_PORT, acpi_pm.SLEEP_STATUS_PORT, acpi_pm.RESET_PORT,
              acpi_pm.RESET_VALUE)
        self.bus.load_image(ACPI_ADDR, build_acpi(ACPI_ADDR, cfg.smp, used, pm_ports=pm))
        self.acpi_addr = ACPI_ADDR
        from . import linux
        try:
            state = linux.load_any(self, cfg.kernel, cfg.append or "", cfg.initrd,
                                   cfg.decompress_bzimage)
        except LoadError as e:
            raise MachineError(str(e)) from None
        self.boot_state = state
        self._reset_vcpus()

    def _reset_vcpus(self) -> None:
        for v in self.vcpus:
            # What firmware would have set: fast string operations on (IA32_MISC_ENABLE bit 0,
            # as QEMU's default), no TSC offset from a previous run.
            v.set_msrs({MSR_IA32_MISC_ENABLE: MISC_ENABLE_FAST_STRING, MSR_IA32_TSC: 0})
            if v.index == 0:
                sregs, regs = v.get_sregs(), api.Regs()
                boot.apply_entry_state(sregs, regs, self.boot_state)
                v.set_sregs(sregs)
                v.set_regs(regs)
                v.set_mp_state(api.MpStateValue.RUNNABLE)
            else:
                # Application processors wait for INIT/SIPI from the guest (in-kernel LAPIC).
                v.set_mp_state(api.MpStateValue.UNINITIALIZED)

    # -- exits (called by the runner with the device lock held) ---------------------------
    def pio_read(self, port: int, size: int) -> int:
        try:
            return self.io.read(port, size)
        except GuestMemoryError:
            return (1 << (8 * size)) - 1       # an unassigned port floats high

    def pio_write(self, port: int, size: int, value: int) -> None:
        try:
            self.io.write(port, size, value)
        except GuestMemoryError:
            pass

    def mmio_read(self, addr: int, size: int) -> int:
        try:
            return self.bus.read(addr, size)
        except GuestMemoryError as e:
            if self._guest_err:
                self._guest_err(f"microvm: {e}")
            return 0

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        try:
            self.bus.write(addr, size, value)
        except GuestMemoryError as e:
            if self._guest_err:
                self._guest_err(f"microvm: {e}")

    def vcpu_error(self, vcpu: KvmVcpu, message: str) -> None:
        """As QEMU: the error and the registers on stderr, the VM stops in
        state internal-error (the monitor can still look at it)."""
        os.write(2, f"{message}\n{vcpu.dump_state()}".encode())
        threading.Thread(target=self.runstate.vm_stop, args=(RunState.INTERNAL_ERROR,),
                         daemon=True).start()

    def triple_fault(self, vcpu: KvmVcpu) -> None:
        """KVM_EXIT_SHUTDOWN: the CPU reset itself; a reset request, as on a PC.
        The registers are printed for the first one only: a guest that faults
        again after every reset would otherwise flood the terminal."""
        self.triple_faults += 1
        if self.triple_faults == 1:
            os.write(2, f"KVM: triple fault on CPU {vcpu.index} (KVM_EXIT_SHUTDOWN)\n"
                        f"{vcpu.dump_state()}".encode())
        self._guest_reset()

    def system_event(self, vcpu: KvmVcpu, kind: int) -> None:
        if kind == 1:            # KVM_SYSTEM_EVENT_SHUTDOWN
            self._async(self.request_shutdown, ShutdownCause.GUEST_SHUTDOWN)
        else:
            self._guest_reset()

    def _on_acpi_poweroff(self) -> None:
        if self.exit_code is None:
            self.exit_code = 0
        self._async(self.request_shutdown, ShutdownCause.GUEST_SHUTDOWN)

    def _on_debug_exit(self, status: int) -> None:
        self.exit_code = status
        self._async(self.request_shutdown, ShutdownCause.GUEST_SHUTDOWN)

    def _guest_reset(self) -> None:
        if self.cfg.no_reboot:
            if self.exit_code is None:
                self.exit_code = 0
            self._async(self.request_shutdown, ShutdownCause.GUEST_RESET)
        else:
            self._async(self.system_reset, ShutdownCause.GUEST_RESET)

    @staticmethod
    def _async(fn, *args) -> None:
        # Off the vCPU thread: stopping waits for every vCPU, this one included.
        threading.Thread(target=fn, args=args, daemon=True).start()

    # -- life cycle (the same interface as the RISC-V board) -------------------------------
    def request_shutdown(self, cause: ShutdownCause, force_exit: bool = False) -> None:
        stay = self.cfg.no_shutdown and not force_exit
        self.runstate.shutdown(cause, stay=stay)
        if not stay:
            self.exit_requested.set()
            for fn in list(self.exit_listeners):
                fn()

    def system_reset(self, cause: ShutdownCause = ShutdownCause.HOST_QMP_SYSTEM_RESET) -> None:
        running = self.runstate.running
        self.runner.pause()
        with self.lock:
            self.reset()
        self.runstate.reset_event(cause)
        self.runstate.after_reset()
        if running:
            self.runner.resume()

    def reset(self) -> None:
        for d in self.devices:
            d.reset()
        try:
            if self.power_on is not None:
                self.power_on.restore()      # LAPICs, vCPU registers/MSRs/events, IOAPIC, PICs, PIT
        except KvmStateError as e:
            os.write(2, f"system_reset: {e}\n".encode())
        self._load_images()

    def start_vcpus(self, paused: bool = False) -> None:
        if self.virtio_iothread is not None:
            self.virtio_iothread.start()
        self.runner.start_thread()
        if not paused:
            self.runstate.vm_start()

    def wait(self, timeout: float | None = None) -> bool:
        return self.exit_requested.wait(timeout)

    def finish(self) -> int:
        if self.virtio_iothread is not None:
            self.virtio_iothread.stop()
        self.runner.stop()
        self.runner.join(2)
        return self.exit_code if self.exit_code is not None else 0

    def run(self) -> int:
        self.start_vcpus(self.cfg.start_paused)
        while not self.wait(0.5):
            pass
        return self.finish()

    def close_devices(self) -> None:
        for t in self.virtio:
            try:
                t.close()
            except Exception as e:
                os.write(2, f"closing virtio device: {e}\n".encode())

    def quit(self, code: int = 0, cause: ShutdownCause = ShutdownCause.HOST_SIGNAL) -> None:
        if self.exit_code is None:
            self.exit_code = code
        self.request_shutdown(cause, force_exit=True)

    # -- dirty-page logging (for live migration: which RAM pages to resend) ----------------
    def set_dirty_logging(self, enabled: bool) -> None:
        """KVM's log for the guest's writes, the bus's for the VMM's."""
        with self.lock:
            self.vm.set_dirty_logging(enabled)
            self.bus.logging = enabled
            self.bus.take_vmm_dirty()

    def take_dirty_pages(self) -> set[int]:
        """Guest-physical page numbers written since the previous call, by
        the guest (KVM_GET_DIRTY_LOG) or by a device; both logs emptied."""
        with self.lock:
            pages = self.bus.take_vmm_dirty()
            for slot in self.vm.slots:
                pages.update(addr // 4096 for addr in self.vm.get_dirty_log(slot))
        return pages

    # -- migration and snapshots (pyqemu/migration/state.py's board hooks) -----------------
    def _state(self):
        if self._migration_state is None:
            from .vmstate import MicrovmState
            self._migration_state = MicrovmState(self)
        return self._migration_state

    def vmstate_sections(self) -> list[tuple]:
        return self._state().sections()

    def ram_blocks(self) -> list:
        return self._state().ram_blocks()

    def block_backends(self) -> list:
        return self._state().block_backends()

    def ram_sender(self, blocks):
        """Live migration's RAM passes driven by the dirty logs."""
        from .dirty import DirtyLogSender
        return DirtyLogSender(self, blocks)

    def dirty_pages(self) -> list[int]:
        """Guest-physical addresses of the 4 KiB pages the guest wrote since
        logging started or the previous call (KVM_GET_DIRTY_LOG clears them)."""
        return [addr for slot in self.vm.slots for addr in self.vm.get_dirty_log(slot)]

    def kvm_info(self) -> dict:
        return {"enabled": True, "present": True}
