"""The flattened device tree of the RISC-V `virt` board, as QEMU 7.2 generates it.

Node names, compatibles, reg, interrupts and phandles follow what the real
`qemu-system-riscv64 -M virt,dumpdtb=...` writes, and so does the order of
nodes and properties in the blob (so `dtc -O dts` of both reads alike). Left
out, because pyqemu does not model them: pmu, fw-cfg, flash, platform-bus,
pci. Written with libfdt's sequential-write API.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import libfdt

# The virt board's devices (QEMU hw/riscv/virt.c memory map and IRQ numbers).
TEST_BASE, TEST_SIZE = 0x100000, 0x1000
RTC_BASE, RTC_SIZE, RTC_IRQ = 0x101000, 0x1000, 11
CLINT_BASE, CLINT_SIZE = 0x2000000, 0x10000
PLIC_BASE, PLIC_SIZE = 0xC000000, 0x600000
PLIC_NUM_SOURCES = 96
UART0_BASE, UART0_SIZE, UART0_IRQ = 0x10000000, 0x100, 10
UART0_CLOCK_HZ = 3_686_400
VIRTIO_BASE, VIRTIO_SIZE, VIRTIO_COUNT, VIRTIO_IRQ = 0x10001000, 0x1000, 8, 1

# Values of the syscon-poweroff / syscon-reboot nodes (SiFive test finisher codes).
FINISHER_PASS, FINISHER_RESET = 0x5555, 0x7777

# mip bit numbers the CLINT and PLIC outputs are wired to, per hart.
IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_EXT, IRQ_M_EXT = 3, 7, 9, 11

DEFAULT_STDOUT_PATH = f"/soc/serial@{UART0_BASE:x}"


class FdtError(Exception):
    """A device tree could not be built or edited; the message says why."""


@dataclasses.dataclass
class VirtFdtConfig:
    ram_size: int
    isa: str                                  # the "riscv,isa" string, as the CPU implements it
    num_harts: int = 1
    xlen: int = 64
    mmu_type: str | None = "riscv,sv48"       # None: no MMU, no "mmu-type" property
    ram_base: int = 0x80000000
    bootargs: str | None = None
    initrd_start: int | None = None
    initrd_end: int | None = None
    stdout_path: str = DEFAULT_STDOUT_PATH
    timebase_frequency: int = 10_000_000
    # QEMU seeds the guest's RNG from /chosen/rng-seed; None: 32 fresh random bytes.
    rng_seed: bytes | None = None

    def __post_init__(self) -> None:
        if self.xlen not in (32, 64):
            raise FdtError(f"xlen {self.xlen}: must be 32 or 64")
        if not 1 <= self.num_harts <= 512:
            raise FdtError(f"number of harts {self.num_harts}: must be 1..512")
        if self.ram_size <= 0:
            raise FdtError(f"RAM size {self.ram_size}: must be positive")
        if (self.initrd_start is None) != (self.initrd_end is None):
            raise FdtError("initrd start and end must be given together")
        if self.initrd_start is not None and self.initrd_end < self.initrd_start:
            raise FdtError(f"initrd end {self.initrd_end:#x} is below its start {self.initrd_start:#x}")


# -- property encodings (Devicetree Specification, "Property Values") ----------

def _cells(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def _reg(address: int, size: int) -> bytes:
    """One (address, size) pair with #address-cells = #size-cells = 2."""
    return struct.pack(">QQ", address, size)


def _string(value: str) -> bytes:
    return value.encode() + b"\0"


def _strings(*values: str) -> bytes:
    return b"".join(_string(v) for v in values)


def _address_cells(value: int) -> bytes:
    """linux,initrd-*: one cell when it fits, as QEMU writes it, else two."""
    return _cells(value) if value <= 0xFFFF_FFFF else struct.pack(">Q", value)


