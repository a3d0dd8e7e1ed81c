"""Character-device backends (stdio, null, file) and `-serial` parsing."""

from pyqemu.chardev.base import Chardev, ChardevError
from pyqemu.chardev.parse import parse_serial

__all__ = ["Chardev", "ChardevError", "parse_serial"]
