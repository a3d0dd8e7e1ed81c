"""`pyqemu-system-riscv64` / `pyqemu-system-riscv32`: the system emulator's
command line, as QEMU's.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import QEMU_COMPAT_VERSION, __version__
from ..accel.tcg.backends import DEFAULT_BACKEND, TCG_BACKENDS, make_backend
from ..chardev.base import ChardevError
from ..chardev.options import ChardevRegistry, parse_chardev, parse_legacy
from ..hw.virtio.options import VirtioOptionError, VirtioOptions
from ..machine.loader import LoadError
from ..system.runstate import ShutdownCause
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
    OptionSpec("chardev", True, "create a character device (stdio, socket, file, pty, null, "
               "ringbuf)", "backend,id=id[,...]"),
    OptionSpec("qmp", True, "like -monitor but opens in 'control' mode", "dev"),
    OptionSpec("monitor", True, "redirect the monitor to char device 'dev'", "dev"),
    OptionSpec("mon", True, "use a chardev as a monitor", "[chardev=]name[,mode=readline|control]"),
    OptionSpec("S", False, "freeze CPU at startup (use 'c' to start execution)"),
    OptionSpec("no-shutdown", False, "stop before shutdown"),
    OptionSpec("pidfile", True, "write PID to 'file'", "file"),
    OptionSpec("daemonize", False, "daemonize QEMU after initializing"),
    OptionSpec("drive", True, "define a new drive", "file=file,format=raw|qcow2,if=none,id=name[,readonly=on][,cache=...]"),
    OptionSpec("blockdev", True, "define a new block driver node", "driver=...,node-name=N[,file.driver=file,file.filename=...]"),
    OptionSpec("device", True, "add a device (virtio-blk-device, virtio-rng-device, virtio-serial-device, virtconsole)", "driver[,prop=value][,...]"),
    OptionSpec("global", True, "set a default for a driver property", "driver.prop=value"),
    OptionSpec("incoming", True, "prepare for incoming migration, listen on a given tcp, unix, "
               "exec, fd or file URI, or wait for migrate-incoming with 'defer'", "uri"),
    OptionSpec("loadvm", True, "start right away with a saved state (loadvm in monitor)", "tag"),
    OptionSpec("s", False, "shorthand for -gdb tcp::1234"),
    OptionSpec("gdb", True, "accept gdb connection on 'dev'", "dev"),
    OptionSpec("icount", True, "virtual instruction counter with 2^N clock ticks per "
               "instruction (pyqemu's default: shift=0,sleep=on); sleep=on|off: let time pass "
               "in host time while the guest is idle; off: guest time follows host time",
               "[shift=]N[,sleep=on|off]|off"),
    OptionSpec("tcg-backend", True, "pyqemu: select the TCG backend (interp, pycodegen, llvm)", "name"),
]

MACHINES = [("virt", "RISC-V VirtIO board", True), ("none", "empty machine", False)]


class UsageError(Exception):
    pass


def _usage(prog: str) -> str:
    lines = [f"pyqemu {__version__} (QEMU {'.'.join(map(str, QEMU_COMPAT_VERSION))} compatible command line)",
             f"usage: {prog} [options]", ""]
    for s in SPECS:
        opt = f"-{s.name}" + (f" {s.metavar}" if s.metavar else "")
        lines.append(f"{opt:<40} {s.help}")
    return "\n".join(lines) + "\n"


def _run(argv: list[str], xlen: int, prog: str) -> int:
    from ..machine.riscv.virt import VirtConfig

    opts = parse_command_line(argv, SPECS)
    cfg = VirtConfig(xlen=xlen)
    device_specs: list[str] = []
    virtio = VirtioOptions()
    try:
        return _run_with_disks(opts, xlen, prog, cfg, virtio, device_specs)
    finally:
        virtio.close()


def _run_with_disks(opts, xlen, prog, cfg, virtio, device_specs) -> int:
    """The rest of _run; every image `virtio` opened is closed by the caller."""
    from ..machine.riscv.virt import MachineError, VirtMachine

    nographic = False
    serial_specs: list[str] = []
    machine_name = "virt"
    dspec = dpath = None
    backend_name = DEFAULT_BACKEND
    registry = ChardevRegistry()
    monitors: list[tuple[str, str, str]] = []     # (kind, spec or id, mode)
    pidfile = None
    daemonize = False
    gdb_devices: list[str] = []
    # -incoming decides how every image opens (inactive), whatever the order.
    incoming = next((val for name, val in opts if name == "incoming"), None)
    loadvm = next((val for name, val in opts if name == "loadvm"), None)
    virtio.incoming = incoming is not None
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
        elif name == "icount" and val == "off":
            cfg.icount = None            # pyqemu: guest time follows host time
        elif name == "icount":
            kv = parse_keyval(val, "shift", "-icount")
            shift = kv.get("shift", "0")
            if not shift.isdigit() or int(shift) > 10:
                raise OptionError(f"-icount {val}: shift must be a number from 0 to 10 "
                                  "(shift=auto is not supported)")
            cfg.icount = (int(shift), parse_bool(kv.get("sleep", "on"), "-icount sleep"))
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
        elif name == "name":
            cfg.name = val.split(",")[0] if not val.startswith("guest=") else \
                val[len("guest="):].split(",")[0]
        elif name == "chardev":
            parse_chardev(val, registry)
        elif name == "qmp":
            monitors.append(("legacy", val, "control"))
        elif name == "monitor":
            monitors.append(("legacy", val, "readline"))
        elif name == "mon":
            kv = parse_keyval(val, "chardev", "-mon")
            mode = kv.get("mode", "readline")
            if mode not in ("readline", "control"):
                raise OptionError(f"-mon {val}: Parameter 'mode' does not accept value '{mode}'")
            if "chardev" not in kv:
                raise OptionError(f"-mon {val}: Parameter 'chardev' is missing")
            monitors.append(("chardev", kv["chardev"], mode))
        elif name == "S":
            cfg.start_paused = True
        elif name == "no-shutdown":
            cfg.no_shutdown = True
        elif name == "pidfile":
            pidfile = val
        elif name == "s":
            gdb_devices.append("tcp::1234")
        elif name == "gdb":
            gdb_devices.append(val)
        elif name == "daemonize":
            daemonize = True
        elif name == "drive":
            virtio.add_drive(val)
        elif name == "blockdev":
            virtio.add_blockdev(val)
        elif name == "device":
            device_specs.append(val)
        elif name == "global":
            if not virtio.add_global(val):
                raise OptionError(f"can't apply global {val}: Property "
                                  f"'{val.partition('=')[0]}' not found")
        elif name == "tcg-backend":
            if val not in TCG_BACKENDS:
                raise OptionError(f"-tcg-backend {val}: unknown backend (available: "
                                  f"{', '.join(TCG_BACKENDS)})")
            backend_name = val

    # Devices after every -drive/-blockdev/-chardev, whatever the order, as QEMU.
    for spec in device_specs:
        if not virtio.add_device(spec, registry):
            model = spec.split(",")[0]
            if model.startswith("driver="):
                model = model[len("driver="):]
            raise OptionError(f"-device {spec}: '{model}' is not a valid device model name")
    cfg.virtio_devices = virtio.all_devices()
    cfg.virtio_legacy = virtio.legacy
    cfg.backend = make_backend(backend_name)
    cfg.log = Log(dspec, dpath) if (dspec or dpath) else None
    # No graphical display exists: like -nographic, the first serial port is
    # on this terminal (multiplexed with the escape keys) unless -serial says otherwise.
    stdio_monitor = any(kind == "legacy" and spec in ("stdio", "mon:stdio")
                        for kind, spec, _ in monitors)
    serial = serial_specs[0] if serial_specs else ("null" if stdio_monitor else "mon:stdio")
    if nographic and serial == "stdio":
        serial = "mon:stdio"
    if daemonize and (serial.endswith("stdio") or stdio_monitor):
        raise UsageError("-nographic cannot be used with -daemonize")
    chardev = parse_legacy(serial, "serial0", registry, "-serial")
    mon_chardevs = []
    for i, (kind, spec, mode) in enumerate(monitors):
        if kind == "chardev":
            if spec not in registry:
                raise UsageError(f"-mon chardev={spec}: chardev '{spec}' not found")
            mon_chardevs.append((registry[spec], mode))
            continue
        label = "compat_monitor%d" % i
        c = parse_legacy(spec, label, registry, "-qmp" if mode == "control" else "-monitor",
                         server_default=True)
        if c is not None:
            mon_chardevs.append((c, mode))
    if serial.startswith("mon:") and chardev is not None and not any(
            c is chardev for c, _ in mon_chardevs):
        # mon:stdio: the human monitor shares the line (C-a c).
        mon_chardevs.append((chardev, "readline"))
    cfg.serial = chardev
    try:
        machine = VirtMachine(cfg)
    except (MachineError, LoadError) as e:
        for c in registry.values():
            c.close()
        raise UsageError(str(e)) from None
    if machine.dumped_dtb:
        return 0
    if chardev is not None and hasattr(chardev, "on_quit"):
        # C-a x: stop the machine in order, so the terminal is restored.
        chardev.on_quit = lambda: machine.quit(0, ShutdownCause.HOST_UI)

    from ..monitor.server import MonitorHost
    host = MonitorHost(machine, registry)
    if incoming is not None or loadvm is not None:
        _prepare_migration(machine, host, cfg, incoming, loadvm)
    for c, mode in mon_chardevs:
        host.add_monitor(c, mode)
    for dev in gdb_devices:
        try:
            host.add_gdbserver(dev)
        except ValueError as e:
            raise UsageError(f"-gdb {dev}: {e}") from None

    def on_signal(signum, _frame):
        # As QEMU: say so, shut down in order, exit status 0.
        sys.stderr.write(f"{prog}: terminating on signal {signum}\n")
        threading.Thread(target=machine.quit, args=(0, ShutdownCause.HOST_SIGNAL),
                         daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    if daemonize:
        _daemonize()
    if pidfile:
        try:
            # Whole or absent, never empty: written aside, then renamed.
            tmp = f"{pidfile}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, pidfile)
        except OSError as e:
            raise UsageError(f"Could not open PID file '{pidfile}': {e.strerror}") from None
    try:
        return host.run(cfg.start_paused)
    finally:
        machine.close_devices()
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass


def _prepare_migration(machine, host, cfg, incoming, loadvm) -> None:
    """-incoming: wait in inmigrate with the images inactive, listening (or
    for migrate-incoming with 'defer'); the guest runs once the state has
    arrived, unless -S. -loadvm: the snapshot's state before the first
    instruction."""
    from ..migration.migration import MigrationError, migration_of
    from ..migration.savevm import SnapshotError, load_snapshot
    from ..system.runstate import RunState
    if loadvm is not None:
        if incoming is not None:
            raise UsageError("-loadvm and -incoming cannot be used together")
        try:
            load_snapshot(machine, loadvm)
        except SnapshotError as e:
            raise UsageError(str(e)) from None
        return
    mig = migration_of(machine, host.hub.emit)
    machine.runstate.set_state(RunState.INMIGRATE)
    mig.autostart = not cfg.start_paused
    cfg.start_paused = True
    if incoming != "defer":
        try:
            mig.listen(incoming)
        except MigrationError as e:
            raise UsageError(str(e)) from None


def _daemonize() -> None:
    """Detach as QEMU's -daemonize: fork, new session, stdio on /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


def _main(xlen: int) -> None:
    prog = os.path.basename(sys.argv[0]) or f"pyqemu-system-riscv{xlen}"
    try:
        code = _run(sys.argv[1:], xlen, prog)
    except (OptionError, UsageError, ChardevError, LogError, VirtioOptionError) as e:
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


if __name__ == "__main__":          # python -m pyqemu.cli.system: the rv64 emulator
    main_riscv64()
