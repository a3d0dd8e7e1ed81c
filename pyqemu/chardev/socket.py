"""`-chardev socket` (unix and tcp; server or client; `wait`, `reconnect`)
and the base of backends served by the main thread's asyncio loop.

A loop backend hands what it receives to its *frontend* (a monitor, or by
default the device attached with `attach`, through the vCPU EventQueue), and
`write` may be called from any thread: the bytes are queued to the loop.
"""

from __future__ import annotations

import asyncio
import os
import socket as _socket
from typing import Protocol

from pyqemu.chardev.base import Chardev, ChardevError


class Frontend(Protocol):
    """Who consumes a loop backend's connection; all calls on the loop thread."""

    def connected(self, chardev: "LoopChardev") -> None: ...
    def received(self, data: bytes) -> None: ...
    def disconnected(self) -> None: ...


class LoopChardev(Chardev):
    def __init__(self, label: str):
        super().__init__()
        self.label = label
        self.frontend: Frontend | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.is_open = False

    @property
    def filename(self) -> str:
        return self.label

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def wait_connected(self) -> None:
        """`wait=on`: return once a client is there (servers only)."""

    def _received(self, data: bytes) -> None:
        if self.frontend is not None:
            self.frontend.received(data)
        else:
            self._deliver(data)

    def _connected(self) -> None:
        self.is_open = True
        if self.frontend is not None:
            self.frontend.connected(self)

    def _disconnected(self) -> None:
        self.is_open = False
        if self.frontend is not None:
            self.frontend.disconnected()

    def write(self, data: bytes) -> None:
        loop = self.loop
        if loop is None or loop.is_closed() or not data:
            return
        try:
            loop.call_soon_threadsafe(self._write_now, bytes(data))
        except RuntimeError:
            pass      # loop closed: the process is exiting

    def _write_now(self, data: bytes) -> None:
        """On the loop thread."""


class SocketChardev(LoopChardev):
    """One connection at a time, as QEMU's socket chardev: a second client
    of a server waits until the first is gone."""

    def __init__(self, label: str, *, path: str | None = None, host: str | None = None,
                 port: int | None = None, server: bool = False, wait: bool = True,
                 reconnect: int = 0, telnet: bool = False):
        super().__init__(label)
        self.path, self.host, self.port = path, host, port
        self.server, self.wait, self.reconnect = server, wait, reconnect
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.AbstractServer | None = None
        self._first_client: asyncio.Event | None = None
        self._turn: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def filename(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}{',server=on' if self.server else ''}"
        return f"tcp:{self.host}:{self.port}{',server=on' if self.server else ''}"

    async def open(self, loop) -> None:
        await super().open(loop)
        self._first_client = asyncio.Event()
        self._turn = asyncio.Lock()
        if self.server:
            try:
                if self.path is not None:
                    if os.path.exists(self.path):
                        os.unlink(self.path)     # a stale socket, as QEMU does
                    self._server = await asyncio.start_unix_server(self._serve, path=self.path)
                else:
                    self._server = await asyncio.start_server(
                        self._serve, host=self.host or None, port=self.port,
                        reuse_address=True)
                    if self.port == 0:
                        self.port = self._server.sockets[0].getsockname()[1]
            except OSError as e:
                where = self.path if self.path is not None else f"{self.host}:{self.port}"
                raise ChardevError(f"Failed to bind socket to {where}: {e.strerror}") from None
        else:
            await self._connect(first=True)

    async def wait_connected(self) -> None:
        if self.server and self.wait:
            await self._first_client.wait()

    async def _connect(self, first: bool) -> None:
        while True:
            try:
                if self.path is not None:
                    reader, writer = await asyncio.open_unix_connection(self.path)
                else:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as e:
                if first and not self.reconnect:
                    where = self.path if self.path is not None else f"{self.host}:{self.port}"
                    raise ChardevError(f"Failed to connect to '{where}': {e.strerror}") from None
                first = False
                await asyncio.sleep(max(1, self.reconnect))
                continue
            task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._turn:
            self._writer = writer
            self._first_client.set()
            self._connected()
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    self._received(data)
            except (ConnectionError, OSError):
                pass
            except asyncio.CancelledError:
                # The loop is shutting down with a client still connected.
                # Ending normally keeps asyncio's stream callback (Python 3.11)
                # from printing the cancellation as an unhandled traceback.
                return
            finally:
                self._writer = None
                self._disconnected()
                writer.close()
        if not self.server and self.reconnect:
            await asyncio.sleep(self.reconnect)
            await self._connect(first=False)

    def _write_now(self, data: bytes) -> None:
        w = self._writer
        if w is not None and not w.is_closing():
            try:
                w.write(data)
            except (ConnectionError, OSError):
                pass

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            if self.path is not None:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
        w = self._writer
        if w is not None:
            try:
                w.close()
            except Exception:       # closing a half-dead transport
                pass


def check_tcp_port(text: str, spec: str) -> int:
    try:
        port = int(text)
    except ValueError:
        try:
            return _socket.getservbyname(text)
        except OSError:
            raise ChardevError(f"{spec}: invalid port '{text}'") from None
    if not 0 <= port <= 65535:
        raise ChardevError(f"{spec}: invalid port '{text}'")
    return port