class _Writer:
    """Sequential writing: nodes and properties land in the blob in call order."""

    def __init__(self) -> None:
        self.sw = libfdt.FdtSw()
        self.sw.finish_reservemap()

    def node(self, name: str):
        return self.sw.add_node(name)

    def props(self, *pairs: tuple[str, bytes]) -> None:
        for name, value in pairs:
            self.sw.property(name, value)


def _phandles(num_harts: int) -> tuple[list[int], list[int], int, int]:
    """(cpu phandles, cpu-intc phandles, plic, test), numbered as QEMU numbers
    them: harts from the last to the first, then the PLIC, then the test device."""
    cpu = [0] * num_harts
    intc = [0] * num_harts
    next_phandle = 1
    for hart in reversed(range(num_harts)):
        cpu[hart], intc[hart] = next_phandle, next_phandle + 1
        next_phandle += 2
    return cpu, intc, next_phandle, next_phandle + 1


def build_virt_fdt(cfg: VirtFdtConfig) -> bytes:
    cpu_ph, intc_ph, plic_ph, test_ph = _phandles(cfg.num_harts)
    w = _Writer()
    with w.node(""):
        w.props(("#address-cells", _cells(2)), ("#size-cells", _cells(2)),
                ("compatible", _string("riscv-virtio")),
                ("model", _string("riscv-virtio,qemu")))
        _write_chosen(w, cfg)
        for name, value in (("poweroff", FINISHER_PASS), ("reboot", FINISHER_RESET)):
            with w.node(name):
                w.props(("value", _cells(value)), ("offset", _cells(0)),
                        ("regmap", _cells(test_ph)),
                        ("compatible", _string(f"syscon-{name}")))
        with w.node(f"memory@{cfg.ram_base:x}"):
            w.props(("device_type", _string("memory")), ("reg", _reg(cfg.ram_base, cfg.ram_size)))
        _write_cpus(w, cfg, cpu_ph, intc_ph)
        _write_soc(w, cfg, intc_ph, plic_ph, test_ph)
    try:
        fdt = w.sw.as_fdt()
        fdt.pack()
    except libfdt.FdtException as e:
        raise FdtError(f"building the virt device tree: {e}") from None
    return bytes(fdt.as_bytearray())


def _write_chosen(w: _Writer, cfg: VirtFdtConfig) -> None:
    with w.node("chosen"):
        if cfg.initrd_start is not None:
            w.props(("linux,initrd-end", _address_cells(cfg.initrd_end)),
                    ("linux,initrd-start", _address_cells(cfg.initrd_start)))
        seed = os.urandom(32) if cfg.rng_seed is None else cfg.rng_seed
        if seed:
            w.props(("rng-seed", seed))
        if cfg.bootargs is not None:
            w.props(("bootargs", _string(cfg.bootargs)))
        w.props(("stdout-path", _string(cfg.stdout_path)))


def _write_cpus(w: _Writer, cfg: VirtFdtConfig, cpu_ph: list[int], intc_ph: list[int]) -> None:
    with w.node("cpus"):
        w.props(("#address-cells", _cells(1)), ("#size-cells", _cells(0)),
                ("timebase-frequency", _cells(cfg.timebase_frequency)))
        for hart in range(cfg.num_harts):
            with w.node(f"cpu@{hart:x}"):
                w.props(("phandle", _cells(cpu_ph[hart])), ("device_type", _string("cpu")),
                        ("reg", _cells(hart)), ("status", _string("okay")),
                        ("compatible", _string("riscv")), ("riscv,isa", _string(cfg.isa)))
                if cfg.mmu_type:
                    w.props(("mmu-type", _string(cfg.mmu_type)))
                with w.node("interrupt-controller"):
                    w.props(("#interrupt-cells", _cells(1)), ("interrupt-controller", b""),
                            ("compatible", _string("riscv,cpu-intc")),
                            ("phandle", _cells(intc_ph[hart])))
        with w.node("cpu-map"):
            with w.node("cluster0"):
                for hart in range(cfg.num_harts):
                    with w.node(f"core{hart}"):
                        w.props(("cpu", _cells(cpu_ph[hart])))


