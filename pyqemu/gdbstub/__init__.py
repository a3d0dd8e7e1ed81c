"""The GDB remote serial protocol stub (`-gdb`, `-s`, HMP `gdbserver`)."""

from .server import GdbServer, GdbServerError

__all__ = ["GdbServer", "GdbServerError"]
