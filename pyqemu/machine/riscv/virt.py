"""The RISC-V `virt` board: QEMU's memory map and interrupt wiring, so
software built for it runs unchanged.

    0x00001000  boot ROM (reset vector, fw_dynamic info)
    0x00100000  SiFive test / finisher (power off, reset)
    0x00101000  goldfish RTC                     PLIC irq 11
    0x02000000  CLINT (msip, mtimecmp, mtime @ 10 MHz)
    0x0c000000  PLIC (96 sources, M and S context per hart)
    0x10000000  ns16550a UART                    PLIC irq 10
    0x10001000  virtio-mmio slots 0..7 (+0x1000) PLIC irq 1..8
    0x80000000  RAM (-m)
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass, field

from ...accel.tcg.cpu_exec import TCGRunner
from ...chardev.base import Chardev
from ...hw.char.ns16550a import Ns16550a
from ...hw.intc.aclint import Clint
from ...hw.input.virtio_input import VirtioPowerButton
from ...hw.intc.plic import Plic
from ...hw.misc.sifive_test import SifiveTest
from ...hw.rtc.goldfish_rtc import GoldfishRtc
from ...hw.virtio.device import VirtioDevice
from ...hw.virtio.mmio import VirtioMmio
from ...memory.address_space import AddressSpace
from ...memory.region import MmioRegion, RamRegion, RomRegion
from ...system.clock import InstructionClock, VirtualClock
from ...system.events import EventQueue
from ...system.runstate import RunStateMachine, ShutdownCause
from ...target.riscv.cpu import RISCVCPU
from .. import loader
from .fdt import (CLINT_BASE, CLINT_SIZE, PLIC_BASE, PLIC_NUM_SOURCES, PLIC_SIZE, RTC_BASE,
                  RTC_IRQ, RTC_SIZE, TEST_BASE, TEST_SIZE, UART0_BASE, UART0_IRQ, UART0_SIZE,
                  VirtFdtConfig, build_virt_fdt, fdt_set_chosen)

ROM_BASE, ROM_SIZE = 0x1000, 0xF000
VIRTIO_BASE, VIRTIO_STRIDE, VIRTIO_COUNT, VIRTIO_IRQ = 0x10001000, 0x1000, 8, 1
RAM_BASE = 0x80000000
DEFAULT_RAM = 128 << 20
MAX_HARTS = 512                            # as QEMU's virt
MAX_RAM = {64: 1 << 40, 32: 2 << 30}      # keep RAM below the top of the address space
FW_DYNAMIC_MAGIC = 0x4942534F              # "OSBI"
FW_DYNAMIC_VERSION = 2
NEXT_MODE_S = 1

DEFAULT_BIOS = {64: "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"}


class MachineError(Exception):
    """A configuration or image problem: one line for the user."""


@dataclass
class VirtConfig:
    xlen: int = 64
    ram_size: int = DEFAULT_RAM
    smp: int = 1
    bios: str | None = "default"       # "none", a path, or "default"
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    dtb: str | None = None
    dumpdtb: str | None = None
    serial: Chardev | None = None
    no_reboot: bool = False
    no_shutdown: bool = False
    start_paused: bool = False
    name: str | None = None
    log: object = None
    backend: object = None
    # -device order; QEMU fills the virtio-mmio slots from the top (virtio_devices[0]
    # goes to slot 7, 0x10008000, IRQ 8, and becomes the guest's virtio0 / vda).
    virtio_devices: list = field(default_factory=list)
    virtio_legacy: bool = True           # QEMU 7.2: virtio-mmio.force-legacy=true
    power_button: bool = False           # -machine power-button=on (not in QEMU 7.2)
    # Guest time: (shift, sleep) counts it in instructions, 2**shift ns each
    # (-icount shift=N,sleep=on|off); None follows host time (-icount off).
    # pyqemu runs a guest hundreds of times slower than hardware, so by
    # default time is counted in instructions: the guest sees a fast machine
    # (a normal share of timer ticks, no watchdog firing) and idle time still
    # passes in host time. The Debian kernel boots with 2.4x less host CPU so.
    icount: tuple[int, bool] | None = (0, True)


def _boot_rom(xlen: int, start: int, fdt: int, next_addr: int) -> bytes:
    """The reset vector: a0 = hart id, a1 = device tree, a2 = fw_dynamic info;
    jump to `start`. Hand-encoded RISC-V (privileged spec's reset is ours to define)."""
    load = 0x3 if xlen == 64 else 0x2            # ld or lw (funct3)
    code = [
        0x00000297,                              # auipc t0, 0
        0x02828613,                              # addi  a2, t0, 40    (&fw_dynamic_info)
        0xF1402573,                              # csrr  a0, mhartid
        0x0202_0583 | (5 << 15) | (load << 12),  # l[wd] a1, 32(t0)    (fdt)
        0x0182_0283 | (5 << 15) | (load << 12),  # l[wd] t0, 24(t0)    (start)
        0x00028067,                              # jr    t0
    ]
    rom = b"".join(struct.pack("<I", c) for c in code)
    rom += struct.pack("<QQ", start, fdt)        # offsets 24 and 32
    word = "<Q" if xlen == 64 else "<I"
    info = [FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, next_addr, NEXT_MODE_S, 0, 0]
    rom += b"".join(struct.pack(word, v) for v in info)
    return rom


class VirtMachine:
    def __init__(self, cfg: VirtConfig):
        self.cfg = cfg
        if cfg.xlen not in (32, 64):
            raise MachineError(f"unsupported xlen {cfg.xlen}")
        if not 1 <= cfg.smp <= MAX_HARTS:
            raise MachineError(f"Invalid SMP CPUs {cfg.smp}. The max CPUs supported by machine "
                               f"'virt' is {MAX_HARTS}")
        if cfg.ram_size < (16 << 20) or cfg.ram_size > MAX_RAM[cfg.xlen]:
            raise MachineError(f"-m: RAM size {cfg.ram_size} out of range for virt "
                               f"(16M .. {MAX_RAM[cfg.xlen] >> 20}M)")
        self.exit_code: int | None = None
        self.dumped_dtb = False          # -machine dumpdtb: write the tree and exit, as QEMU
        self.clock = (VirtualClock() if cfg.icount is None
                      else InstructionClock(*cfg.icount))
        self.events = EventQueue()
        self.bus = AddressSpace("riscv-virt")
        self.ram = RamRegion("riscv.virt.ram", cfg.ram_size)
        self.rom = RomRegion("riscv.virt.mrom", ROM_SIZE)
        self.bus.map(RAM_BASE, self.ram)
        self.bus.map(ROM_BASE, self.rom)

        log = cfg.log
        guest_err = (lambda m: log.guest_error(m)) if log else None
        self.harts: list[RISCVCPU] = []
        self.clint = None
        for h in range(cfg.smp):
            self.harts.append(RISCVCPU(h, cfg.xlen, self.bus, clock=self.clock,
                                       timebase=lambda: self.clint.ticks(),
                                       backend=cfg.backend, log=log))
        self.clint = Clint(self.clock, self.harts, log=guest_err)
        # riscv,ndev counts sources 1..ndev; the model also counts source 0.
        self.plic = Plic(self.harts, PLIC_NUM_SOURCES + 1, log=guest_err)
        self.uart = Ns16550a(self.plic.irq_line(UART0_IRQ), cfg.serial, clock=self.clock,
                             log=guest_err)
        self.rtc = GoldfishRtc(self.clock, self.plic.irq_line(RTC_IRQ), log=guest_err)
        self.test = SifiveTest(self._on_poweroff, self._on_reset, log=guest_err)
        for base, size, name, dev in (
                (TEST_BASE, TEST_SIZE, "riscv.sifive.test", self.test),
                (RTC_BASE, RTC_SIZE, "goldfish_rtc", self.rtc),
                (CLINT_BASE, CLINT_SIZE, "riscv.aclint", self.clint),
                (PLIC_BASE, PLIC_SIZE, "riscv.sifive.plic", self.plic),
                (UART0_BASE, UART0_SIZE, "serial", self.uart)):
            self.bus.map(base, MmioRegion(name, size, dev))
        self.devices = [self.test, self.rtc, self.clint, self.plic, self.uart]
        if len(cfg.virtio_devices) > VIRTIO_COUNT:
            raise MachineError(f"virt has {VIRTIO_COUNT} virtio-mmio slots; "
                               f"{len(cfg.virtio_devices)} devices asked for")
        devices = list(cfg.virtio_devices)
        self.power_button = None
        if cfg.power_button:
            # Opt-in, beyond QEMU 7.2: a KEY_POWER input device in the lowest
            # slot, far from the -device ones (hw/input/virtio_input.py).
            if len(devices) >= VIRTIO_COUNT:
                raise MachineError("power-button=on needs a free virtio-mmio slot")
            self.power_button = VirtioPowerButton()
            devices += [None] * (VIRTIO_COUNT - 1 - len(devices)) + [self.power_button]
        self.virtio: list[VirtioMmio] = []
        for slot in range(VIRTIO_COUNT):
            i = VIRTIO_COUNT - 1 - slot
            dev: VirtioDevice | None = devices[i] if i < len(devices) else None
            t = VirtioMmio(self.bus, self.plic.irq_line(VIRTIO_IRQ + slot), dev,
                           legacy=cfg.virtio_legacy, log=guest_err)
            self.bus.map(VIRTIO_BASE + VIRTIO_STRIDE * slot, MmioRegion("virtio-mmio", VIRTIO_STRIDE, t))
            self.virtio.append(t)
            self.devices.append(t)
            if dev is not None:
                dev.attach_events(self.events)
        if cfg.serial is not None:
            cfg.serial.attach(self.uart.receive, self.events, on_break=self.uart.receive_break)
        self.runner = TCGRunner(self.harts, self.clock, self.events, log)
        self.runstate = RunStateMachine(self.runner)
        self.exit_requested = threading.Event()
        self.exit_listeners: list = []
        self._load_images()

    # -- images ---------------------------------------------------------------------
    def _load_images(self) -> None:
        cfg = self.cfg
        bus = self.bus
        kernel_entry = None
        kernel_high = RAM_BASE
        firmware_end = RAM_BASE
        bios = cfg.bios
        if bios == "default":
            bios = DEFAULT_BIOS.get(cfg.xlen)
            if bios is None or not os.path.exists(bios):
                raise MachineError(
                    "no default firmware for this machine: install Debian's 'opensbi' package "
                    "(apt-get install opensbi) for rv64, pass -bios FILE, or -bios none "
                    "with -kernel")
        start = None
        if bios and bios != "none":
            data = loader.read_file(bios, "firmware")
            if loader.is_elf(data):
                fw = loader.load_elf(bus, bios, data, cfg.xlen, "firmware")
            else:
                fw = loader.load_raw(bus, bios, data, RAM_BASE, "firmware")
            start = fw.entry
            firmware_end = fw.high
        if cfg.kernel:
            data = loader.read_file(cfg.kernel, "kernel")
            if loader.is_elf(data):
                k = loader.load_elf(bus, cfg.kernel, data, cfg.xlen, "kernel")
            else:
                if start is None:
                    # Without firmware only an ELF says where it wants to run.
                    hdr = loader.riscv_image_header(data)
                    if hdr is None:
                        raise MachineError(f"could not load kernel '{cfg.kernel}': not an ELF "
                                           "file (with -bios none the kernel must be an ELF)")
                # Linux Images run at RAM base + 2 MiB (rv64) / 4 MiB (rv32).
                addr = RAM_BASE + (0x200000 if cfg.xlen == 64 else 0x400000)
                if addr < firmware_end:
                    addr = (firmware_end + 0x1FFFFF) & ~0x1FFFFF
                k = loader.load_raw(bus, cfg.kernel, data, addr, "kernel")
            kernel_entry = k.entry
            kernel_high = k.high
            if start is None:
                start = k.entry
        elif start is None:
            raise MachineError("-bios none needs -kernel: there is nothing to run")
        if cfg.initrd and not cfg.kernel:
            raise MachineError("-initrd cannot be used without -kernel")
        # With no kernel the firmware is told to go to 0, as QEMU does.
        next_addr = kernel_entry if kernel_entry is not None else 0

        initrd_start = initrd_end = None
        if cfg.initrd:
            data = loader.read_file(cfg.initrd, "initrd")
            # As QEMU: half of RAM (at most 128 MiB) above the kernel's start.
            initrd_start = max(kernel_entry + min(cfg.ram_size // 2, 128 << 20), kernel_high)
            initrd_start = (initrd_start + 0xFFF) & ~0xFFF
            if initrd_start + len(data) > RAM_BASE + cfg.ram_size:
                raise MachineError(f"could not load initrd '{cfg.initrd}': too big for RAM "
                                   f"({len(data)} bytes)")
            loader.load_raw(bus, cfg.initrd, data, initrd_start, "initrd")
            initrd_end = initrd_start + len(data)

        if cfg.dtb:
            raw = loader.read_file(cfg.dtb, "dtb")
            try:
                dtb = fdt_set_chosen(raw, cfg.append, initrd_start, initrd_end)
            except Exception as e:
                raise MachineError(f"could not load dtb '{cfg.dtb}': {e}") from None
        else:
            mmu = "riscv,sv57" if cfg.xlen == 64 else "riscv,sv32"
            dtb = build_virt_fdt(VirtFdtConfig(
                ram_size=cfg.ram_size, isa=self.harts[0].isa_string, num_harts=cfg.smp,
                xlen=cfg.xlen, mmu_type=mmu, ram_base=RAM_BASE, bootargs=cfg.append,
                initrd_start=initrd_start, initrd_end=initrd_end))
        if cfg.dumpdtb:
            try:
                with open(cfg.dumpdtb, "wb") as f:
                    f.write(dtb)
            except OSError as e:
                raise MachineError(f"dumpdtb {cfg.dumpdtb}: {e.strerror}") from None
            self.dumped_dtb = True
        ram_end = RAM_BASE + cfg.ram_size
        fdt_addr = (min(ram_end, 0x100000000 if cfg.xlen == 64 else ram_end) - len(dtb)) & ~0x1FFFFF
        if fdt_addr < kernel_high:
            raise MachineError("not enough RAM for the device tree above the kernel")
        bus.load_image(fdt_addr, dtb)
        self.fdt_addr = fdt_addr
        self.dtb = dtb
        self.rom.load(0, _boot_rom(cfg.xlen, start, fdt_addr, next_addr))
        self.start = start

    # -- life cycle ----------------------------------------------------------------------
    # Guest power-off and reset arrive on the vCPU thread (from the SiFive
    # test device); they go through the run-state machine, which emits the
    # events, and `exit_requested` tells whoever waits (the CLI's main loop,
    # `run`) that the process should end.
    def _on_poweroff(self, code: int) -> None:
        self.exit_code = code
        self.request_shutdown(ShutdownCause.GUEST_SHUTDOWN)

    def _on_reset(self) -> None:
        if self.cfg.no_reboot:
            self.exit_code = 0
            self.request_shutdown(ShutdownCause.GUEST_RESET)
            return
        self.events.post(lambda: self.system_reset(ShutdownCause.GUEST_RESET))

    def request_shutdown(self, cause: ShutdownCause, force_exit: bool = False) -> None:
        """SHUTDOWN event; then exit, or with -no-shutdown stay in state
        shutdown (a quit or a signal always exits, as in QEMU)."""
        stay = self.cfg.no_shutdown and not force_exit
        self.runstate.shutdown(cause, stay=stay)
        if not stay:
            self.exit_requested.set()
            for fn in list(self.exit_listeners):
                fn()

    def powerdown_request(self) -> None:
        """system_powerdown: a press of the power button, if the board has one."""
        if self.power_button is not None:
            self.runner.run_on_vcpu(self.power_button.press)

    def system_reset(self, cause: ShutdownCause = ShutdownCause.HOST_QMP_SYSTEM_RESET) -> None:
        """Reset devices and harts (on the vCPU thread); RESET event. A machine
        that was not running is left in prelaunch, as QEMU does."""
        self.runner.run_on_vcpu(self.reset)
        self.runstate.reset_event(cause)
        self.runstate.after_reset()

    def reset(self) -> None:
        for d in self.devices:
            d.reset()
        for h in self.harts:
            h.reset(ROM_BASE)
        self._load_images()

    def start_vcpus(self, paused: bool = False) -> None:
        """Start the vCPU thread; run the guest unless `paused` (-S)."""
        self.runner.start_thread()
        if not paused:
            self.runstate.vm_start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until an exit is requested; True if it was."""
        return self.exit_requested.wait(timeout)

    def finish(self) -> int:
        """End the vCPU thread; the process exit status."""
        self.runner.stop()
        if self.runner.thread is not None and not self.runner.on_vcpu_thread():
            self.runner.thread.join(5)
        return self.exit_code if self.exit_code is not None else 0

    def run(self) -> int:
        """Run until the guest powers off (or a quit request); the exit status."""
        if self.dumped_dtb:
            return 0
        self.start_vcpus(self.cfg.start_paused)
        while not self.wait(0.5):
            pass
        return self.finish()

    def close_devices(self) -> None:
        """Flush and close the disks (and any other host resource of a device)."""
        for t in self.virtio:
            try:
                t.close()
            except Exception as e:          # report, but keep closing the others
                os.write(2, f"closing virtio device: {e}\n".encode())

    def quit(self, code: int = 0, cause: ShutdownCause = ShutdownCause.HOST_SIGNAL) -> None:
        """Exit in order (signals, C-a x, QMP quit), from any thread."""
        if self.exit_code is None:
            self.exit_code = code
        self.request_shutdown(cause, force_exit=True)
