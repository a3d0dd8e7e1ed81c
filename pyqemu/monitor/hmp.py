"""HMP, the human monitor: QEMU's command names, arguments and output texts
(QEMU 7.2, measured against qemu-system-riscv64's monitor).

`HMP.execute(line)` returns the text (lines end "\\r\\n", as QEMU's monitor
writes them); it serves both the HMP consoles and QMP's
human-monitor-command. State that touches the harts or memory is read on
the vCPU thread (`runner.run_on_vcpu`).
"""

from __future__ import annotations

import re
import shlex

from .. import QEMU_COMPAT_VERSION, __version__
from ..system.runstate import RunState
from .errors import QMPError
from .memory import MemoryAccessError, read_physical, read_virtual
from .migration import MigrationHMP

BANNER = "QEMU {v} monitor - type 'help' for more information\r\n"
PROMPT = "(qemu) "

_ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
        "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        "t3", "t4", "t5", "t6"]
_FABI = ["ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1",
         "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
         "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"]

COMMANDS = [
    ("c|cont", "", "resume emulation"),
    ("gdbserver", "[device]", "start gdbserver on given device (default 'tcp::1234'), stop with 'none'"),
    ("help|?", "[cmd]", "show the help"),
    ("info", "[subcommand]", "show various information about the system state"),
    ("delvm", "tag", "delete a VM snapshot from its tag"),
    ("loadvm", "tag", "restore a VM snapshot from its tag"),
    ("log", "item1[,...]", "activate logging of the specified items"),
    ("migrate", "[-d] uri", "migrate to URI (using -d to not wait for completion)"),
    ("migrate_cancel", "", "cancel the current VM migration"),
    ("memsave", "addr size file", "save to disk virtual memory dump starting at 'addr' of size 'size'"),
    ("pmemsave", "addr size file", "save to disk physical memory dump starting at 'addr' of size 'size'"),
    ("q|quit", "", "quit the emulator"),
    ("savevm", "[tag]", "save a VM snapshot. If no tag is provided, a new snapshot is created"),
    ("stop", "", "stop emulation"),
    ("system_powerdown", "", "send system power down event"),
    ("system_reset", "", "reset the system"),
    ("x", "/fmt addr", "virtual memory dump starting at 'addr'"),
    ("xp", "/fmt addr", "physical memory dump starting at 'addr'"),
]
INFO = [
    ("block", "", "show info of one block device or all block devices"),
    ("chardev", "", "show the character devices"),
    ("cpus", "", "show infos for each CPU"),
    ("kvm", "", "show KVM information"),
    ("migrate", "", "show migration status"),
    ("mtree", "", "show memory tree"),
    ("name", "", "show the current VM name"),
    ("qtree", "", "show device tree"),
    ("registers", "[-a|vcpu]", "show the cpu registers (-a: show register info for all cpus; "
     "vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)"),
    ("roms", "", "show roms"),
    ("snapshots", "", "show the currently saved VM snapshots"),
    ("status", "", "show the current VM status (running|paused)"),
    ("uuid", "", "show the current VM UUID"),
    ("version", "", "show the version of QEMU"),
]


# `info registers`: QEMU's riscv_cpu_dump_state layout (" %-8s %016x"),
# the CSRs of a hart without the H extension.
_DUMP_CSRS = ("mhartid", "mstatus", "mip", "mie", "mideleg", "medeleg", "mtvec", "stvec",
              "mepc", "sepc", "mcause", "scause", "mtval", "stval", "mscratch", "sscratch",
              "satp")


def format_registers(cpu) -> str:
    if hasattr(cpu, "dump_registers"):     # a board's own CPU (x86 under KVM) formats itself
        return cpu.dump_registers()
    w = 16 if cpu.xlen == 64 else 8
    lines = [f"\nCPU#{cpu.hart_id}", f" {'pc':<8} {cpu.pc:0{w}x}"]
    for name in _DUMP_CSRS:
        if name == "mhartid":
            value = cpu.hart_id
        elif name == "mstatus":
            value = cpu.read_mstatus()
        else:
            value = getattr(cpu, name)
        lines.append(f" {name:<8} {value:0{w}x}")
    for bank, names, base in (("x", _ABI, 0), ("f", _FABI, 32)):
        for row in range(8):
            cells = []
            for i in range(row * 4, row * 4 + 4):
                label = f"{bank}{i}/{names[i]}"
                value = cpu.r[base + i]
                cells.append(f" {label:<8} {value:0{16 if bank == 'f' else w}x}")
            lines.append("".join(cells))
    return "\n".join(lines) + "\n"


