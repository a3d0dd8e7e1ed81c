"""`pyqemu-system-riscv64` / `pyqemu-system-riscv32`: the system emulator's
command line, as QEMU's.
"""

from __future__ import annotations

import os
import signal
import sys

from .. import QEMU_COMPAT_VERSION, __version__
from ..chardev.base import ChardevError
from ..chardev.parse import parse_serial
from ..machine.loader import LoadError
from ..system.log import Log, LogError, help_text as log_help
from .options import OptionError, OptionSpec, parse_bool, parse_command_line, parse_keyval, parse_size

SPECS = [
    OptionSpec("h", False, "display this help and exit", aliases=("help",)),
    OptionSpec("version", False, "display version information and exit"),
    OptionSpec("machine", True, "select emulated machine ('-machine help' for list)", "[type=]name[,prop=value...]", ("M",)),
    OptionSpec("cpu", True, "select CPU ('-cpu help' for list)", "cpu"),
    OptionSpec("accel", True, "select accelerator ('-accel help' for list)", "name[,prop=value]"),
    OptionSpec("m", True, "configure guest RAM", "[size=]megs[,slots=n,maxmem=size]"),
    OptionSpec("smp", True, "set the number of CPUs", "[cpus=]n"),
    OptionSpec("bios", True, "set the filename for the BIOS", "file"),
    OptionSpec("kernel", True, "use 'bzImage' as kernel image", "bzImage"),
    OptionSpec("initrd", True, "use 'file' as initial ram disk", "file"),
    OptionSpec("append", True, "use 'cmdline' as kernel command line", "cmdline"),
    OptionSpec("dtb", True, "use 'file' as device tree image", "file"),
    OptionSpec("nographic", False, "disable graphical output and redirect serial I/Os to console"),
    OptionSpec("serial", True, "redirect the serial port to char device 'dev'", "dev"),
    OptionSpec("display", True, "select display backend type", "none"),
    OptionSpec("no-reboot", False, "exit instead of rebooting"),
    OptionSpec("d", True, "enable logging of specified items (use '-d help' for a list of log items)", "item1,..."),
    OptionSpec("D", True, "output log to logfile (default stderr)", "logfile"),
    OptionSpec("name", True, "set the name of the guest", "string"),
    OptionSpec("tcg-backend", True, "pyqemu: select the TCG backend (interp, pycodegen)", "name"),
]

MACHINES = [("virt", "RISC-V VirtIO board", True), ("none", "empty machine", False)]


class UsageError(Exception):
    pass


TCG_BACKENDS = ("interp", "pycodegen")


def make_backend(name: str):
    """The IR backend by name: the reference interpreter or Python code generation."""
    if name == "pycodegen":
        from ..accel.tcg.pycodegen import PyCodegenBackend
        return PyCodegenBackend()
    from ..accel.tcg.interp import InterpBackend
    return InterpBackend()


def _usage(prog: str) -> str:
    lines = [f"pyqemu {__version__} (QEMU {'.'.join(map(str, QEMU_COMPAT_VERSION))} compatible command line)",
             f"usage: {prog} [options]", ""]
    for s in SPECS:
        opt = f"-{s.name}" + (f" {s.metavar}" if s.metavar else "")
        lines.append(f"{opt:<40} {s.help}")
    return "\n".join(lines) + "\n"


