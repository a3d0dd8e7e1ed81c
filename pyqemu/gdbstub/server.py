"""The listening end of the gdbstub: `-gdb DEV`, `-s` (= `-gdb tcp::1234`)
and HMP `gdbserver [DEV]`. DEV is `tcp:[HOST]:PORT`, a bare PORT, or
`unix:PATH` (chardev options after a comma, such as `server=on`, are
accepted and ignored: the stub always listens and never waits). One GDB at
a time, as QEMU: a second connection is refused while one is open."""

from __future__ import annotations

import os
import socket
import threading

from .session import GdbSession

DEFAULT_DEVICE = "tcp::1234"


class GdbServerError(Exception):
    """The device cannot be opened; the message names it."""


def _listen(device: str) -> socket.socket:
    spec = device.split(",")[0]
    if spec.isdigit():
        spec = "tcp::" + spec
    try:
        if spec.startswith("tcp:"):
            host, _, port = spec[4:].rpartition(":")
            if not port.isdigit():
                raise GdbServerError(f"gdbstub device '{device}': port '{port}' is not a number")
            host = host.strip("[]") or "0.0.0.0"
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, int(port)))
        elif spec.startswith("unix:"):
            path = spec[5:]
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
        else:
            raise GdbServerError(f"gdbstub device '{device}': use tcp:[HOST]:PORT, PORT "
                                 "or unix:PATH")
        s.listen(1)
        return s
    except OSError as e:
        raise GdbServerError(f"gdbstub device '{device}': {e.strerror}") from None


class GdbServer:
    """Listens on `device` and serves one GDB connection at a time on a
    thread of its own. `run_hmp(line) -> text` serves GDB's `monitor` command."""

    def __init__(self, machine, device: str = DEFAULT_DEVICE, run_hmp=None):
        self.machine = machine
        self.device = device
        self.run_hmp = run_hmp
        self._sock = _listen(device)
        self.address = self._sock.getsockname()
        self.session: GdbSession | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="gdbstub", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int | None:
        return self.address[1] if isinstance(self.address, tuple) else None

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self.session is not None or self.machine.exit_requested.is_set():
                conn.close()
                continue
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.session = GdbSession(conn, self.machine, self.run_hmp,
                                      on_close=self._session_closed)
            threading.Thread(target=self.session.run, name="gdbstub-session",
                             daemon=True).start()

    def _session_closed(self, session) -> None:
        if self.session is session:
            self.session = None

    def close(self) -> None:
        """Stop listening and drop the connection (the machine runs on)."""
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)     # wakes the accept
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass
        if isinstance(self.address, str):
            try:
                os.unlink(self.address)
            except OSError:
                pass
        if self.session is not None:
            self.session.close()
