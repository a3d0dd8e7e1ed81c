"""`pyqemu-system-x86_64`: the x86_64 `microvm` board under KVM, with QEMU's
command line. The options common with the RISC-V emulator parse as there
(cli/system.py); what differs is the board, the accelerator and -cpu."""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import QEMU_COMPAT_VERSION, __version__
from ..accel.kvm.cpuid import CpuModelError, parse_cpu_option
from ..chardev.base import ChardevError
from ..chardev.options import ChardevRegistry, parse_chardev, parse_legacy
from ..hw.virtio.options import VirtioOptionError, VirtioOptions
from ..hw.x86.debug_exit import DEFAULT_IOBASE, DEFAULT_IOSIZE
from ..system.log import Log, LogError, help_text as log_help
from ..system.runstate import ShutdownCause
from .options import OptionError, OptionSpec, parse_command_line, parse_keyval, parse_size

SPECS = [
    OptionSpec("h", False, "display this help and exit", aliases=("help",)),
    OptionSpec("version", False, "display version information and exit"),
    OptionSpec("machine", True, "select emulated machine ('-machine help' for list)", "[type=]name[,prop=value...]", ("M",)),
    OptionSpec("cpu", True, "select CPU ('-cpu help' for list)", "host[,-feature...]"),
    OptionSpec("accel", True, "select accelerator ('-accel help' for list)", "kvm"),
    OptionSpec("enable-kvm", False, "enable KVM full virtualization support"),
    OptionSpec("m", True, "configure guest RAM", "[size=]megs"),
    OptionSpec("smp", True, "set the number of CPUs", "[cpus=]n"),
    OptionSpec("kernel", True, "use 'bzImage' as kernel image (bzImage, PVH vmlinux, multiboot or ELF)", "bzImage"),
    OptionSpec("initrd", True, "use 'file' as initial ram disk", "file"),
    OptionSpec("append", True, "use 'cmdline' as kernel command line", "cmdline"),
    OptionSpec("nographic", False, "disable graphical output and redirect serial I/Os to console"),
    OptionSpec("serial", True, "redirect the serial port to char device 'dev'", "dev"),
    OptionSpec("display", True, "select display backend type", "none"),
    OptionSpec("no-reboot", False, "exit instead of rebooting"),
    OptionSpec("no-shutdown", False, "stop before shutdown"),
    OptionSpec("d", True, "enable logging of specified items", "item1,..."),
    OptionSpec("D", True, "output log to logfile (default stderr)", "logfile"),
    OptionSpec("name", True, "set the name of the guest", "string"),
    OptionSpec("chardev", True, "create a character device", "backend,id=id[,...]"),
    OptionSpec("qmp", True, "like -monitor but opens in 'control' mode", "dev"),
    OptionSpec("monitor", True, "redirect the monitor to char device 'dev'", "dev"),
    OptionSpec("mon", True, "use a chardev as a monitor", "[chardev=]name[,mode=readline|control]"),
    OptionSpec("S", False, "freeze CPU at startup (use 'c' to start execution)"),
    OptionSpec("pidfile", True, "write PID to 'file'", "file"),
    OptionSpec("daemonize", False, "daemonize QEMU after initializing"),
    OptionSpec("drive", True, "define a new drive", "file=file,format=raw|qcow2,if=none,id=name"),
    OptionSpec("blockdev", True, "define a new block driver node", "driver=...,node-name=N,..."),
    OptionSpec("device", True, "add a device (isa-debug-exit, virtio-blk-device, virtio-rng-device, "
               "virtio-serial-device, virtconsole)", "driver[,prop=value][,...]"),
    OptionSpec("global", True, "set a default for a driver property", "driver.prop=value"),
    OptionSpec("incoming", True, "prepare for incoming migration, listen on a given tcp, unix, "
               "exec, fd or file URI, or wait for migrate-incoming with 'defer'", "uri"),
    OptionSpec("loadvm", True, "start right away with a saved state (loadvm in monitor)", "tag"),
]

class UsageError(Exception):
    """A command line that parses but cannot be run: one line for the user."""