class HMPError(Exception):
    """A command's one-line complaint, printed as the answer."""


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class HMP(MigrationHMP):
    def __init__(self, dispatcher):
        self.d = dispatcher
        self.cpu_index = 0
        # `x` remembers the last format, size and count, as QEMU does.
        self._last_fmt, self._last_size, self._last_count = "x", 4, 1

    @property
    def machine(self):
        return self.d.machine

    def _vcpu(self, fn):
        return self.d.blocking(self.machine.runner.run_on_vcpu, fn)

    async def execute(self, line: str) -> str:
        line = line.strip()
        if not line:
            return ""
        name, _, rest = line.partition(" ")
        fmt = ""
        if "/" in name:
            name, _, fmt = name.partition("/")
        handler = {
            "help": self.help, "?": self.help, "info": self.info, "stop": self.stop,
            "c": self.cont, "cont": self.cont, "system_reset": self.system_reset,
            "system_powerdown": self.system_powerdown, "q": self.quit, "quit": self.quit,
            "x": self.x, "xp": self.xp, "memsave": self.memsave, "pmemsave": self.pmemsave,
            "log": self.log, "gdbserver": self.gdbserver,
            "migrate": self.migrate, "migrate_cancel": self.migrate_cancel,
            "savevm": self.savevm, "loadvm": self.loadvm, "delvm": self.delvm,
        }.get(name)
        if handler is None:
            return f"unknown command: '{name}'\r\n"
        try:
            if name in ("x", "xp"):
                out = await handler(fmt, rest.strip())
            else:
                out = await handler(rest.strip())
        except HMPError as e:
            out = str(e) + "\n"
        except QMPError as e:
            out = f"Error: {e.desc}\n"
        return _crlf(out)

    # -- help ---------------------------------------------------------------------------
    async def help(self, arg: str) -> str:
        if arg == "info":
            return "".join(f"info {n} {a} -- {h}\n" for n, a, h in INFO)
        lines = []
        for names, args, text in COMMANDS:
            if arg and arg not in names.split("|"):
                continue
            lines.append(f"{names} {args} -- {text}\n")
        if arg and not lines:
            raise HMPError(f"unknown command: '{arg}'")
        return "".join(lines)

    # -- info ---------------------------------------------------------------------------
    async def info(self, arg: str) -> str:
        sub, _, rest = arg.partition(" ")
        m = self.machine
        if not sub:
            return await self.help("info")
        if sub == "status":
            state = m.runstate.state
            if state is RunState.RUNNING:
                return "VM status: running\n"
            if state is RunState.PAUSED:
                return "VM status: paused\n"
            return f"VM status: paused ({state.value})\n"
        if sub == "version":
            major, minor, micro = QEMU_COMPAT_VERSION
            return f"{major}.{minor}.{micro} (pyqemu {__version__})\n"
        if sub == "name":
            return f"{m.cfg.name}\n" if m.cfg.name else ""
        if sub == "uuid":
            return "00000000-0000-0000-0000-000000000000\n"
        if sub == "kvm":
            info = getattr(m, "kvm_info", None)
            if info and info()["enabled"]:
                return "kvm support: enabled\n"
            return "kvm support: not compiled\n"
        if sub == "cpus":
            cpus = await self.d.qmp_query_cpus_fast()
            return "".join(f"{'*' if c['cpu-index'] == self.cpu_index else ' '} CPU "
                           f"#{c['cpu-index']}: thread_id={c['thread-id']}\n" for c in cpus)
        if sub == "chardev":
            return "".join(f"{label}: filename={fn}\n" for label, fn, _ in self.d.chardev_info())
        if sub == "registers":
            return await self._registers(rest.strip())
        if sub == "block":
            return await self._vcpu(self.d.block.info_block)
        if sub == "mtree":
            return self._mtree()
        if sub == "qtree":
            return self._qtree()
        if sub == "roms":
            return self._roms()
        if sub == "migrate":
            return await self.info_migrate()
        if sub == "snapshots":
            return await self.info_snapshots()
        return f"unknown command: 'info {sub}'\n"

    async def _registers(self, arg: str) -> str:
        harts = self.machine.harts
        if arg == "-a":
            chosen = harts
        elif arg:
            try:
                chosen = [harts[int(arg, 0)]]
            except (ValueError, IndexError):
                raise HMPError(f"CPU#{arg} not available") from None
        else:
            chosen = [harts[self.cpu_index]]

        def dump():
            return "".join(format_registers(h) for h in chosen)
        return await self._vcpu(dump)

    def _mtree(self) -> str:
        m = self.machine
        end = (1 << 64) - 1 if m.cfg.xlen == 64 else (1 << 32) - 1
        w = 16 if m.cfg.xlen == 64 else 8
        lines = ["address-space: memory",
                 f"  {0:0{w}x}-{end:0{w}x} (prio 0, i/o): system"]
        for mp in m.bus.mappings:
            r = mp.region
            kind = "rom" if getattr(r, "readonly", False) else (
                "ram" if hasattr(r, "view") else "i/o")
            lines.append(f"    {mp.base:0{w}x}-{mp.end - 1:0{w}x} (prio 0, {kind}): {r.name}")
        return "\n".join(lines) + "\n\n"

    def _qtree(self) -> str:
        from .qom import device_list
        lines = ["bus: main-system-bus", "  type System"]
        for typename, addr, size in device_list(self.machine):
            lines.append(f"  dev: {typename}, id \"\"")
            lines.append(f"    mmio {addr:016x}/{size:016x}")
        return "\n".join(lines) + "\n"

    def _roms(self) -> str:
        m = self.machine
        return (f"addr={0x1000:016x} size=0x{0x28 + 6 * 8:06x} mem=rom name=\"mrom.reset\"\n"
                f"addr={m.fdt_addr:016x} size=0x{len(m.dtb):06x} mem=ram name=\"fdt\"\n")

    # -- life cycle -----------------------------------------------------------------------
    async def stop(self, arg: str) -> str:
        await self.d.qmp_stop()
        return ""

    async def cont(self, arg: str) -> str:
        await self.d.qmp_cont()
        return ""

    async def system_reset(self, arg: str) -> str:
        await self.d.qmp_system_reset()
        return ""

    async def system_powerdown(self, arg: str) -> str:
        await self.d.qmp_system_powerdown()
        return ""

    async def quit(self, arg: str) -> str:
        await self.d.qmp_quit()
        return ""

    async def log(self, arg: str) -> str:
        from ..system.log import CATEGORIES, Log
        if not arg:
            raise HMPError("Parameter 'items' is missing")
        items = set() if arg == "none" else set(arg.split(","))
        if items - set(CATEGORIES):
            return "Log items (comma separated):\n" + "".join(
                f"{k:<12} {v}\n" for k, v in CATEGORIES.items())
        machine = self.machine

        def apply():
            # Like -d at startup: to stderr (or the -D file); harts and the
            # run loop look at the log on every block.
            log = machine.cfg.log
            if log is None:
                log = machine.cfg.log = Log(None, None)
            log.mask = set(items)
            for h in machine.harts:
                h.log = log
            machine.runner.log = log
        await self._vcpu(apply)
        return ""

    async def gdbserver(self, arg: str) -> str:
        device = arg or "tcp::1234"
        try:
            self.d.start_gdbserver(device)
        except ValueError as e:        # GdbServerError: the device cannot be opened
            return f"{e}\nCould not open gdbserver on device '{device}'\n"
        if device == "none":
            return "Disabled gdbserver\n"
        return f"Waiting for gdb connection on device '{device}'\n"

    # -- memory -------------------------------------------------------------------------------
    async def memsave(self, arg: str) -> str:
        addr, size, filename = self._three(arg, "memsave")
        await self.d.qmp_memsave(addr, size, filename)
        return ""

    async def pmemsave(self, arg: str) -> str:
        addr, size, filename = self._three(arg, "pmemsave")
        await self.d.qmp_pmemsave(addr, size, filename)
        return ""

    def _three(self, arg: str, cmd: str):
        try:
            parts = shlex.split(arg)
        except ValueError:
            parts = []
        if len(parts) != 3:
            raise HMPError(f"{cmd}: expects addr size file\nTry \"help {cmd}\" for more information")
        cpu = self.machine.harts[self.cpu_index]
        return self._eval(parts[0], cpu), self._eval(parts[1], cpu), parts[2]

    def _eval(self, expr: str, cpu) -> int:
        """Numbers (C syntax), $registers, + and -."""
        total = 0
        for sign, term in re.findall(r"([+-]?)\s*([^+\-\s]+)", expr.replace(" ", "")):
            if term.startswith("$"):
                value = self._register(term[1:], cpu)
            else:
                try:
                    value = int(term, 0)
                except ValueError:
                    raise HMPError(f"invalid char '{term[0]}' in expression") from None
            total = total - value if sign == "-" else total + value
        if not expr.strip():
            raise HMPError("invalid char in expression")
        return total & ((1 << 64) - 1)

    @staticmethod
    def _register(name: str, cpu) -> int:
        if name == "pc":
            return cpu.pc
        if name in _ABI:
            return cpu.r[_ABI.index(name)]
        if name == "fp":
            return cpu.r[8]
        m = re.fullmatch(r"([xf])(\d+)", name)
        if m and int(m.group(2)) < 32:
            return cpu.r[int(m.group(2)) + (32 if m.group(1) == "f" else 0)]
        if name in _FABI:
            return cpu.r[32 + _FABI.index(name)]
        for csr in ("mstatus", "mepc", "sepc", "mtvec", "stvec", "mcause", "scause", "mtval",
                    "stval", "satp", "mie", "mip"):
            if name == csr:
                return cpu.read_mstatus() if csr == "mstatus" else getattr(cpu, csr)
        raise HMPError("unknown register")

    async def x(self, fmt: str, arg: str) -> str:
        return await self._dump(fmt, arg, physical=False)

    async def xp(self, fmt: str, arg: str) -> str:
        return await self._dump(fmt, arg, physical=True)

    def _parse_fmt(self, fmt: str):
        m = re.fullmatch(r"(\d*)([xduoci]?)([bhwg]?)([xduoci]?)", fmt)
        if m is None:
            bad = next((ch for ch in fmt if ch not in "0123456789xduocibhwg"), fmt[-1:])
            raise HMPError(f"invalid char in format: '{bad}'\n"
                           "Try \"help x\" for more information")
        count = int(m.group(1)) if m.group(1) else 1
        letter = m.group(2) or m.group(4) or self._last_fmt
        size = {"b": 1, "h": 2, "w": 4, "g": 8}.get(m.group(3))
        if size is None:
            size = self._last_size
        self._last_fmt, self._last_size, self._last_count = letter, size, count
        return count, letter, size

    async def _dump(self, fmt: str, arg: str, physical: bool) -> str:
        count, letter, size = self._parse_fmt(fmt)
        if not arg:
            raise HMPError("address is missing")
        machine = self.machine
        cpu = machine.harts[self.cpu_index]

        def work():
            addr = self._eval(arg, cpu)
            if letter == "i":
                return self._disassemble(cpu, addr, count, physical)
            return self._format_units(cpu, addr, count, letter, size, physical)
        return await self._vcpu(work)

    def _read(self, cpu, addr: int, n: int, physical: bool) -> bytes:
        if physical:
            return read_physical(cpu.bus, addr, n)
        return read_virtual(cpu, addr, n)

    def _format_units(self, cpu, addr, count, letter, size, physical) -> str:
        line_size = 8 if size == 1 else 16
        width = 16 if physical or cpu.xlen == 64 else 8
        out = []
        total = count * size
        if letter == "c":
            size = 1        # QEMU: the units' bytes, one character each
        pos = 0
        while pos < total:
            line = f"{addr + pos:0{width}x}:"
            n = min(line_size, total - pos)
            try:
                data = self._read(cpu, addr + pos, n, physical)
            except MemoryAccessError:
                out.append(line + " Cannot access memory\n")
                break
            for i in range(0, n, size):
                v = int.from_bytes(data[i:i + size], "little")
                line += " " + self._unit(v, letter, size)
            out.append(line + "\n")
            pos += n
        return "".join(out)

    @staticmethod
    def _unit(v: int, letter: str, size: int) -> str:
        bits = size * 8
        if letter == "x":
            return f"0x{v:0{bits // 4}x}"
        if letter == "o":
            # C's "%#*o": a leading 0 unless the value is 0, right-aligned
            return (f"0{v:o}" if v else "0").rjust((bits + 2) // 3)
        if letter in ("d", "i"):
            if v >> (bits - 1):
                v -= 1 << bits
            return f"{v:{(bits * 10 + 32) // 33}d}"
        if letter == "u":
            return f"{v:{(bits * 10 + 32) // 33}d}"
        if letter == "t":
            return f"{v:0{bits}b}"
        if letter == "c":
            ch = chr(v)
            return f"'{ch}'" if 32 <= v < 127 else f"'\\x{v:02x}'"
        if letter == "a":
            return f"0x{v:016x}"
        return f"0x{v:x}"

    def _disassemble(self, cpu, addr, count, physical) -> str:
        import capstone
        mode = capstone.CS_MODE_RISCV64 if cpu.xlen == 64 else capstone.CS_MODE_RISCV32
        md = capstone.Cs(capstone.CS_ARCH_RISCV, mode | capstone.CS_MODE_RISCVC)
        out = []
        for _ in range(count):
            try:
                low = self._read(cpu, addr, 2, physical)
                length = 4 if low[0] & 3 == 3 else 2
                raw = self._read(cpu, addr, length, physical)
            except MemoryAccessError:
                out.append(f"0x{addr:016x}:  Cannot access memory\n")
                break
            word = int.from_bytes(raw, "little")
            hexw = f"{word:08x}" if length == 4 else f"{word:04x}"
            text = ""
            for ins in md.disasm(raw, addr):
                text = f"{ins.mnemonic:<24}{ins.op_str}".rstrip()
                break
            out.append(f"0x{addr:016x}:  {hexw:<18}{text or 'illegal'}\n")
            addr += length
        return "".join(out)
