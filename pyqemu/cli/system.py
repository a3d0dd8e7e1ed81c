"""`pyqemu-system-riscv64` / `pyqemu-system-riscv32`: the system emulator's
command line, as QEMU's.
"""

from __future__ import annotations

import sys

from ..accel.tcg.backends import DEFAULT_BACKEND, TCG_BACKENDS, make_backend
from ..hw.virtio.options import VirtioOptions
from ..machine.loader import LoadError
from . import frontend
from .frontend import CommandLine, common_specs
from .options import OptionError, OptionSpec, parse_bool, parse_command_line, parse_keyval

_COMMON = common_specs(
    kernel_help="use 'bzImage' as kernel image",
    drive_metavar="file=file,format=raw|qcow2,if=none,id=name[,readonly=on][,cache=...]",
    blockdev_metavar="driver=...,node-name=N[,file.driver=file,file.filename=...]",
    device_help="add a device (virtio-blk-device, virtio-rng-device, virtio-serial-device, "
                "virtconsole)")
SPECS = [
    _COMMON["h"], _COMMON["version"],
    OptionSpec("machine", True, "select emulated machine ('-machine help' for list)",
               "[type=]name[,prop=value...]", ("M",)),
    OptionSpec("cpu", True, "select CPU ('-cpu help' for list)", "cpu"),
    OptionSpec("accel", True, "select accelerator ('-accel help' for list)", "name[,prop=value]"),
    _COMMON["m"], _COMMON["smp"],
    OptionSpec("bios", True, "set the filename for the BIOS", "file"),
    _COMMON["kernel"], _COMMON["initrd"], _COMMON["append"],
    OptionSpec("dtb", True, "use 'file' as device tree image", "file"),
    *(_COMMON[n] for n in ("nographic", "serial", "display", "no-reboot", "d", "D", "name",
                           "chardev", "qmp", "monitor", "mon", "S", "no-shutdown", "pidfile",
                           "daemonize", "drive", "blockdev", "device", "global", "incoming",
                           "loadvm", "s", "gdb")),
    OptionSpec("icount", True, "virtual instruction counter with 2^N clock ticks per "
               "instruction (pyqemu's default: shift=0,sleep=on); sleep=on|off: let time pass "
               "in host time while the guest is idle; off: guest time follows host time",
               "[shift=]N[,sleep=on|off]|off"),
    OptionSpec("tcg-backend", True, "pyqemu: select the TCG backend (interp, pycodegen, llvm)", "name"),
]

MACHINES = [("virt", "RISC-V VirtIO board", True), ("none", "empty machine", False)]


def _run(argv: list[str], xlen: int, prog: str) -> int:
    virtio = VirtioOptions()
    try:
        return _run_with_disks(argv, xlen, prog, virtio)
    finally:
        virtio.close()


def _run_with_disks(argv: list[str], xlen: int, prog: str, virtio: VirtioOptions) -> int:
    """The rest of _run; every image `virtio` opened is closed by the caller."""
    from ..machine.riscv.virt import MachineError, VirtConfig, VirtMachine

    opts = parse_command_line(argv, SPECS)
    cfg = VirtConfig(xlen=xlen)
    cl = CommandLine(prog, SPECS, opts, cfg, virtio)
    backend_name = DEFAULT_BACKEND
    for name, val in opts:
        if cl.take(name, val):
            continue
        if name == "machine":
            _machine_option(val, cfg)
        elif name == "cpu":
            model = val.split(",")[0]
            if model == "help":
                sys.stdout.write(f"rv{xlen}\nany\nmax\n")
                raise frontend.Done
            if model not in (f"rv{xlen}", "any", "max"):
                raise OptionError(f"-cpu {val}: unable to find CPU model '{model}'")
        elif name == "accel":
            kv = parse_keyval(val, "accel", "-accel")
            if kv.get("accel") == "help":
                sys.stdout.write("Accelerators supported in QEMU binary:\ntcg\n")
                raise frontend.Done
            if kv.get("accel") != "tcg":
                raise OptionError(f"-accel {val}: invalid accelerator {kv.get('accel')} "
                                  "for a RISC-V machine (only tcg)")
        elif name == "icount" and val == "off":
            cfg.icount = None            # pyqemu: guest time follows host time
        elif name == "icount":
            kv = parse_keyval(val, "shift", "-icount")
            shift = kv.get("shift", "0")
            if not shift.isdigit() or int(shift) > 10:
                raise OptionError(f"-icount {val}: shift must be a number from 0 to 10 "
                                  "(shift=auto is not supported)")
            cfg.icount = (int(shift), parse_bool(kv.get("sleep", "on"), "-icount sleep"))
        elif name in ("bios", "dtb"):
            setattr(cfg, name, val)
        elif name == "tcg-backend":
            if val not in TCG_BACKENDS:
                raise OptionError(f"-tcg-backend {val}: unknown backend (available: "
                                  f"{', '.join(TCG_BACKENDS)})")
            backend_name = val

    cl.add_devices()
    cfg.backend = make_backend(backend_name)
    cl.connect_serial()
    machine = cl.build(VirtMachine, (MachineError, LoadError))
    if machine.dumped_dtb:
        return 0
    return cl.run(machine)


def _machine_option(val: str, cfg) -> None:
    if val == "help":
        frontend.list_machines(MACHINES)
    kv = parse_keyval(val, "type", "-machine")
    machine_name = kv.pop("type", "virt")
    if machine_name not in ("virt",):
        raise OptionError(f"-machine {val}: unsupported machine type '{machine_name}'; "
                          "use -machine help to list supported machines")
    if "dumpdtb" in kv:
        cfg.dumpdtb = kv.pop("dumpdtb")
    for k in kv:
        if k == "power-button":
            # pyqemu's opt-in virtio input power button (not in QEMU 7.2).
            cfg.power_button = parse_bool(kv[k], "-machine power-button")
            continue
        if k in ("accel",):
            if kv[k] != "tcg":
                raise OptionError(f"-machine {val}: accelerator '{kv[k]}' is not available "
                                  "for RISC-V (only tcg)")
            continue
        raise OptionError(f"-machine {val}: Property '{machine_name}-machine.{k}' not found")


def main_riscv64() -> None:
    frontend.main(lambda argv, prog: _run(argv, 64, prog), "pyqemu-system-riscv64")


def main_riscv32() -> None:
    frontend.main(lambda argv, prog: _run(argv, 32, prog), "pyqemu-system-riscv32")


if __name__ == "__main__":          # python -m pyqemu.cli.system: the rv64 emulator
    main_riscv64()
