"""pyqemu-riscv64: run a riscv64 Linux program (QEMU's user-mode command line).

    pyqemu-riscv64 [options] program [args...]
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ..accel.tcg.backends import TCG_BACKENDS
from ..linux_user.loader import ElfError
from ..linux_user.process import Options, Process

PROG = "pyqemu-riscv64"
VERSION = "7.2.0"

HELP = f"""usage: {PROG} [options] program [arguments...]
Linux CPU emulator (compiled for riscv64 emulation)

Options and associated environment variables:

Argument             Env-variable      Description
-h                                     print this help
-help
-L path              QEMU_LD_PREFIX    set the elf interpreter prefix to 'path'
-s size              QEMU_STACK_SIZE   set the stack size to 'size' bytes
-cpu model           QEMU_CPU          select CPU (-cpu help for list)
-E var=value         QEMU_SET_ENV      sets targets environment variable (see below)
-U var               QEMU_UNSET_ENV    unsets targets environment variable (see below)
-0 argv0             QEMU_ARGV0        forces target process argv[0] to be 'argv0'
-d item[,...]        QEMU_LOG          enable logging of specified items (use '-d help' for a list of items)
-D logfile           QEMU_LOG_FILENAME write logs to 'logfile' (default stderr)
-strace              QEMU_STRACE       log system calls
-tcg-backend name                      pyqemu: translation backend (llvm (default), pycodegen, interp)
-version             QEMU_VERSION      display version information and exit
"""

# option -> (takes an argument, environment variable)
OPTIONS = {
    "h": (False, None), "help": (False, None), "L": (True, "QEMU_LD_PREFIX"),
    "s": (True, "QEMU_STACK_SIZE"), "cpu": (True, "QEMU_CPU"), "E": (True, "QEMU_SET_ENV"),
    "U": (True, "QEMU_UNSET_ENV"), "0": (True, "QEMU_ARGV0"), "d": (True, "QEMU_LOG"),
    "D": (True, "QEMU_LOG_FILENAME"), "strace": (False, "QEMU_STRACE"),
    "version": (False, "QEMU_VERSION"), "tcg-backend": (True, None),
}
CPU_MODELS = ("rv64", "any", "max")


class UsageError(Exception):
    pass


def parse_size(text: str) -> int:
    mult = {"k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}
    try:
        if text and text[-1] in mult:
            return int(text[:-1], 0) * mult[text[-1]]
        return int(text, 0)
    except ValueError:
        raise UsageError(f"Invalid stack size: {text}") from None


def parse(argv: list[str]):
    opts = Options()
    env_changes: list[tuple[str, str | None]] = []
    settings: list[tuple[str, str | None]] = []
    for name, (_arg, var) in OPTIONS.items():
        if var and var in os.environ:
            settings.append((name, os.environ[var]))
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            break
        i += 1
        if a == "--":
            break
        name = a.lstrip("-")
        if name not in OPTIONS:
            raise UsageError(f"unknown option '{name}'" if True else "")
        takes, _ = OPTIONS[name]
        val = None
        if takes:
            if i >= len(argv):
                raise UsageError(f"option '{a}' requires an argument")
            val = argv[i]
            i += 1
        settings.append((name, val))
    show = None
    for name, val in settings:
        if name in ("h", "help"):
            show = "help"
        elif name == "version":
            show = "version"
        elif name == "L":
            # Absolute, so it still holds after the guest changes directory.
            opts.sysroot = os.path.abspath(val) if val else ""
        elif name == "s":
            opts.stack_size = parse_size(val)
        elif name == "cpu":
            if val == "help":
                show = "cpu"
            elif val not in CPU_MODELS:
                raise UsageError(f"unable to find CPU model '{val}'")
            opts.cpu_model = val
        elif name == "E":
            for kv in val.split(","):
                k, _, v = kv.partition("=")
                env_changes.append((k, v))
        elif name == "U":
            for k in val.split(","):
                env_changes.append((k, None))
        elif name == "0":
            opts.argv0 = val
        elif name == "d":
            opts.log_items = val
        elif name == "D":
            opts.log_file = val
        elif name == "strace":
            opts.strace = True
        elif name == "tcg-backend":
            if val not in TCG_BACKENDS:
                raise UsageError(f"-tcg-backend {val}: unknown backend (available: "
                                 f"{', '.join(TCG_BACKENDS)})")
            opts.backend = val
    return opts, env_changes, argv[i:], show


def _original_environment() -> dict[str, str]:
    """The environment this process was started with. Python's own start-up
    may add to os.environ (LC_CTYPE by locale coercion); the guest must not
    see that, so read the block the kernel gave us."""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return dict(os.environ)
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[os.fsdecode(k)] = os.fsdecode(v)
    return env


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, env_changes, rest, show = parse(argv)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(1)
    if show == "help":
        sys.stdout.write(HELP)
        sys.exit(0)
    if show == "version":
        sys.stdout.write(f"{PROG} version {VERSION} (pyqemu)\n")
        sys.exit(0)
    if show == "cpu":
        sys.stdout.write("".join(f"{m}\n" for m in CPU_MODELS))
        sys.exit(0)
    if not rest:
        sys.stderr.write(HELP)
        sys.exit(1)
    env = _original_environment()
    for var in ("QEMU_LD_PREFIX", "QEMU_STRACE", "QEMU_SET_ENV", "QEMU_UNSET_ENV"):
        env.pop(var, None)
    opts.stats_file = env.pop("PYQEMU_STATS_FILE", "")
    for k, v in env_changes:
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    log = None
    if opts.log_items or opts.log_file:
        from ..system.log import Log, LogError
        try:
            log = Log(opts.log_items, opts.log_file or None)
        except LogError as e:
            sys.stderr.write(f"{PROG}: {e}\n")
            sys.exit(1)
    # The guest decides its own signal dispositions; Python's defaults
    # (SIGPIPE ignored, SIGINT as KeyboardInterrupt) must not leak into it.
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    program = rest[0]
    guest_argv = [opts.argv0 if opts.argv0 is not None else program] + rest[1:]
    proc = Process(opts)
    proc.install_kick_handler()
    try:
        t = proc.load(program, guest_argv, [f"{k}={v}" for k, v in env.items()])
    except ElfError as e:
        msg = str(e)
        if msg.startswith("Could not open"):
            sys.stderr.write(f"{PROG}: {msg}\n")
        else:
            sys.stderr.write(f"{PROG}: {program}: {msg}\n")
        sys.exit(1)
    if log is not None:
        for c in proc.cpus():
            c.log = log
    sys.setswitchinterval(0.001)
    threading.excepthook = lambda args: _internal_error(args.exc_value)
    try:
        proc.run(t)
        proc.wait_for_threads()
    except Exception as e:      # an emulator bug: one line, not a traceback
        _internal_error(e)


def _internal_error(exc: BaseException) -> None:
    if os.environ.get("PYQEMU_DEBUG"):
        import traceback
        traceback.print_exception(exc)
    sys.stderr.write(f"{PROG}: internal error: {type(exc).__name__}: {exc}\n")
    sys.stderr.flush()
    os._exit(1)


if __name__ == "__main__":
    main()
