"""QMP command implementations, one `qmp_<name>` method per schema command.

Commands run on the asyncio loop. What touches the machine goes through the
run-state machine or `runner.run_on_vcpu` (device and CPU state belong to the
vCPU thread); both may block, so they run in a worker thread and the loop
keeps serving other clients meanwhile.
"""

from __future__ import annotations

import asyncio
import threading

from .. import QEMU_COMPAT_VERSION, __version__
from ..system.runstate import NEEDS_RESET, RunState, ShutdownCause
from .errors import QMPError
from .migration import MigrationCommands
from .qapi import SCHEMA
from .qom import QOMError, qom_get, qom_list

UNSUPPORTED = "this feature or command is not currently supported"


def _method_name(command: str) -> str:
    return "qmp_" + command.replace("-", "_")


class Dispatcher(MigrationCommands):
    """The commands of one machine. `chardevs` lists (label, filename, open)
    providers for query-chardev; `hmp` runs human-monitor-command."""

    def __init__(self, machine, hub, chardev_info=None, chardevs=None):
        self.machine = machine
        self.chardevs = chardevs if chardevs is not None else {}
        self.hub = hub
        self.chardev_info = chardev_info or (lambda: [])
        self.block_nodes: dict = {}
        self.gdbserver = None
        from .block import BlockMonitor
        self.block = BlockMonitor(machine, hub.emit)
        from .hmp import HMP
        self.hmp = HMP(self)
        missing = [c for c in SCHEMA.commands
                   if c != "qmp_capabilities" and not hasattr(self, _method_name(c))]
        assert not missing, f"schema commands without implementation: {missing}"

    async def run(self, name: str, args: dict, session=None):
        return await getattr(self, _method_name(name))(**{k.replace("-", "_"): v
                                                           for k, v in args.items()})

    async def blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # -- identity -----------------------------------------------------------------------
    async def qmp_query_version(self):
        major, minor, micro = QEMU_COMPAT_VERSION
        return {"qemu": {"major": major, "minor": minor, "micro": micro},
                "package": f"pyqemu {__version__}"}

    async def qmp_query_commands(self):
        return SCHEMA.query_commands()

    async def qmp_query_qmp_schema(self):
        return SCHEMA.introspect()

    async def qmp_query_name(self):
        name = self.machine.cfg.name
        return {"name": name} if name is not None else {}

    async def qmp_query_uuid(self):
        return {"UUID": "00000000-0000-0000-0000-000000000000"}

    async def qmp_query_target(self):
        arch = getattr(self.machine, "target_arch", None)     # boards other than RISC-V say theirs
        return {"arch": arch or f"riscv{self.machine.cfg.xlen}"}

    async def qmp_query_machines(self):
        return [{"name": "virt", "is-default": True, "cpu-max": 512, "hotpluggable-cpus": False,
                 "numa-mem-supported": True, "deprecated": False,
                 "default-cpu-type": f"rv{self.machine.cfg.xlen}-riscv-cpu",
                 "default-ram-id": "riscv_virt_board.ram"},
                {"name": "none", "cpu-max": 1, "hotpluggable-cpus": False,
                 "numa-mem-supported": False, "deprecated": False}]

    async def qmp_query_cpus_fast(self):
        thread = self.machine.runner.thread
        tid = thread.native_id if thread is not None and thread.native_id else threading.get_native_id()
        return [{"cpu-index": h.hart_id, "qom-path": f"/machine/soc0/harts[{h.hart_id}]",
                 "thread-id": tid,
                 "target": getattr(self.machine, "target_arch", None) or f"riscv{self.machine.cfg.xlen}"}
                for h in self.machine.harts]

    async def qmp_query_kvm(self):
        info = getattr(self.machine, "kvm_info", None)        # a KVM board (machine/x86) answers
        return info() if info else {"enabled": False, "present": False}

    async def qmp_query_chardev(self):
        return [{"label": label, "filename": filename, "frontend-open": is_open}
                for label, filename, is_open in self.chardev_info()]

    # -- life cycle -----------------------------------------------------------------------
    async def qmp_query_status(self):
        state = self.machine.runstate.state
        return {"status": state.value, "singlestep": False, "running": state is RunState.RUNNING}

    async def qmp_stop(self):
        await self.blocking(self.machine.runstate.vm_stop)
        return {}

    async def qmp_cont(self):
        rs = self.machine.runstate
        if rs.state in NEEDS_RESET:
            raise QMPError("GenericError", "Resetting the Virtual Machine is required")
        if rs.state is RunState.INMIGRATE:
            raise QMPError("GenericError", "Guest is waiting for an incoming migration")
        await self.blocking(self.prepare_cont)
        await self.blocking(rs.vm_start)
        return {}

    async def qmp_system_reset(self):
        await self.blocking(self.machine.system_reset, ShutdownCause.HOST_QMP_SYSTEM_RESET)
        return {}

    async def qmp_system_powerdown(self):
        # The virt board has no power button a guest could see (QEMU 7.2's
        # RISC-V virt neither): the request is announced and nothing else.
        self.hub.emit("POWERDOWN", None)
        handler = getattr(self.machine, "powerdown_request", None)
        if handler is not None:
            await self.blocking(handler)
        return {}

    async def qmp_quit(self):
        # The answer goes out before the SHUTDOWN event and the exit, as in QEMU.
        asyncio.get_running_loop().call_soon(
            lambda: threading.Thread(target=self.machine.quit,
                                     args=(0, ShutdownCause.HOST_QMP_QUIT), daemon=True).start())
        return {}

    async def qmp_inject_nmi(self):
        raise QMPError("GenericError", UNSUPPORTED)

    # -- memory -----------------------------------------------------------------------------
    def _cpu(self, cpu_index):
        harts = self.machine.harts
        if cpu_index is None:
            return harts[self.hmp.cpu_index]
        if not 0 <= cpu_index < len(harts):
            raise QMPError("GenericError", f"Parameter 'cpu-index' expects a CPU index")
        return harts[cpu_index]

    async def qmp_memsave(self, val, size, filename, cpu_index=None):
        from .memory import MemoryAccessError, read_virtual
        cpu = self._cpu(cpu_index)
        try:
            data = await self.blocking(self.machine.runner.run_on_vcpu,
                                       lambda: read_virtual(cpu, val, size))
        except MemoryAccessError as e:
            raise QMPError("GenericError", str(e)) from None
        self._save(filename, data)
        return {}

    async def qmp_pmemsave(self, val, size, filename):
        from .memory import MemoryAccessError, read_physical
        try:
            data = await self.blocking(self.machine.runner.run_on_vcpu,
                                       lambda: read_physical(self.machine.bus, val, size))
        except MemoryAccessError as e:
            raise QMPError("GenericError", str(e)) from None
        self._save(filename, data)
        return {}

    @staticmethod
    def _save(filename: str, data: bytes) -> None:
        try:
            with open(filename, "wb") as f:
                f.write(data)
        except OSError as e:
            raise QMPError("GenericError", f"Could not open '{filename}': {e.strerror}") from None

    # -- gdbstub ----------------------------------------------------------------------------
    def start_gdbserver(self, device: str) -> None:
        """(Re)start the gdbstub on `device` ('none' stops it); GDB's `monitor`
        command runs HMP lines here. Raises ValueError naming the device."""
        from ..gdbstub import GdbServer, GdbServerError
        if self.gdbserver is not None:
            self.gdbserver.close()
            self.gdbserver = None
        if device == "none":
            return
        loop = asyncio.get_event_loop()

        def run_hmp(line: str) -> str:
            return asyncio.run_coroutine_threadsafe(self.hmp.execute(line), loop).result(30)
        try:
            self.gdbserver = GdbServer(self.machine, device, run_hmp=run_hmp)
        except GdbServerError as e:
            raise ValueError(str(e)) from None

    # -- HMP passthrough -----------------------------------------------------------------
    async def qmp_human_monitor_command(self, command_line, cpu_index=None):
        if cpu_index is not None:
            self._cpu(cpu_index)
            self.hmp.cpu_index = cpu_index
        return await self.hmp.execute(command_line)

    # -- ring buffers (char.json) -------------------------------------------------------
    def _ringbuf(self, device: str):
        from ..chardev.ringbuf import RingbufChardev
        c = self.chardevs.get(device)
        if c is None:
            raise QMPError("GenericError", f"Device '{device}' not found")
        if not isinstance(c, RingbufChardev):
            raise QMPError("GenericError", f"{device} is not a ringbuf device")
        return c

    async def qmp_ringbuf_write(self, device, data, format="utf8"):
        import base64
        import binascii
        c = self._ringbuf(device)
        if format == "base64":
            try:
                raw = base64.b64decode(data, validate=True)
            except binascii.Error:
                raise QMPError("GenericError", "Invalid base64 data") from None
        else:
            raw = data.encode()
        c.write(raw)
        return {}

    async def qmp_ringbuf_read(self, device, size, format="utf8"):
        import base64
        if size < 0:
            raise QMPError("GenericError", "size must be greater than zero")
        data = self._ringbuf(device).read(size)
        if format == "base64":
            return base64.b64encode(data).decode()
        # QEMU replaces bytes that are not UTF-8 (and NULs) with U+FFFD.
        return data.decode("utf-8", "replace").replace("\0", "\ufffd")

    # -- QOM -----------------------------------------------------------------------------------
    async def qmp_qom_list(self, path):
        try:
            return qom_list(self.machine, path)
        except QOMError as e:
            raise QMPError(e.error_class, str(e)) from None

    async def qmp_qom_get(self, path, property):
        try:
            return qom_get(self.machine, path, property)
        except QOMError as e:
            raise QMPError(e.error_class, str(e)) from None

    # -- block (monitor/block.py: the virtio-blk drives and blockdev-add's nodes) -----------
    async def qmp_query_block(self):
        return await self.blocking(self._on_vcpu, self.block.query_block)

    async def qmp_query_blockstats(self, query_nodes=False):
        return await self.blocking(self._on_vcpu, lambda: self.block.query_blockstats(
            query_nodes, self.block_nodes))

    async def qmp_query_named_block_nodes(self, flat=False):
        return await self.blocking(self._on_vcpu, lambda: self.block.query_named_block_nodes(
            self.block_nodes, flat))

    def _on_vcpu(self, fn):
        """Block state belongs to the vCPU thread, where virtio-blk requests run."""
        return self.machine.runner.run_on_vcpu(fn)

    async def qmp_blockdev_add(self, **options):
        from ..block import BlockError, blockdev_from_options
        options = {k.replace("_", "-"): v for k, v in options.items()}
        name = options.get("node-name")
        if name is None:
            raise QMPError("GenericError", "A top-level node-name is required")  # simplified
        if name in self.block_nodes:
            raise QMPError("GenericError", f"Duplicate nodes with node-name='{name}'")
        try:
            backend = await self.blocking(blockdev_from_options, options)
        except (BlockError, OSError, ValueError, KeyError, TypeError) as e:
            raise QMPError("GenericError", str(e)) from None
        self.block_nodes[name] = backend
        return {}

    async def qmp_blockdev_del(self, node_name):
        backend = self.block_nodes.pop(node_name, None)
        if backend is None:
            raise QMPError("GenericError", f"Failed to find node with node-name='{node_name}'")
        await self.blocking(backend.close)
        return {}

    async def qmp_block_resize(self, size, device=None, node_name=None):
        if device is not None and node_name is None:
            raise QMPError("DeviceNotFound", f"Device '{device}' not found")
        backend = self.block_nodes.get(node_name)
        if backend is None:
            raise QMPError("DeviceNotFound", f"Cannot find device='{device or ''}' nor "
                                             f"node-name='{node_name or ''}'")
        if size < 0:
            raise QMPError("GenericError", "Parameter 'size' expects a >0 size")
        try:
            await self.blocking(lambda: backend.truncate(size, shrink=True))
        except Exception as e:     # the block layer's own one-line message
            raise QMPError("GenericError", str(e)) from None
        return {}