MACHINES = [("microvm", "microvm (i386), KVM only in pyqemu", True)]
# QEMU's microvm properties; pyqemu's board has the fixed set above, so they
# are accepted (for command lines written for QEMU) and change nothing.
# pyqemu's own: x-decompress-bzimage=on (docs/kvm.md).
MICROVM_PROPS = {"pic", "pit", "rtc", "isa-serial", "acpi", "x-option-roms", "auto-kernel-cmdline",
                 "ioapic2", "pcie", "usb", "graphics", "accel"}


def _usage(prog: str) -> str:
    lines = [f"pyqemu {__version__} (QEMU {'.'.join(map(str, QEMU_COMPAT_VERSION))} compatible command line)",
             f"usage: {prog} [options]", ""]
    for s in SPECS:
        opt = f"-{s.name}" + (f" {s.metavar}" if s.metavar else "")
        lines.append(f"{opt:<40} {s.help}")
    return "\n".join(lines) + "\n"


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
    device_specs: list[str] = []
    serial_specs: list[str] = []
    registry = ChardevRegistry()
    monitors: list[tuple[str, str, str]] = []
    nographic = False
    dspec = dpath = pidfile = None
    daemonize = False
    # -incoming decides how every image opens (inactive), whatever the order.
    incoming = next((val for name, val in opts if name == "incoming"), None)
    loadvm = next((val for name, val in opts if name == "loadvm"), None)
    if incoming is not None and loadvm is not None:
        raise UsageError("-loadvm and -incoming cannot be used together")
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
        elif name == "cpu":
            if val == "help":
                sys.stdout.write("host  KVM processor with all supported host features\n"
                                 "max   same as host\n")
                return 0
            try:
                _model, cfg.cpu_changes = parse_cpu_option(val)
            except CpuModelError as e:
                raise OptionError(str(e)) from None
        elif name == "accel":
            kv = parse_keyval(val, "accel", "-accel")
            accel = kv.get("accel")
            if accel == "help":
                sys.stdout.write("Accelerators supported in QEMU binary:\nkvm\n")
                return 0
            if accel != "kvm":
                raise OptionError(f"-accel {val}: invalid accelerator {accel} for x86_64 "
                                  "(pyqemu runs x86 guests only with kvm)")
        elif name == "enable-kvm":
            pass
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
        elif name == "kernel":
            cfg.kernel = val
        elif name == "initrd":
            cfg.initrd = val
        elif name == "append":
            cfg.append = val
        elif name == "nographic":
            nographic = True
        elif name == "serial":
            serial_specs.append(val)
        elif name == "display":
            if val.split(",")[0] != "none":
                raise OptionError(f"-display {val}: pyqemu has no graphical display; use -display none")
        elif name == "no-reboot":
            cfg.no_reboot = True
        elif name == "no-shutdown":
            cfg.no_shutdown = True
        elif name == "d":
            if val == "help":
                sys.stdout.write("Log items (comma separated):\n" + log_help())
                return 0
            dspec = val
        elif name == "D":
            dpath = val
        elif name == "name":
            cfg.name = val[len("guest="):].split(",")[0] if val.startswith("guest=") else val.split(",")[0]
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
        elif name == "pidfile":
            pidfile = val
        elif name == "daemonize":
            daemonize = True
        elif name == "drive":
            virtio.add_drive(val)
        elif name == "blockdev":
            virtio.add_blockdev(val)
        elif name == "device":
            device_specs.append(val)
        elif name in ("incoming", "loadvm"):
            pass                              # taken above
        elif name == "global":
            if not virtio.add_global(val):
                raise OptionError(f"can't apply global {val}: Property "
                                  f"'{val.partition('=')[0]}' not found")

    for spec in device_specs:
        port = _parse_debug_exit(spec)
        if port is not None:
            cfg.debug_exits.append(port)
        elif not virtio.add_device(spec, registry):
            model = parse_keyval(spec, "driver", "-device").get("driver", spec)
            raise OptionError(f"-device {spec}: '{model}' is not a valid device model name")
    if not cfg.kernel:
        raise UsageError("microvm needs -kernel (pyqemu has no x86 firmware to boot from disk)")
    cfg.virtio_devices = virtio.all_devices()
    cfg.virtio_legacy = virtio.legacy
    cfg.log = Log(dspec, dpath) if (dspec or dpath) else None
    stdio_monitor = any(kind == "legacy" and spec in ("stdio", "mon:stdio") for kind, spec, _ in monitors)
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
        c = parse_legacy(spec, f"compat_monitor{i}", registry,
                         "-qmp" if mode == "control" else "-monitor", server_default=True)
        if c is not None:
            mon_chardevs.append((c, mode))
    if serial.startswith("mon:") and chardev is not None and not any(c is chardev for c, _ in mon_chardevs):
        mon_chardevs.append((chardev, "readline"))
    cfg.serial = chardev
    try:
        machine = MicrovmMachine(cfg)
    except MachineError as e:
        for c in registry.values():
            c.close()
        raise UsageError(str(e)) from None
    if chardev is not None and hasattr(chardev, "on_quit"):
        chardev.on_quit = lambda: machine.quit(0, ShutdownCause.HOST_UI)

    host = None
    if _needs_main_loop(registry, mon_chardevs):
        # The monitor and its asyncio loop are imported only when a monitor
        # or a socket chardev needs them: they are most of start-up's cost.
        from ..monitor.server import MonitorHost
        host = MonitorHost(machine, registry)
        for c, mode in mon_chardevs:
            host.add_monitor(c, mode)

    if incoming is not None or loadvm is not None:
        _prepare_migration(machine, host, cfg, incoming, loadvm)

    def on_signal(signum, _frame):
        sys.stderr.write(f"{prog}: terminating on signal {signum}\n")
        threading.Thread(target=machine.quit, args=(0, ShutdownCause.HOST_SIGNAL), daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    if daemonize:
        from .system import _daemonize      # imported here: it pulls in the TCG backends
        _daemonize()
    if pidfile:
        try:
            tmp = f"{pidfile}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, pidfile)
        except OSError as e:
            raise UsageError(f"Could not open PID file '{pidfile}': {e.strerror}") from None
    try:
        if host is not None:
            return host.run(cfg.start_paused)
        return _run_without_monitor(machine, registry, cfg.start_paused)
    finally:
        machine.close_devices()
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass


def _needs_main_loop(registry: ChardevRegistry, mon_chardevs: list) -> bool:
    """A monitor, or a chardev served by the asyncio loop (a socket)."""
    if mon_chardevs:
        return True
    socket_backends = sys.modules.get("pyqemu.chardev.socket")    # imported only if one was made
    return socket_backends is not None and any(isinstance(c, socket_backends.LoopChardev)
                                               for c in registry.values())


def _run_without_monitor(machine, registry: ChardevRegistry, start_paused: bool) -> int:
    """What MonitorHost.run does when there is nothing for its loop to serve:
    start the vCPUs, wait on the main thread (signal handlers run here) until
    the machine asks to exit, stop it and close the chardevs."""
    try:
        machine.start_vcpus(paused=start_paused)
        while not machine.wait(0.5):
            pass
        return machine.finish()
    finally:
        for c in registry.values():
            c.close()


def _prepare_migration(machine, host, cfg, incoming, loadvm) -> None:
    """-incoming: wait in inmigrate with the images inactive, listening (or
    for migrate-incoming with 'defer'); the guest runs once the state has
    arrived, unless -S. -loadvm: the snapshot's state before the first
    instruction (docs/migration.md)."""
    from ..migration.migration import MigrationError, migration_of
    from ..migration.savevm import SnapshotError, load_snapshot
    from ..system.runstate import RunState
    if loadvm is not None:
        try:
            load_snapshot(machine, loadvm)
        except SnapshotError as e:
            raise UsageError(str(e)) from None
        return
    mig = migration_of(machine, host.hub.emit if host is not None else None)
    machine.runstate.set_state(RunState.INMIGRATE)
    mig.autostart = not cfg.start_paused
    cfg.start_paused = True
    if incoming != "defer":
        try:
            mig.listen(incoming)
        except MigrationError as e:
            raise UsageError(str(e)) from None


def main() -> None:
    prog = os.path.basename(sys.argv[0]) or "pyqemu-system-x86_64"
    try:
        code = _run(sys.argv[1:], prog)
    except (OptionError, UsageError, ChardevError, LogError, VirtioOptionError) as e:
        sys.stderr.write(f"{prog}: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
