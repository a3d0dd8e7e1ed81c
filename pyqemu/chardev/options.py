"""`-chardev BACKEND,id=ID,...` and the legacy forms `-serial`, `-qmp` and
`-monitor` accept (`unix:PATH,server=on,wait=off`, `tcp:HOST:PORT,...`,
`stdio`, `mon:stdio`, `pty`, `null`, `file:PATH`, `chardev:ID`).

Option names and defaults follow qapi/char.json (ChardevSocket: server off,
wait on for servers; legacy `-qmp`/`-monitor` sockets are servers).
"""

from __future__ import annotations

from pyqemu.chardev.base import Chardev, ChardevError
from pyqemu.chardev.file import FileChardev
from pyqemu.chardev.null import NullChardev
from pyqemu.chardev.pty import PtyChardev
from pyqemu.chardev.ringbuf import RingbufChardev
from pyqemu.chardev.stdio import StdioChardev
from pyqemu.util.keyval import split_commas

BACKENDS = ("stdio", "socket", "file", "pty", "null", "ringbuf")


def _bool(value: str, key: str, spec: str) -> bool:
    if value in ("on", "yes", "true", ""):
        return True
    if value in ("off", "no", "false"):
        return False
    raise ChardevError(f"{spec}: Parameter '{key}' expects 'on' or 'off'")


def _keyvals(parts: list[str], spec: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in parts:
        if not p:
            continue
        k, eq, v = p.partition("=")
        if not eq:
            # `server`, `nowait` style flags of the legacy syntax
            if k.startswith("no"):
                out[k[2:]] = "off"
            else:
                out[k] = "on"
        else:
            out[k] = v
    return out


class ChardevRegistry(dict):
    """label -> Chardev; `-chardev` ids and the implicit ones (serial0,
    compat_monitor0, ...) with QEMU's names."""

    def add(self, chardev: Chardev, label: str) -> Chardev:
        if label in self:
            raise ChardevError(f"attempt to add duplicate property '{label}' to object (type "
                               "'container')")
        chardev.label = label
        self[label] = chardev
        return chardev

    def info(self) -> list[tuple[str, str, bool]]:
        """(label, filename, frontend-open) as QEMU's query-chardev: the
        filename is the backend's kind ("file", "ringbuf", "null", "stdio")
        or its address, "disconnected:" while a socket has no peer;
        frontend-open says a device or monitor is attached."""
        # Imported here: the socket backend pulls in asyncio, which a
        # command line without a socket chardev or monitor never needs.
        from pyqemu.chardev.socket import SocketChardev
        out = []
        for label, c in self.items():
            if isinstance(c, SocketChardev):
                filename = ("" if c.is_open else "disconnected:") + c.filename
            elif isinstance(c, FileChardev):
                filename = "file"
            elif isinstance(c, RingbufChardev):
                filename = "ringbuf"
            elif isinstance(c, StdioChardev):
                filename = "stdio"
            elif isinstance(c, PtyChardev):
                filename = c.filename
            else:
                filename = "null"
            attached = (getattr(c, "_receiver", None) is not None
                        or getattr(c, "frontend", None) is not None
                        or getattr(c, "monitor_sink", None) is not None)
            out.append((label, filename, attached))
        return out


def parse_chardev(optarg: str, registry: ChardevRegistry) -> Chardev:
    """`-chardev BACKEND,id=ID[,opts]`."""
    parts = split_commas(optarg)
    backend = parts[0]
    kv = _keyvals(parts[1:], f"-chardev {optarg}")
    label = kv.pop("id", None)
    if label is None:
        raise ChardevError(f"-chardev {optarg}: Parameter 'id' is missing")
    if backend not in BACKENDS:
        raise ChardevError(f"-chardev {optarg}: '{backend}' is not a valid char driver name")
    mux = _bool(kv.pop("mux", "off"), "mux", f"-chardev {optarg}")
    c = _make(backend, kv, label, f"-chardev {optarg}")
    if mux and isinstance(c, StdioChardev):
        c.mux = True
    return registry.add(c, label)


def _make(backend: str, kv: dict[str, str], label: str, spec: str) -> Chardev:
    def take(key, default=None):
        return kv.pop(key, default)

    if backend == "stdio":
        take("signal")
        c: Chardev = StdioChardev(mux=False)
    elif backend == "null":
        c = NullChardev()
    elif backend == "file":
        path = take("path")
        if path is None:
            raise ChardevError(f"{spec}: chardev: file: no filename given")
        c = FileChardev(path)
    elif backend == "pty":
        c = PtyChardev(label)
    elif backend == "ringbuf":
        size = take("size", "65536")
        try:
            n = int(size.rstrip("kK")) * (1024 if size[-1:] in "kK" else 1)
        except ValueError:
            raise ChardevError(f"{spec}: invalid size '{size}'") from None
        c = RingbufChardev(label, n)
    else:   # socket
        from pyqemu.chardev.socket import SocketChardev, check_tcp_port   # asyncio: only when asked for
        path, host, port = take("path"), take("host"), take("port")
        server = _bool(take("server", "off"), "server", spec)
        wait = _bool(take("wait", "on"), "wait", spec)
        take("telnet")
        try:
            reconnect = int(take("reconnect", "0"))
        except ValueError:
            raise ChardevError(f"{spec}: Parameter 'reconnect' expects a number") from None
        if path is None and port is None:
            raise ChardevError(f"{spec}: chardev: socket: no host given")
        if path is None:
            c = SocketChardev(label, host=host or "localhost", port=check_tcp_port(port, spec),
                              server=server, wait=wait, reconnect=reconnect)
        else:
            c = SocketChardev(label, path=path, server=server, wait=wait, reconnect=reconnect)
    for key in kv:
        raise ChardevError(f"{spec}: Invalid parameter '{key}'")
    return c


def parse_legacy(spec: str, label: str, registry: ChardevRegistry,
                 option: str, server_default: bool = False) -> Chardev | None:
    """The short forms of -serial/-monitor/-qmp. `server_default`: -qmp and
    -monitor sockets are servers even without `server`."""
    try:
        if spec == "none":
            return None
        if spec.startswith("chardev:"):
            name = spec[len("chardev:"):]
            if name not in registry:
                raise ChardevError(f"chardev '{name}' not found")
            return registry[name]
        mux = spec.startswith("mon:")
        body = spec[4:] if mux else spec
        parts = split_commas(body)
        head = parts[0]
        kv = _keyvals(parts[1:], f"{option} {spec}")
        if head.startswith("unix:"):
            kv["path"] = head[len("unix:"):]
            backend = "socket"
        elif head.startswith("tcp:"):
            host, _, port = head[len("tcp:"):].rpartition(":")
            kv["host"], kv["port"] = host or "0.0.0.0", port
            backend = "socket"
        elif head.startswith("file:"):
            kv["path"] = head[len("file:"):]
            backend = "file"
        elif head in ("stdio", "null", "pty"):
            backend = head
        else:
            raise ChardevError(f"'{spec}' is not a valid char driver")
        if backend == "socket" and server_default and "server" not in kv:
            kv["server"] = "on"
        c = _make(backend, kv, label, f"{option} {spec}")
        if mux and isinstance(c, StdioChardev):
            c.mux = True
        return registry.add(c, label)
    except ChardevError as e:
        if str(e).startswith(option):
            raise
        raise ChardevError(f"{option} {spec}: {e}") from None