def _run(argv: list[str], xlen: int, prog: str) -> int:
    from ..machine.riscv.virt import MachineError, VirtConfig, VirtMachine

    opts = parse_command_line(argv, SPECS)
    cfg = VirtConfig(xlen=xlen)
    nographic = False
    serial_specs: list[str] = []
    machine_name = "virt"
    dspec = dpath = None
    backend_name = "interp"
    for name, val in opts:
        if name == "h":
            sys.stdout.write(_usage(prog))
            return 0
        if name == "version":
            maj, mnr, mic = QEMU_COMPAT_VERSION
            sys.stdout.write(f"{prog} version {maj}.{mnr}.{mic} (pyqemu {__version__})\n"
                             "Copyright (c) the pyqemu developers\n")
            return 0
        if name == "machine":
            if val == "help":
                sys.stdout.write("Supported machines are:\n" + "".join(
                    f"{n:<20} {d}{' (default)' if dflt else ''}\n" for n, d, dflt in MACHINES))
                return 0
            kv = parse_keyval(val, "type", "-machine")
            machine_name = kv.pop("type", machine_name)
            if machine_name not in ("virt",):
                raise OptionError(f"-machine {val}: unsupported machine type '{machine_name}'; "
                                  "use -machine help to list supported machines")
            if "dumpdtb" in kv:
                cfg.dumpdtb = kv.pop("dumpdtb")
            for k in kv:
                if k in ("accel",):
                    if kv[k] != "tcg":
                        raise OptionError(f"-machine {val}: accelerator '{kv[k]}' is not available "
                                          "for RISC-V (only tcg)")
                    continue
                raise OptionError(f"-machine {val}: Property '{machine_name}-machine.{k}' not found")
        elif name == "cpu":
            model = val.split(",")[0]
            if model == "help":
                sys.stdout.write(f"rv{xlen}\nany\nmax\n")
                return 0
            if model not in (f"rv{xlen}", "any", "max"):
                raise OptionError(f"-cpu {val}: unable to find CPU model '{model}'")
        elif name == "accel":
            kv = parse_keyval(val, "accel", "-accel")
            if kv.get("accel") == "help":
                sys.stdout.write("Accelerators supported in QEMU binary:\ntcg\n")
                return 0
            if kv.get("accel") != "tcg":
                raise OptionError(f"-accel {val}: invalid accelerator {kv.get('accel')} "
                                  "for a RISC-V machine (only tcg)")
        elif name == "m":
            kv = parse_keyval(val, "size", "-m")
            cfg.ram_size = parse_size(kv.get("size", "128"), "m", "-m")
        elif name == "smp":
            kv = parse_keyval(val, "cpus", "-smp")
            try:
                cfg.smp = int(kv.get("cpus", "1"))
            except ValueError:
                raise OptionError(f"-smp {val}: invalid number of CPUs") from None
            if cfg.smp < 1:
                raise OptionError(f"-smp {val}: invalid number of CPUs")
        elif name == "bios":
            cfg.bios = val
        elif name == "kernel":
            cfg.kernel = val
        elif name == "initrd":
            cfg.initrd = val
        elif name == "append":
            cfg.append = val
        elif name == "dtb":
            cfg.dtb = val
        elif name == "nographic":
            nographic = True
        elif name == "serial":
            serial_specs.append(val)
        elif name == "display":
            if val.split(",")[0] not in ("none",):
                raise OptionError(f"-display {val}: pyqemu has no graphical display; use -display none")
        elif name == "no-reboot":
            cfg.no_reboot = True
        elif name == "d":
            if val == "help":
                sys.stdout.write("Log items (comma separated):\n" + log_help())
                return 0
            dspec = val
        elif name == "D":
            dpath = val
        elif name == "tcg-backend":
            if val not in TCG_BACKENDS:
                raise OptionError(f"-tcg-backend {val}: unknown backend (available: "
                                  f"{', '.join(TCG_BACKENDS)})")
            backend_name = val

    cfg.backend = make_backend(backend_name)
    cfg.log = Log(dspec, dpath) if (dspec or dpath) else None
    # No graphical display exists: like -nographic, the first serial port is
    # on this terminal (multiplexed with the escape keys) unless -serial says otherwise.
    serial = serial_specs[0] if serial_specs else "mon:stdio"
    if nographic and serial == "stdio":
        serial = "mon:stdio"
    chardev = parse_serial(serial)
    cfg.serial = chardev
    try:
        machine = VirtMachine(cfg)
    except (MachineError, LoadError) as e:
        if chardev is not None:
            chardev.close()
        raise UsageError(str(e)) from None
    if chardev is not None and hasattr(chardev, "on_quit"):
        # C-a x: stop the machine in order, so the terminal is restored.
        chardev.on_quit = lambda: machine.quit(0)

    def on_signal(signum, _frame):
        # As QEMU: say so, shut down in order, exit status 0.
        sys.stderr.write(f"{prog}: terminating on signal {signum}\n")
        machine.quit(0)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        return machine.run()
    finally:
        if chardev is not None:
            chardev.close()


def _main(xlen: int) -> None:
    prog = os.path.basename(sys.argv[0]) or f"pyqemu-system-riscv{xlen}"
    try:
        code = _run(sys.argv[1:], xlen, prog)
    except (OptionError, UsageError, ChardevError, LogError) as e:
        sys.stderr.write(f"{prog}: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.stdout.flush()
    os._exit(code)   # reader threads blocked on stdin must not hold the process


def main_riscv64() -> None:
    _main(64)


def main_riscv32() -> None:
    _main(32)
