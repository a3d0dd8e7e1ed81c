"""Monitors on chardevs, and the main thread's asyncio loop that serves them.

`MonitorHost` owns the event hub, the command dispatcher and the monitors
(`-qmp`, `-monitor`, `-mon chardev=ID,mode=control|readline`, the mux's
C-a c). `run()` opens the chardevs, waits for `wait=on` servers' first
client, starts the machine (paused with -S) and serves until the machine
asks to exit; the exit status is the machine's.
"""

from __future__ import annotations

import asyncio
import os

from .. import QEMU_COMPAT_VERSION
from ..chardev.socket import LoopChardev
from ..chardev.stdio import StdioChardev
from .commands import Dispatcher
from .hmp import BANNER, PROMPT
from .qmp import EventHub, QMPSession


class QMPFrontend:
    """A QMP monitor on a loop chardev: one session per connection."""

    def __init__(self, host: "MonitorHost"):
        self.host = host
        self.session: QMPSession | None = None

    def connected(self, chardev: LoopChardev) -> None:
        self.session = QMPSession(chardev._write_now, self.host.dispatcher, self.host.hub)
        self.session.start()

    def received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)

    def disconnected(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


class HMPSession:
    """The readline monitor: banner, prompt, one command per line."""

    def __init__(self, send, host: "MonitorHost", echo: bool = False):
        self._send = send
        self._host = host
        self._echo = echo
        self._line = bytearray()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def greet(self) -> None:
        major, minor, micro = QEMU_COMPAT_VERSION
        self._send((BANNER.format(v=f"{major}.{minor}.{micro}") + PROMPT).encode())

    def prompt(self) -> None:
        self._send(PROMPT.encode())

    def feed(self, data: bytes) -> None:
        for b in data:
            if b in (0x0D, 0x0A):
                if b == 0x0A and getattr(self, "_last_cr", False):
                    self._last_cr = False
                    continue
                self._last_cr = b == 0x0D
                if self._echo:
                    self._send(b"\r\n")
                self._queue.put_nowait(self._line.decode("utf-8", "replace"))
                self._line.clear()
                continue
            self._last_cr = False
            if b in (0x7F, 0x08):
                if self._line:
                    self._line.pop()
                    if self._echo:
                        self._send(b"\x08 \x08")
                continue
            if b >= 0x20:
                self._line.append(b)
                if self._echo:
                    self._send(bytes([b]))

    async def _run(self) -> None:
        hmp = self._host.dispatcher.hmp
        while True:
            line = await self._queue.get()
            try:
                out = await hmp.execute(line)
            except Exception as e:       # a bug must not kill the monitor
                out = f"internal error: {e}\r\n"
            self._send(out.encode() + PROMPT.encode())

    def close(self) -> None:
        self._task.cancel()


class HMPFrontend:
    def __init__(self, host: "MonitorHost"):
        self.host = host
        self.session: HMPSession | None = None

    def connected(self, chardev: LoopChardev) -> None:
        self.session = HMPSession(chardev._write_now, self.host)
        self.session.greet()

    def received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)

    def disconnected(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


class MonitorHost:
    def __init__(self, machine, chardevs=None):
        self.machine = machine
        self.hub = EventHub()
        self.chardevs = chardevs if chardevs is not None else {}
        info = getattr(self.chardevs, "info", None)
        self.dispatcher = Dispatcher(machine, self.hub, chardev_info=info or (lambda: []),
                                     chardevs=self.chardevs)
        machine.runstate.set_emitter(self.hub.emit)
        self._monitors: list[tuple[object, str]] = []
        self._gdb_device: str | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def add_monitor(self, chardev, mode: str) -> None:
        """mode: 'control' (QMP) or 'readline' (HMP)."""
        if mode not in ("control", "readline"):
            raise ValueError(mode)
        self._monitors.append((chardev, mode))

    def add_gdbserver(self, device: str) -> None:
        """-gdb DEV / -s: the gdbstub listens from the start (before -S's wait
        ends), as QEMU's. Raises ValueError naming a device that cannot be opened."""
        self._gdb_device = device

    # -- stdio monitors -------------------------------------------------------------------
    def _attach_stdio(self, chardev: StdioChardev, mode: str) -> None:
        loop = self.loop

        def send(data: bytes) -> None:
            # Guest output and monitor output share the terminal: the
            # chardev's lock keeps lines whole.
            with chardev._write_lock:
                chardev._write_unlocked(data)

        if mode == "control":
            session = QMPSession(send, self.dispatcher, self.hub)
            session.start()
            feed = session.feed
        else:
            tty = os.isatty(chardev._in)
            session = HMPSession(send, self, echo=tty)
            feed = session.feed
            greeted = []

        def sink(data: bytes) -> None:       # on the stdin reader thread
            loop.call_soon_threadsafe(feed, data)

        def on_focus(monitor: bool) -> None:  # reader thread, C-a c
            if mode != "readline" or not monitor:
                return
            if not greeted:
                greeted.append(True)
                loop.call_soon_threadsafe(session.greet)
            else:
                loop.call_soon_threadsafe(session.prompt)

        chardev.attach_monitor(sink, on_focus if mode == "readline" else None)

    # -- running -------------------------------------------------------------------------------
    def run(self, start_paused: bool) -> int:
        loop = asyncio.new_event_loop()
        self.loop = loop
        self.hub.loop = loop
        try:
            return loop.run_until_complete(self._main(start_paused))
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # Disks are flushed and unlocked on every way out (quit, signal,
            # guest power-off).
            for backend in list(self.dispatcher.block_nodes.values()):
                try:
                    backend.flush()
                    backend.close()
                except Exception as e:      # report, but keep shutting down
                    os.write(2, f"flushing {backend.filename}: {e}\n".encode())
            self.dispatcher.block_nodes.clear()
            if self.dispatcher.gdbserver is not None:
                self.dispatcher.gdbserver.close()
            for c in self.chardevs.values():
                c.close()
            self.hub.loop = None
            loop.close()

    async def _main(self, start_paused: bool) -> int:
        loop = asyncio.get_running_loop()
        for c in self.chardevs.values():
            if isinstance(c, LoopChardev):
                await c.open(loop)
        for chardev, mode in self._monitors:
            if isinstance(chardev, StdioChardev):
                self._attach_stdio(chardev, mode)
            elif isinstance(chardev, LoopChardev):
                chardev.frontend = QMPFrontend(self) if mode == "control" else HMPFrontend(self)
        if self._gdb_device is not None:
            try:
                self.dispatcher.start_gdbserver(self._gdb_device)
            except ValueError as e:
                os.write(2, f"-gdb {self._gdb_device}: {e}\n".encode())
                return 1
        exit_now = asyncio.Event()
        self.machine.exit_listeners.append(lambda: loop.call_soon_threadsafe(exit_now.set))
        if self.machine.exit_requested.is_set():
            exit_now.set()
        # wait=on servers: nothing runs before their first client; a signal
        # (or quit) while waiting still ends the process.
        waits = [loop.create_task(c.wait_connected()) for c in self.chardevs.values()
                 if isinstance(c, LoopChardev)]
        exit_task = loop.create_task(exit_now.wait())
        if waits:
            await asyncio.wait([exit_task, loop.create_task(asyncio.wait(waits))],
                               return_when=asyncio.FIRST_COMPLETED)
        if not exit_now.is_set():
            self.machine.start_vcpus(paused=start_paused)
        await exit_task
        # Let the answers and events already queued (SHUTDOWN) reach clients.
        await asyncio.sleep(0.05)
        code = await loop.run_in_executor(None, self.machine.finish)
        return code

