"""Character-device backends (stdio, null, file) and `-serial` parsing."""

from pyqemu.chardev.base import Chardev, ChardevError

__all__ = ["Chardev", "ChardevError", "parse_serial"]


def __getattr__(name: str):
    # parse_serial pulls in every backend's module; importing a submodule
    # (chardev.base, from a UART) must not (PEP 562 lazy attribute).
    if name == "parse_serial":
        from pyqemu.chardev.parse import parse_serial
        return parse_serial
    raise AttributeError(f"module 'pyqemu.chardev' has no attribute {name!r}")