def _write_soc(w: _Writer, cfg: VirtFdtConfig, intc_ph: list[int], plic_ph: int,
               test_ph: int) -> None:
    def plic_device(name: str, base: int, size: int, irq: int, compatible: bytes,
                    *extra: tuple[str, bytes]) -> None:
        with w.node(f"{name}@{base:x}"):
            w.props(("interrupts", _cells(irq)), ("interrupt-parent", _cells(plic_ph)),
                    *extra, ("reg", _reg(base, size)), ("compatible", compatible))

    with w.node("soc"):
        w.props(("#address-cells", _cells(2)), ("#size-cells", _cells(2)),
                ("compatible", _string("simple-bus")), ("ranges", b""))
        plic_device("rtc", RTC_BASE, RTC_SIZE, RTC_IRQ, _string("google,goldfish-rtc"))
        plic_device("serial", UART0_BASE, UART0_SIZE, UART0_IRQ, _string("ns16550a"),
                    ("clock-frequency", _cells(UART0_CLOCK_HZ)))
        with w.node(f"test@{TEST_BASE:x}"):
            w.props(("phandle", _cells(test_ph)), ("reg", _reg(TEST_BASE, TEST_SIZE)),
                    ("compatible", _strings("sifive,test1", "sifive,test0", "syscon")))
        for slot in reversed(range(VIRTIO_COUNT)):
            plic_device("virtio_mmio", VIRTIO_BASE + slot * VIRTIO_SIZE, VIRTIO_SIZE,
                        VIRTIO_IRQ + slot, _string("virtio,mmio"))
        with w.node(f"plic@{PLIC_BASE:x}"):
            w.props(("phandle", _cells(plic_ph)),
                    ("riscv,ndev", _cells(PLIC_NUM_SOURCES)),
                    ("reg", _reg(PLIC_BASE, PLIC_SIZE)),
                    ("interrupts-extended",
                     _cells(*(c for ph in intc_ph for c in (ph, IRQ_M_EXT, ph, IRQ_S_EXT)))),
                    ("interrupt-controller", b""),
                    ("compatible", _strings("sifive,plic-1.0.0", "riscv,plic0")),
                    ("#address-cells", _cells(0)), ("#interrupt-cells", _cells(1)))
        with w.node(f"clint@{CLINT_BASE:x}"):
            w.props(("interrupts-extended",
                     _cells(*(c for ph in intc_ph for c in (ph, IRQ_M_SOFT, ph, IRQ_M_TIMER)))),
                    ("reg", _reg(CLINT_BASE, CLINT_SIZE)),
                    ("compatible", _strings("sifive,clint0", "riscv,clint0")))


def fdt_set_chosen(dtb: bytes, bootargs: str | None = None,
                   initrd_start: int | None = None, initrd_end: int | None = None) -> bytes:
    """Put the command line and the initrd into a user-supplied (`-dtb`) tree's /chosen."""
    if (initrd_start is None) != (initrd_end is None):
        raise FdtError("initrd start and end must be given together")
    try:
        fdt = libfdt.Fdt(bytearray(dtb))
        room = len(bootargs or "") + 256
        fdt.resize(fdt.totalsize() + room)
        chosen = fdt.path_offset("/chosen", quiet=(libfdt.NOTFOUND,))
        if chosen < 0:
            chosen = fdt.add_subnode(0, "chosen")
        if bootargs is not None:
            fdt.setprop_str(chosen, "bootargs", bootargs)
        if initrd_start is not None:
            fdt.setprop(chosen, "linux,initrd-start", _address_cells(initrd_start))
            fdt.setprop(chosen, "linux,initrd-end", _address_cells(initrd_end))
        fdt.pack()
    except libfdt.FdtException as e:
        raise FdtError(f"invalid device tree blob: {e}") from None
    return bytes(fdt.as_bytearray())
