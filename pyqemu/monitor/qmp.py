"""QMP sessions, following docs/interop/qmp-spec.rst.

A session belongs to one client connection: it sends the greeting, refuses
everything but `qmp_capabilities` until negotiation, checks each request's
shape and arguments against the schema, runs the command and answers with
`return` or `error`, echoing `id`. Sessions run on the main thread's asyncio
loop; a command that touches the machine runs there too and hands the
machine part to the vCPU thread (see commands.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Callable

from .. import QEMU_COMPAT_VERSION, __version__
from .errors import QMPError
from .jsonstream import JSONSplitter
from .qapi import SCHEMA

NOT_NEGOTIATED = "Expecting capabilities negotiation with 'qmp_capabilities'"
ALREADY_NEGOTIATED = "Capabilities negotiation is already complete, command ignored"
_REQUEST_KEYS = ("execute", "exec-oob", "arguments", "id")


def greeting() -> dict:
    major, minor, micro = QEMU_COMPAT_VERSION
    return {"QMP": {"version": {"qemu": {"micro": micro, "minor": minor, "major": major},
                                "package": f"pyqemu {__version__}"},
                    "capabilities": ["oob"]}}


def encode(message: dict) -> bytes:
    # QEMU ends each message with CRLF.
    return json.dumps(message).encode() + b"\r\n"


def timestamp() -> dict:
    now = time.time()
    sec = int(now)
    return {"seconds": sec, "microseconds": int((now - sec) * 1_000_000)}


class EventHub:
    """Broadcasts events to every negotiated QMP session; `emit` may be
    called from any thread (the vCPU thread emits SHUTDOWN, for one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop
        self.sessions: set[QMPSession] = set()
        self.listeners: list[Callable[[dict], None]] = []

    def emit(self, name: str, data: dict | None) -> None:
        assert name in SCHEMA.events, name
        message = {"event": name}
        if data is not None:
            message["data"] = data
        message["timestamp"] = timestamp()
        for fn in list(self.listeners):
            fn(message)
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._broadcast, message)
        except RuntimeError:
            pass      # the loop closed while the process exits

    def _broadcast(self, message: dict) -> None:
        for s in list(self.sessions):
            if s.negotiated:
                s.send(message)


class QMPSession:
    """One client. `send_bytes` writes to the client; `feed` takes its input."""

    def __init__(self, send_bytes: Callable[[bytes], None], dispatcher, hub: EventHub):
        self._send_bytes = send_bytes
        self._dispatcher = dispatcher
        self._hub = hub
        self._splitter = JSONSplitter()
        self.negotiated = False
        self.oob = False
        self.closed = False
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        self._hub.sessions.add(self)
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run_requests())
        self.send(greeting())

    def close(self) -> None:
        """The client went away: its queued commands are dropped (a command
        already running finishes, its answer goes nowhere)."""
        self.closed = True
        self._hub.sessions.discard(self)
        if self._worker is not None:
            self._worker.cancel()

    def send(self, message: dict) -> None:
        if not self.closed:
            self._send_bytes(encode(message))

    def feed(self, data: bytes) -> None:
        for value, error in self._splitter.feed(data):
            if error is not None:
                self.send({"error": {"class": "GenericError",
                                     "desc": f"JSON parse error, {error}"}})
                continue
            self._queue.put_nowait(value)

    async def _run_requests(self) -> None:
        # Commands of one client run in order, one at a time (QMP's rule
        # for in-band commands).
        while True:
            request = await self._queue.get()
            response = await self.handle(request)
            if response is not None:
                self.send(response)

    async def handle(self, request) -> dict | None:
        if not isinstance(request, dict):
            return {"error": QMPError("GenericError", "QMP input must be a JSON object").to_json()}
        reply_id = request.get("id")
        try:
            result = await self._execute(request)
            response = {"return": result}
        except QMPError as e:
            response = {"error": e.to_json()}
        except asyncio.CancelledError:
            raise
        except Exception as e:       # a bug in a command: answer, keep serving
            response = {"error": {"class": "GenericError",
                                  "desc": f"internal error: {type(e).__name__}: {e}"}}
        if "id" in request:
            response["id"] = reply_id
        return response

    async def _execute(self, request: dict):
        for key in request:
            if key not in _REQUEST_KEYS:
                raise QMPError("GenericError", f"QMP input member '{key}' is unexpected")
        oob = "exec-oob" in request
        if oob and "execute" in request:
            raise QMPError("GenericError", "QMP input member 'execute' clashes with 'exec-oob'")
        name = request.get("exec-oob" if oob else "execute")
        if name is None:
            raise QMPError("GenericError", "QMP input lacks member 'execute'")
        if not isinstance(name, str):
            raise QMPError("GenericError",
                           f"QMP input member '{'exec-oob' if oob else 'execute'}' must be a string")
        args = request.get("arguments", {})
        if not isinstance(args, dict):
            raise QMPError("GenericError", "QMP input member 'arguments' must be an object")
        cmd = SCHEMA.commands.get(name)
        if oob:
            if not self.oob:
                raise QMPError("GenericError", "QMP input member 'exec-oob' is unexpected")
            if cmd is not None and not cmd.allow_oob:
                raise QMPError("GenericError", f"The command {name} does not support OOB")
        if not self.negotiated and name != "qmp_capabilities":
            raise QMPError("CommandNotFound", NOT_NEGOTIATED)
        if cmd is None:
            raise QMPError("CommandNotFound", f"The command {name} has not been found")
        SCHEMA.check_arguments(cmd, args)
        if name == "qmp_capabilities":
            # QEMU checks the arguments first, then whether it is too late.
            if self.negotiated:
                raise QMPError("CommandNotFound", ALREADY_NEGOTIATED)
            enable = args.get("enable", [])
            self.oob = "oob" in enable
            self.negotiated = True
            return {}
        return await self._dispatcher.run(name, args, self)
