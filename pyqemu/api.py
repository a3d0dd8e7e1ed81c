"""pyqemu as a library: build a machine, run it, look inside, hook it.

    from pyqemu.api import Machine

    with Machine(bios="none", kernel="guest.elf") as m:     # or Machine.from_args([...])
        m.on_block(lambda cpu, pc, size: ...)
        m.start()
        m.wait_for_shutdown(timeout=10)
        print(m.cpu().reg("a0"), m.qmp("query-status"))

Keyword options are the command line's (`m="256M"`, `smp=2`, `append=...`,
`serial="file:out.txt"`, `no_reboot=True`, `name=...`, `power_button=True`
for -machine virt,power-button=on). `gdbserver("tcp::1234")` lets GDB in. The machine runs on
its own vCPU thread; QMP and HMP commands run in-process on a private
asyncio loop thread. Hooks run on the vCPU thread, between translated
blocks (TCG): block hooks before each block, instruction hooks before each
instruction of the block about to run (at block granularity: a trap in the
middle of a block means the later instructions were reported but not run),
memory hooks on every guest data access (the softmmu TLB fast path is turned
off for that hart), exception hooks on every trap and interrupt taken.
A hook may call `machine.stop()`: the current block is not run.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Callable

from .chardev.base import ChardevError
from .chardev.options import ChardevRegistry, parse_legacy
from .cli.options import OptionError, parse_bool, parse_command_line, parse_keyval, parse_size
from .monitor.memory import MemoryAccessError, read_physical, read_virtual, virt_to_phys
from .system.runstate import RunState, ShutdownCause

__all__ = ["Machine", "CPU", "MachineError", "QMPCommandError"]

_ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
        "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        "t3", "t4", "t5", "t6"]


class MachineError(Exception):
    """Bad options or images; the message is the command line's."""


class QMPCommandError(Exception):
    def __init__(self, error_class: str, desc: str):
        super().__init__(f"{error_class}: {desc}")
        self.error_class = error_class
        self.desc = desc


class CPU:
    """One hart. Register access runs on the vCPU thread (or while stopped)."""

    def __init__(self, machine: "Machine", hart):
        self._m = machine
        self._hart = hart

    @property
    def index(self) -> int:
        return self._hart.hart_id

    def _on_vcpu(self, fn):
        return self._m._vm.runner.run_on_vcpu(fn)

    @staticmethod
    def _index(name: str | int) -> int:
        if isinstance(name, int):
            if 0 <= name < 64:
                return name
        elif name in _ABI:
            return _ABI.index(name)
        elif name == "fp":
            return 8
        elif name[:1] in "xf" and name[1:].isdigit() and int(name[1:]) < 32:
            return int(name[1:]) + (32 if name[0] == "f" else 0)
        raise KeyError(f"unknown register {name!r}")

    @property
    def pc(self) -> int:
        return self._on_vcpu(lambda: self._hart.pc)

    @pc.setter
    def pc(self, value: int) -> None:
        def set_pc():
            self._hart.pc = value & self._hart.xmask
        self._on_vcpu(set_pc)

    def reg(self, name: str | int) -> int:
        """x0..x31 (or ABI names), f0..f31 (raw bits), 'pc'."""
        if name == "pc":
            return self.pc
        i = self._index(name)
        return self._on_vcpu(lambda: self._hart.r[i])

    def set_reg(self, name: str | int, value: int) -> None:
        if name == "pc":
            self.pc = value
            return
        i = self._index(name)
        if i == 0:
            return          # x0 stays zero

        def write():
            mask = self._hart.xmask if i < 32 else (1 << 64) - 1
            self._hart.r[i] = value & mask
        self._on_vcpu(write)

    def regs(self) -> dict[str, int]:
        return self._on_vcpu(lambda: {"pc": self._hart.pc,
                                      **{_ABI[i]: self._hart.r[i] for i in range(32)}})

    def virt_to_phys(self, va: int) -> int:
        return self._on_vcpu(lambda: virt_to_phys(self._hart, va))


