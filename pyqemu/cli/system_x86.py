"""`pyqemu-system-x86_64`: the x86_64 `microvm` board under KVM, with QEMU's
command line. The options common with the RISC-V emulator are parsed and
served in cli/frontend.py; what differs is the board, the accelerator, -cpu
and isa-debug-exit."""

from __future__ import annotations

import sys

from ..accel.kvm.cpuid import CpuModelError, parse_cpu_option
from ..hw.virtio.options import VirtioOptions
from ..hw.x86.debug_exit import DEFAULT_IOBASE, DEFAULT_IOSIZE
from . import frontend
from .frontend import CommandLine, UsageError, common_specs
from .options import OptionError, OptionSpec, parse_command_line, parse_keyval

_COMMON = common_specs(
    kernel_help="use 'bzImage' as kernel image (bzImage, PVH vmlinux, multiboot or ELF)",
    drive_metavar="file=file,format=raw|qcow2,if=none,id=name",
    blockdev_metavar="driver=...,node-name=N,...",
    device_help="add a device (isa-debug-exit, virtio-blk-device, virtio-rng-device, "
                "virtio-serial-device, virtconsole)")
SPECS = [
    _COMMON["h"], _COMMON["version"],
    OptionSpec("machine", True, "select emulated machine ('-machine help' for list)",
               "[type=]name[,prop=value...]", ("M",)),
    OptionSpec("cpu", True, "select CPU ('-cpu help' for list)", "host[,-feature...]"),
    OptionSpec("accel", True, "select accelerator ('-accel help' for list)", "kvm"),
    OptionSpec("enable-kvm", False, "enable KVM full virtualization support"),
    *(_COMMON[n] for n in ("m", "smp", "kernel", "initrd", "append", "nographic", "serial",
                           "display", "no-reboot", "no-shutdown", "d", "D", "name", "chardev",
                           "qmp", "monitor", "mon", "S", "pidfile", "daemonize", "drive",
                           "blockdev", "device", "global", "incoming", "loadvm")),
]

MACHINES = [("microvm", "microvm (i386), KVM only in pyqemu", True)]
# QEMU's microvm properties; pyqemu's board has the fixed set above, so they
# are accepted (for command lines written for QEMU) and change nothing.
# pyqemu's own: x-decompress-bzimage=on (docs/kvm.md).
MICROVM_PROPS = {"pic", "pit", "rtc", "isa-serial", "acpi", "x-option-roms", "auto-kernel-cmdline",
                 "ioapic2", "pcie", "usb", "graphics", "accel"}


def _int(text: str, where: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise OptionError(f"{where}: '{text}' is not a number") from None


def _parse_debug_exit(spec: str) -> tuple[int, int] | None:
    kv = parse_keyval(spec, "driver", "-device")
    if kv.get("driver") != "isa-debug-exit":
        return None
    iobase, iosize = DEFAULT_IOBASE, DEFAULT_IOSIZE
    for k, v in kv.items():
        if k == "iobase":
            iobase = _int(v, f"-device {spec}")
        elif k == "iosize":
            iosize = _int(v, f"-device {spec}")
        elif k not in ("driver", "id"):
            raise OptionError(f"-device {spec}: Property 'isa-debug-exit.{k}' not found")
    if not 0 <= iobase <= 0xFFFF or iosize not in (1, 2, 4) or iobase + iosize > 0x10000:
        raise OptionError(f"-device {spec}: iobase/iosize outside the 64 KiB I/O space")
    return iobase, iosize


def _run(argv: list[str], prog: str) -> int:
    virtio = VirtioOptions()
    try:
        return _run_with_disks(argv, prog, virtio)
    finally:
        virtio.close()


def _run_with_disks(argv: list[str], prog: str, virtio: VirtioOptions) -> int:
    from ..machine.x86.microvm import MachineError, MicrovmConfig, MicrovmMachine

    opts = parse_command_line(argv, SPECS)
    cfg = MicrovmConfig()
    cl = CommandLine(prog, SPECS, opts, cfg, virtio)
    for name, val in opts:
        if cl.take(name, val):
            continue
        if name == "machine":
            _machine_option(val, cfg)
        elif name == "cpu":
            if val == "help":
                sys.stdout.write("host  KVM processor with all supported host features\n"
                                 "max   same as host\n")
                raise frontend.Done
            try:
                _model, cfg.cpu_changes = parse_cpu_option(val)
            except CpuModelError as e:
                raise OptionError(str(e)) from None
        elif name == "accel":
            kv = parse_keyval(val, "accel", "-accel")
            accel = kv.get("accel")
            if accel == "help":
                sys.stdout.write("Accelerators supported in QEMU binary:\nkvm\n")
                raise frontend.Done
            if accel != "kvm":
                raise OptionError(f"-accel {val}: invalid accelerator {accel} for x86_64 "
                                  "(pyqemu runs x86 guests only with kvm)")
        elif name == "enable-kvm":
            pass

    def debug_exit(spec: str) -> bool:
        port = _parse_debug_exit(spec)
        if port is not None:
            cfg.debug_exits.append(port)
        return port is not None

    cl.add_devices(debug_exit)
    if not cfg.kernel:
        raise UsageError("microvm needs -kernel (pyqemu has no x86 firmware to boot from disk)")
    cl.connect_serial()
    machine = cl.build(MicrovmMachine, (MachineError,))
    return cl.run(machine)


def _machine_option(val: str, cfg) -> None:
    if val == "help":
        frontend.list_machines(MACHINES)
    kv = parse_keyval(val, "type", "-machine")
    machine_name = kv.pop("type", "microvm")
    if machine_name != "microvm":
        raise OptionError(f"-machine {val}: unsupported machine type '{machine_name}'; "
                          "pyqemu-system-x86_64 has only microvm (-machine help)")
    for k, v in kv.items():
        if k == "x-decompress-bzimage":
            if v not in ("on", "off"):
                raise OptionError(f"-machine {val}: Parameter 'x-decompress-bzimage' "
                                  "expects 'on' or 'off'")
            cfg.decompress_bzimage = v == "on"
            continue
        if k == "accel" and v != "kvm":
            raise OptionError(f"-machine {val}: accelerator '{v}' is not available for "
                              "x86_64 in pyqemu (only kvm)")
        if k not in MICROVM_PROPS:
            raise OptionError(f"-machine {val}: Property 'microvm-machine.{k}' not found")


def main() -> None:
    frontend.main(_run, "pyqemu-system-x86_64")


if __name__ == "__main__":
    main()
