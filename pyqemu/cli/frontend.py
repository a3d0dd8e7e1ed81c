"""What every pyqemu system emulator's command line shares, whatever the board.

A board's front end (cli/system.py for RISC-V `virt`, cli/system_x86.py for
`microvm` under KVM) declares its option table from `common_specs()` plus its
own options, lets `CommandLine.take` parse the common ones, and hands the
machine it built to `CommandLine.run`, which connects the serial port and the
monitors, serves migration and gdb, handles signals, -daemonize and -pidfile,
and runs the machine until it exits.

Nothing here imports a board, an accelerator or the monitor: the monitor and
its asyncio loop are imported only when a monitor, a gdbserver or a socket
chardev needs them (they are most of start-up's cost).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

from .. import QEMU_COMPAT_VERSION, __version__
from ..chardev.base import ChardevError
from ..chardev.options import ChardevRegistry, parse_chardev, parse_legacy
from ..hw.virtio.options import VirtioOptionError, VirtioOptions
from ..system.log import Log, LogError, help_text as log_help
from ..system.runstate import ShutdownCause
from .options import OptionError, OptionSpec, parse_keyval, parse_size


class UsageError(Exception):
    """A command line that parses but cannot be run: one line for the user."""


def common_specs(*, kernel_help: str, drive_metavar: str, blockdev_metavar: str,
                 device_help: str) -> dict[str, OptionSpec]:
    """The options both emulators take, by name (a board orders them in its table)."""
    specs = [
        OptionSpec("h", False, "display this help and exit", aliases=("help",)),
        OptionSpec("version", False, "display version information and exit"),
        OptionSpec("m", True, "configure guest RAM", "[size=]megs[,slots=n,maxmem=size]"),
        OptionSpec("smp", True, "set the number of CPUs", "[cpus=]n"),
        OptionSpec("kernel", True, kernel_help, "bzImage"),
        OptionSpec("initrd", True, "use 'file' as initial ram disk", "file"),
        OptionSpec("append", True, "use 'cmdline' as kernel command line", "cmdline"),
        OptionSpec("nographic", False, "disable graphical output and redirect serial I/Os to console"),
        OptionSpec("serial", True, "redirect the serial port to char device 'dev'", "dev"),
        OptionSpec("display", True, "select display backend type", "none"),
        OptionSpec("no-reboot", False, "exit instead of rebooting"),
        OptionSpec("no-shutdown", False, "stop before shutdown"),
        OptionSpec("d", True, "enable logging of specified items (use '-d help' for a list of "
                   "log items)", "item1,..."),
        OptionSpec("D", True, "output log to logfile (default stderr)", "logfile"),
        OptionSpec("name", True, "set the name of the guest", "string"),
        OptionSpec("chardev", True, "create a character device (stdio, socket, file, pty, null, "
                   "ringbuf)", "backend,id=id[,...]"),
        OptionSpec("qmp", True, "like -monitor but opens in 'control' mode", "dev"),
        OptionSpec("monitor", True, "redirect the monitor to char device 'dev'", "dev"),
        OptionSpec("mon", True, "use a chardev as a monitor", "[chardev=]name[,mode=readline|control]"),
        OptionSpec("S", False, "freeze CPU at startup (use 'c' to start execution)"),
        OptionSpec("pidfile", True, "write PID to 'file'", "file"),
        OptionSpec("daemonize", False, "daemonize QEMU after initializing"),
        OptionSpec("drive", True, "define a new drive", drive_metavar),
        OptionSpec("blockdev", True, "define a new block driver node", blockdev_metavar),
        OptionSpec("device", True, device_help, "driver[,prop=value][,...]"),
        OptionSpec("global", True, "set a default for a driver property", "driver.prop=value"),
        OptionSpec("incoming", True, "prepare for incoming migration, listen on a given tcp, unix, "
                   "exec, fd or file URI, or wait for migrate-incoming with 'defer'", "uri"),
        OptionSpec("loadvm", True, "start right away with a saved state (loadvm in monitor)", "tag"),
        OptionSpec("s", False, "shorthand for -gdb tcp::1234"),
        OptionSpec("gdb", True, "accept gdb connection on 'dev'", "dev"),
    ]
    return {s.name: s for s in specs}


def usage(prog: str, specs: list[OptionSpec]) -> str:
    lines = [f"pyqemu {__version__} (QEMU {'.'.join(map(str, QEMU_COMPAT_VERSION))} compatible "
             "command line)", f"usage: {prog} [options]", ""]
    for s in specs:
        opt = f"-{s.name}" + (f" {s.metavar}" if s.metavar else "")
        lines.append(f"{opt:<40} {s.help}")
    return "\n".join(lines) + "\n"


def list_machines(machines: list[tuple[str, str, bool]]) -> None:
    """-machine help: (name, description, default) per board; ends the run."""
    sys.stdout.write("Supported machines are:\n" + "".join(
        f"{n:<20} {d}{' (default)' if dflt else ''}\n" for n, d, dflt in machines))
    raise Done


def parse_smp(val: str) -> int:
    kv = parse_keyval(val, "cpus", "-smp")
    try:
        n = int(kv.get("cpus", "1"))
    except ValueError:
        raise OptionError(f"-smp {val}: invalid number of CPUs") from None
    if n < 1:
        raise OptionError(f"-smp {val}: invalid number of CPUs")
    return n


class Done(Exception):
    """An informational option (-h, -version, `help` values) printed its answer."""


class CommandLine:
    """The board-independent part of one command line: chardevs, monitors,
    disks and devices, logging, the process options (-daemonize, -pidfile),
    migration and gdb. `cfg` is the board's config (VirtConfig,
    MicrovmConfig): the common options set its common fields."""

    def __init__(self, prog: str, specs: list[OptionSpec], opts: list, cfg, virtio: VirtioOptions):
        self.prog = prog
        self.specs = specs
        self.cfg = cfg
        self.virtio = virtio
        self.registry = ChardevRegistry()
        self.nographic = False
        self.serial_specs: list[str] = []
        self.monitors: list[tuple[str, str, str]] = []     # (kind, spec or chardev id, mode)
        self.device_specs: list[str] = []
        self.gdb_devices: list[str] = []
        self.dspec: str | None = None
        self.dpath: str | None = None
        self.pidfile: str | None = None
        self.daemonize = False
        # -incoming decides how every image opens (inactive), whatever the order.
        self.incoming = next((val for name, val in opts if name == "incoming"), None)
        self.loadvm = next((val for name, val in opts if name == "loadvm"), None)
        if self.incoming is not None and self.loadvm is not None:
            raise UsageError("-loadvm and -incoming cannot be used together")
        virtio.incoming = self.incoming is not None

    def take(self, name: str, val: str | None) -> bool:
        """Parse a common option; False for one the board must handle.
        Raises Done after printing the answer of an informational option."""
        cfg, virtio = self.cfg, self.virtio
        if name == "h":
            sys.stdout.write(usage(self.prog, self.specs))
            raise Done
        if name == "version":
            maj, mnr, mic = QEMU_COMPAT_VERSION
            sys.stdout.write(f"{self.prog} version {maj}.{mnr}.{mic} (pyqemu {__version__})\n"
                             "Copyright (c) the pyqemu developers\n")
            raise Done
        if name == "m":
            kv = parse_keyval(val, "size", "-m")
            cfg.ram_size = parse_size(kv.get("size", "128"), "m", "-m")
        elif name == "smp":
            cfg.smp = parse_smp(val)
        elif name in ("kernel", "initrd", "append"):
            setattr(cfg, name, val)
        elif name == "nographic":
            self.nographic = True
        elif name == "serial":
            self.serial_specs.append(val)
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
                raise Done
            self.dspec = val
        elif name == "D":
            self.dpath = val
        elif name == "name":
            cfg.name = val[len("guest="):].split(",")[0] if val.startswith("guest=") else val.split(",")[0]
        elif name == "chardev":
            parse_chardev(val, self.registry)
        elif name == "qmp":
            self.monitors.append(("legacy", val, "control"))
        elif name == "monitor":
            self.monitors.append(("legacy", val, "readline"))
        elif name == "mon":
            kv = parse_keyval(val, "chardev", "-mon")
            mode = kv.get("mode", "readline")
            if mode not in ("readline", "control"):
                raise OptionError(f"-mon {val}: Parameter 'mode' does not accept value '{mode}'")
            if "chardev" not in kv:
                raise OptionError(f"-mon {val}: Parameter 'chardev' is missing")
            self.monitors.append(("chardev", kv["chardev"], mode))
        elif name == "S":
            cfg.start_paused = True
        elif name == "pidfile":
            self.pidfile = val
        elif name == "daemonize":
            self.daemonize = True
        elif name == "drive":
            virtio.add_drive(val)
        elif name == "blockdev":
            virtio.add_blockdev(val)
        elif name == "device":
            self.device_specs.append(val)
        elif name == "global":
            if not virtio.add_global(val):
                raise OptionError(f"can't apply global {val}: Property "
                                  f"'{val.partition('=')[0]}' not found")
        elif name == "s":
            self.gdb_devices.append("tcp::1234")
        elif name == "gdb":
            self.gdb_devices.append(val)
        elif name in ("incoming", "loadvm"):
            pass                                  # taken in __init__
        else:
            return False
        return True

    def add_devices(self, board_device: Callable[[str], bool] = lambda spec: False) -> None:
        """-device after every -drive/-blockdev/-chardev, whatever the order, as
        QEMU; `board_device` takes the board's own devices (isa-debug-exit)."""
        for spec in self.device_specs:
            if board_device(spec):
                continue
            if not self.virtio.add_device(spec, self.registry):
                model = parse_keyval(spec, "driver", "-device").get("driver", spec)
                raise OptionError(f"-device {spec}: '{model}' is not a valid device model name")
        self.cfg.virtio_devices = self.virtio.all_devices()
        self.cfg.virtio_legacy = self.virtio.legacy
        self.cfg.log = Log(self.dspec, self.dpath) if (self.dspec or self.dpath) else None

    def connect_serial(self) -> None:
        """The serial port's chardev in cfg.serial, and the monitors' chardevs.
        No graphical display exists: like -nographic, the first serial port is
        on this terminal (multiplexed with the monitor's escape keys) unless
        -serial says otherwise."""
        stdio_monitor = any(kind == "legacy" and spec in ("stdio", "mon:stdio")
                            for kind, spec, _ in self.monitors)
        serial = self.serial_specs[0] if self.serial_specs else ("null" if stdio_monitor else "mon:stdio")
        if self.nographic and serial == "stdio":
            serial = "mon:stdio"
        if self.daemonize and (serial.endswith("stdio") or stdio_monitor):
            raise UsageError("-nographic cannot be used with -daemonize")
        chardev = parse_legacy(serial, "serial0", self.registry, "-serial")
        self.mon_chardevs = []
        for i, (kind, spec, mode) in enumerate(self.monitors):
            if kind == "chardev":
                if spec not in self.registry:
                    raise UsageError(f"-mon chardev={spec}: chardev '{spec}' not found")
                self.mon_chardevs.append((self.registry[spec], mode))
                continue
            c = parse_legacy(spec, f"compat_monitor{i}", self.registry,
                             "-qmp" if mode == "control" else "-monitor", server_default=True)
            if c is not None:
                self.mon_chardevs.append((c, mode))
        if serial.startswith("mon:") and chardev is not None and not any(
                c is chardev for c, _ in self.mon_chardevs):
            # mon:stdio: the human monitor shares the line (C-a c).
            self.mon_chardevs.append((chardev, "readline"))
        self.cfg.serial = chardev

    def build(self, make_machine: Callable, errors: tuple[type[Exception], ...]):
        """The machine from cfg; a board error becomes one line, chardevs closed."""
        try:
            return make_machine(self.cfg)
        except errors as e:
            for c in self.registry.values():
                c.close()
            raise UsageError(str(e)) from None

    # -- running ------------------------------------------------------------------------
    def run(self, machine) -> int:
        """Serve the machine until it exits; its exit status."""
        chardev = self.cfg.serial
        if chardev is not None and hasattr(chardev, "on_quit"):
            # C-a x: stop the machine in order, so the terminal is restored.
            chardev.on_quit = lambda: machine.quit(0, ShutdownCause.HOST_UI)
        host = None
        if self._needs_main_loop():
            from ..monitor.server import MonitorHost
            host = MonitorHost(machine, self.registry)
            for c, mode in self.mon_chardevs:
                host.add_monitor(c, mode)
            for dev in self.gdb_devices:
                try:
                    host.add_gdbserver(dev)
                except ValueError as e:
                    raise UsageError(f"-gdb {dev}: {e}") from None
        if self.incoming is not None or self.loadvm is not None:
            self._prepare_migration(machine, host)

        prog = self.prog

        def on_signal(signum, _frame):
            # As QEMU: say so, shut down in order, exit status 0.
            sys.stderr.write(f"{prog}: terminating on signal {signum}\n")
            threading.Thread(target=machine.quit, args=(0, ShutdownCause.HOST_SIGNAL),
                             daemon=True).start()

        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, on_signal)
        if self.daemonize:
            _daemonize()
        if self.pidfile:
            self._write_pidfile()
        try:
            if host is not None:
                return host.run(self.cfg.start_paused)
            return self._run_without_monitor(machine)
        finally:
            machine.close_devices()
            if self.pidfile:
                try:
                    os.unlink(self.pidfile)
                except OSError:
                    pass

    def _needs_main_loop(self) -> bool:
        """A monitor, a gdbserver, or a chardev served by the asyncio loop (a socket)."""
        if self.mon_chardevs or self.gdb_devices:
            return True
        socket_backends = sys.modules.get("pyqemu.chardev.socket")   # imported only if one was made
        return socket_backends is not None and any(isinstance(c, socket_backends.LoopChardev)
                                                   for c in self.registry.values())

    def _run_without_monitor(self, machine) -> int:
        """What MonitorHost.run does when there is nothing for its loop to serve:
        start the vCPUs, wait on the main thread (signal handlers run here) until
        the machine asks to exit, stop it and close the chardevs."""
        try:
            machine.start_vcpus(paused=self.cfg.start_paused)
            while not machine.wait(0.5):
                pass
            return machine.finish()
        finally:
            for c in self.registry.values():
                c.close()

    def _prepare_migration(self, machine, host) -> None:
        """-incoming: wait in inmigrate with the images inactive, listening (or
        for migrate-incoming with 'defer'); the guest runs once the state has
        arrived, unless -S. -loadvm: the snapshot's state before the first
        instruction (docs/migration.md)."""
        from ..migration.migration import MigrationError, migration_of
        from ..migration.savevm import SnapshotError, load_snapshot
        from ..system.runstate import RunState
        if self.loadvm is not None:
            try:
                load_snapshot(machine, self.loadvm)
            except SnapshotError as e:
                raise UsageError(str(e)) from None
            return
        mig = migration_of(machine, host.hub.emit if host is not None else None)
        machine.runstate.set_state(RunState.INMIGRATE)
        mig.autostart = not self.cfg.start_paused
        self.cfg.start_paused = True
        if self.incoming != "defer":
            try:
                mig.listen(self.incoming)
            except MigrationError as e:
                raise UsageError(str(e)) from None

    def _write_pidfile(self) -> None:
        try:
            # Whole or absent, never empty: written aside, then renamed.
            tmp = f"{self.pidfile}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, self.pidfile)
        except OSError as e:
            raise UsageError(f"Could not open PID file '{self.pidfile}': {e.strerror}") from None


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


def main(run: Callable[[list[str], str], int], default_prog: str) -> None:
    """The process around a front end: errors as one line and exit status 1."""
    prog = os.path.basename(sys.argv[0]) or default_prog
    try:
        code = run(sys.argv[1:], prog)
    except Done:
        code = 0
    except (OptionError, UsageError, ChardevError, LogError, VirtioOptionError) as e:
        sys.stderr.write(f"{prog}: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.stdout.flush()
    os._exit(code)   # reader threads blocked on stdin must not hold the process
