"""Turning a `-serial` value into a chardev backend."""

from __future__ import annotations

from pyqemu.chardev.base import Chardev, ChardevError
from pyqemu.chardev.file import FileChardev
from pyqemu.chardev.null import NullChardev
from pyqemu.chardev.stdio import StdioChardev

# Other `-serial` forms QEMU accepts (its legacy chardev syntax), which pyqemu
# does not implement yet: named so the error says "not supported", not "invalid".
_QEMU_ONLY_PREFIXES = ("vc", "pty", "chardev:", "pipe:", "udp:", "tcp:", "telnet:", "websocket:",
                       "unix:", "msmouse", "wctablet", "braille", "testdev", "/dev/", "COM")


def parse_serial(spec: str, option: str = "-serial") -> Chardev | None:
    """`stdio`, `mon:stdio`, `null`, `none` (no device: returns None) or `file:PATH`.

    Raises ChardevError with a one-line message in QEMU's words, prefixed
    with the option and its value.
    """
    try:
        if spec == "none":
            return None
        if spec == "null":
            return NullChardev()
        if spec == "stdio":
            return StdioChardev(mux=False)
        if spec == "mon:stdio":
            # The monitor shares the line through the multiplexer; until there
            # is a monitor, that is stdio with the C-a escapes.
            return StdioChardev(mux=True)
        if spec.startswith("file:"):
            return FileChardev(spec[len("file:"):])
        backend = spec[len("mon:"):] if spec.startswith("mon:") else spec
        if backend.startswith(_QEMU_ONLY_PREFIXES):
            raise ChardevError(f"character backend '{backend}' is not supported by pyqemu "
                               "(supported: stdio, mon:stdio, null, none, file:PATH)")
        raise ChardevError(f"'{spec}' is not a valid char driver")
    except ChardevError as e:
        raise ChardevError(f"{option} {spec}: {e}") from None