class Machine:
    def __init__(self, xlen: int = 64, backend: str = "interp", **options):
        from .accel.tcg.backends import make_backend
        from .machine.loader import LoadError
        from .machine.riscv.virt import MachineError as VirtError, VirtConfig, VirtMachine
        cfg = VirtConfig(xlen=xlen)
        cfg.bios = "none" if "kernel" in options and "bios" not in options else cfg.bios
        self._registry = ChardevRegistry()
        serial = "null"
        for key, value in options.items():
            key = key.replace("_", "-")
            if key in ("bios", "kernel", "initrd", "append", "dtb", "name"):
                setattr(cfg, key, str(value))
            elif key == "m":
                cfg.ram_size = parse_size(str(value), "m", "-m")
            elif key == "smp":
                cfg.smp = int(value)
            elif key == "serial":
                serial = value
            elif key == "no-reboot":
                cfg.no_reboot = bool(value)
            elif key == "no-shutdown":
                cfg.no_shutdown = bool(value)
            elif key == "S":
                cfg.start_paused = bool(value)
            elif key == "power-button":
                cfg.power_button = bool(value)
            else:
                raise MachineError(f"unknown machine option '{key}'")
        cfg.backend = make_backend(backend)
        try:
            cfg.serial = parse_legacy(serial, "serial0", self._registry, "-serial")
            self._vm = VirtMachine(cfg)
        except (VirtError, LoadError, OptionError, ChardevError) as e:
            raise MachineError(str(e)) from None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatcher = None
        self._session = None
        self._event_callbacks: list[Callable[[dict], None]] = []
        self.events: list[dict] = []
        self._mem_hooks: list = []
        self._exc_hooks: list = []
        self._started = False
        self._setup_monitor()

    @classmethod
    def from_args(cls, argv: list[str], xlen: int = 64) -> "Machine":
        """The command line's options (`-M virt -bios none -kernel x.elf -m 256M ...`)."""
        from .cli.system import SPECS
        opts = {}
        for name, val in parse_command_line(argv, SPECS):
            if name == "machine":
                kv = parse_keyval(val, "type", "-machine")
                if kv.get("type", "virt") != "virt":
                    raise MachineError(f"-machine {val}: only virt is available")
                if "power-button" in kv:
                    try:
                        opts["power_button"] = parse_bool(kv["power-button"],
                                                          "-machine power-button")
                    except OptionError as e:
                        raise MachineError(str(e)) from None
                continue
            if name in ("nographic", "display"):
                continue
            if name == "tcg-backend":
                opts["backend"] = val
                continue
            opts[name] = True if val is None else val
        return cls(xlen=xlen, **opts)

    # -- monitor in-process -----------------------------------------------------------
    def _setup_monitor(self) -> None:
        from .monitor.commands import Dispatcher
        from .monitor.qmp import EventHub, QMPSession
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="pyqemu-api-loop", daemon=True).start()
        self._loop = loop
        hub = EventHub(loop)
        hub.listeners.append(self._on_event)
        self._dispatcher = Dispatcher(self._vm, hub, chardev_info=self._registry.info,
                                      chardevs=self._registry)
        self._vm.runstate.set_emitter(hub.emit)
        self._session = QMPSession(lambda data: None, self._dispatcher, hub)
        self._session.negotiated = True

    def _on_event(self, message: dict) -> None:
        self.events.append(message)
        for fn in list(self._event_callbacks):
            fn(message)

    def on_event(self, callback: Callable[[dict], None]) -> None:
        """`callback(event)` for every QMP event (from the thread emitting it)."""
        self._event_callbacks.append(callback)

    def qmp(self, command: str, **arguments):
        """Run a QMP command in-process; its `return` value, or QMPCommandError."""
        request = {"execute": command}
        if arguments:
            request["arguments"] = {k.replace("_", "-"): v for k, v in arguments.items()}
        future = asyncio.run_coroutine_threadsafe(self._session.handle(request), self._loop)
        response = future.result()
        if "error" in response:
            raise QMPCommandError(response["error"]["class"], response["error"]["desc"])
        return response["return"]

    def hmp(self, command_line: str) -> str:
        return self.qmp("human-monitor-command", command_line=command_line)

    # -- life cycle --------------------------------------------------------------------------
    def start(self, paused: bool = False) -> None:
        """Start the vCPU thread; the guest runs unless `paused`."""
        if self._started:
            raise MachineError("machine already started")
        self._started = True
        self._vm.start_vcpus(paused=paused or self._vm.cfg.start_paused)

    def stop(self) -> None:
        """Pause the guest (safe from a hook)."""
        self._vm.runstate.vm_stop()

    def cont(self) -> None:
        if not self._started:
            self.start()
            return
        self.qmp("cont")

    def reset(self) -> None:
        self._vm.system_reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)

    @property
    def status(self) -> str:
        return self._vm.runstate.state.value

    @property
    def running(self) -> bool:
        return self._vm.runstate.state is RunState.RUNNING

    def wait_for_shutdown(self, timeout: float | None = None) -> int | None:
        """Wait for a guest power-off (or quit); its exit status, None on timeout."""
        if not self._vm.wait(timeout):
            return None
        return self._vm.exit_code if self._vm.exit_code is not None else 0

    def gdbserver(self, device: str = "tcp::1234") -> None:
        """Serve GDB's remote protocol on `device` (`tcp:[HOST]:PORT`, `PORT`,
        `unix:PATH`; 'none' stops it), as HMP `gdbserver`."""
        try:
            asyncio.run_coroutine_threadsafe(self._start_gdb(device), self._loop).result()
        except ValueError as e:
            raise MachineError(str(e)) from None

    async def _start_gdb(self, device: str) -> None:
        self._dispatcher.start_gdbserver(device)

    def close(self) -> None:
        """End the machine and its threads."""
        if self._dispatcher.gdbserver is not None:
            self._dispatcher.gdbserver.close()
        self._vm.finish()
        for backend in list(self._dispatcher.block_nodes.values()):
            backend.flush()
            backend.close()
        self._dispatcher.block_nodes.clear()
        for c in self._registry.values():
            c.close()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state --------------------------------------------------------------------------------
    def cpu(self, index: int = 0) -> CPU:
        return CPU(self, self._vm.harts[index])

    @property
    def cpus(self) -> list[CPU]:
        return [CPU(self, h) for h in self._vm.harts]

    def read_memory(self, addr: int, size: int, physical: bool = True, cpu: int = 0) -> bytes:
        """Guest RAM/ROM (never MMIO); virtual addresses through hart `cpu`'s MMU."""
        vm = self._vm
        hart = vm.harts[cpu]
        fn = (lambda: read_physical(vm.bus, addr, size)) if physical else \
            (lambda: read_virtual(hart, addr, size))
        try:
            return vm.runner.run_on_vcpu(fn)
        except MemoryAccessError as e:
            raise MachineError(str(e)) from None

    def write_memory(self, addr: int, data: bytes, physical: bool = True, cpu: int = 0) -> None:
        vm = self._vm
        hart = vm.harts[cpu]

        def write():
            pa = addr if physical else virt_to_phys(hart, addr)
            vm.bus.write_bytes(pa, bytes(data))
            for h in vm.harts:       # the bytes may be code already translated
                h.flush_translations()
        try:
            vm.runner.run_on_vcpu(write)
        except MemoryAccessError as e:
            raise MachineError(str(e)) from None
        except Exception as e:
            if type(e).__name__ == "GuestMemoryError":
                raise MachineError(f"cannot write {len(data)} bytes at 0x{addr:x}: not RAM") from None
            raise

    # -- hooks ---------------------------------------------------------------------------------
    def on_block(self, fn: Callable[[CPU, int, int], None]) -> None:
        """`fn(cpu, pc, n_insns)` before each translated block runs."""
        cpus = {h: CPU(self, h) for h in self._vm.harts}
        self._vm.runner.block_hooks.append(lambda h, tb: fn(cpus[h], tb.pc, tb.n_insns))

    def on_instruction(self, fn: Callable[[CPU, int], None]) -> None:
        """`fn(cpu, pc)` before each instruction (reported per block, see above)."""
        cpus = {h: CPU(self, h) for h in self._vm.harts}
        self._vm.runner.insn_hooks.append(lambda h, pc: fn(cpus[h], pc))

    def on_memory(self, fn: Callable[[CPU, str, int, int, int | None], None]) -> None:
        """`fn(cpu, 'read'|'write', vaddr, size, value)` on every guest data access
        (value is None for reads: it is not known before the access)."""
        self._mem_hooks.append(fn)
        if len(self._mem_hooks) > 1:
            return
        for h in self._vm.harts:
            self._hook_memory(h)

    def _hook_memory(self, h) -> None:
        cpu = CPU(self, h)
        hooks = self._mem_hooks
        load_slow, store_slow = h.load_slow, h.store_slow

        def load(va, size, signed):
            for fn in hooks:
                fn(cpu, "read", va, size, None)
            return load_slow(va, size, signed)

        def store(va, size, value):
            for fn in hooks:
                fn(cpu, "write", va, size, value)
            return store_slow(va, size, value)

        def work():
            # Every access must take the slow path: no TLB entries from now on.
            h._fill = lambda va, pa, access, priv: None
            h.load_slow, h.store_slow = load, store
            h.flush_tlb()
        self._vm.runner.run_on_vcpu(work)

    def on_exception(self, fn: Callable[[CPU, int, int, bool], None]) -> None:
        """`fn(cpu, cause, tval, is_interrupt)` as each trap is taken."""
        self._exc_hooks.append(fn)
        if len(self._exc_hooks) > 1:
            return
        for h in self._vm.harts:
            cpu = CPU(self, h)
            take_trap = h.take_trap
            hooks = self._exc_hooks

            def hooked(cause, tval, interrupt=False, _cpu=cpu, _take=take_trap):
                for f in hooks:
                    f(_cpu, cause, tval, interrupt)
                return _take(cause, tval, interrupt)
            h.take_trap = hooked
