"""Migration channels, named by URI as in QEMU: tcp:HOST:PORT, unix:PATH,
exec:COMMAND, fd:N, file:PATH.

An outgoing channel writes the stream; sockets also read the destination's
one-line answer (the return path). An incoming channel is first *listened*
(so a bad address fails at start-up), then *accepted*.
"""

from __future__ import annotations

import os
import socket
import subprocess


class ChannelError(Exception):
    """A URI that cannot be used (one line, names the URI)."""


def _split(uri: str) -> tuple[str, str]:
    kind, sep, rest = uri.partition(":")
    if not sep or kind not in ("tcp", "unix", "exec", "fd", "file"):
        raise ChannelError(f"unknown migration protocol: {uri}")
    if not rest:
        raise ChannelError(f"migration URI '{uri}' names no address")
    return kind, rest


def _host_port(rest: str, uri: str) -> tuple[str, int]:
    host, sep, port = rest.rpartition(":")
    if not sep:
        raise ChannelError(f"address '{rest}' of '{uri}' lacks a port")
    host = host.strip("[]") or "0.0.0.0"
    try:
        return host, int(port.split(",")[0])
    except ValueError:
        raise ChannelError(f"port '{port}' of '{uri}' is not a number") from None


class Channel:
    """One open stream end: write/read_exactly, an optional return path."""

    def __init__(self, write=None, read=None, close=None, sock=None, has_return_path=False):
        self._write = write
        self._read = read
        self._close = close
        self.sock = sock
        self.has_return_path = has_return_path
        self._line = bytearray()

    def write(self, data) -> None:
        self._write(data)

    def read_exactly(self, n: int) -> bytes:
        parts = []
        got = 0
        while got < n:
            chunk = self._read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def read_line(self, timeout: float) -> bytes:
        """The return path's answer ('' if the peer closed)."""
        self.sock.settimeout(timeout)
        while b"\n" not in self._line:
            chunk = self.sock.recv(256)
            if not chunk:
                break
            self._line += chunk
        line, _, rest = bytes(self._line).partition(b"\n")
        self._line = bytearray(rest)
        return line

    def shutdown(self) -> None:
        """Unblock a reader or writer in another thread (migrate_cancel)."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self._close is not None:
            try:
                self._close()
            except OSError:
                pass
            self._close = None


def _socket_channel(sock: socket.socket) -> Channel:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20) if sock.family != socket.AF_UNIX else None
    return Channel(write=sock.sendall, read=sock.recv, close=sock.close, sock=sock,
                   has_return_path=True)


def connect(uri: str) -> Channel:
    """The source's end of `uri`; OSError if the destination is not there."""
    kind, rest = _split(uri)
    if kind == "tcp":
        host, port = _host_port(rest, uri)
        sock = socket.create_connection((host, port), timeout=10)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _socket_channel(sock)
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(rest)
        except OSError:
            sock.close()
            raise
        return _socket_channel(sock)
    if kind == "exec":
        proc = subprocess.Popen(["/bin/sh", "-c", rest], stdin=subprocess.PIPE)

        def close():
            proc.stdin.close()
            proc.wait()
        return Channel(write=proc.stdin.write, close=close)
    if kind == "fd":
        fd = _fd(rest, uri)
        f = os.fdopen(fd, "wb", closefd=True)
        return Channel(write=f.write, close=f.close)
    f = open(rest.split(",")[0], "wb")
    return Channel(write=f.write, close=f.close)


def _fd(rest: str, uri: str) -> int:
    try:
        return int(rest)
    except ValueError:
        raise ChannelError(f"fd '{rest}' of '{uri}' is not a file descriptor number "
                           "(getfd names are not supported)") from None


class Listener:
    """The destination's end of `uri`, bound at once, accepted later."""

    def __init__(self, uri: str):
        self.uri = uri
        kind, rest = _split(uri)
        self.kind = kind
        self._sock = None
        self._proc = None
        self._path = None
        try:
            if kind == "tcp":
                host, port = _host_port(rest, uri)
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(1)
                self._sock = sock
            elif kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                if os.path.exists(rest):
                    os.unlink(rest)
                sock.bind(rest)
                sock.listen(1)
                self._sock = sock
                self._path = rest
            elif kind == "exec":
                self._proc = subprocess.Popen(["/bin/sh", "-c", rest], stdout=subprocess.PIPE)
            elif kind == "fd":
                self._fd = _fd(rest, uri)
            else:
                self._file = open(rest.split(",")[0], "rb")
        except OSError as e:
            raise ChannelError(f"Failed to listen on '{uri}': {e.strerror or e}") from None

    @property
    def port(self) -> int | None:
        return self._sock.getsockname()[1] if self._sock is not None and self.kind == "tcp" else None

    def accept(self) -> Channel:
        if self._sock is not None:
            conn, _ = self._sock.accept()
            self._sock.close()
            self._sock = None
            if self._path:
                try:
                    os.unlink(self._path)
                except OSError:
                    pass
            return _socket_channel(conn)
        if self._proc is not None:
            out = self._proc.stdout
            return Channel(read=out.read, close=out.close)
        if self.kind == "fd":
            f = os.fdopen(self._fd, "rb")
            return Channel(read=f.read, close=f.close)
        return Channel(read=self._file.read, close=self._file.close)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
