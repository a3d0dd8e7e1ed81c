"""isa-debug-exit: a port a test guest writes to end the emulator with a
status. As QEMU's device: any write of value v ends the process with exit
status (v << 1) | 1, so a guest can never fake a plain 0 ("success of the
emulator itself"); reads return all ones. Defaults iobase 0x501, iosize 2."""

from __future__ import annotations

from typing import Callable

DEFAULT_IOBASE = 0x501
DEFAULT_IOSIZE = 2


def exit_status(value: int) -> int:
    """The process exit status for a written value (the shell sees 8 bits)."""
    return ((value << 1) | 1) & 0xFF


class IsaDebugExit:
    def __init__(self, on_exit: Callable[[int], None], iobase: int = DEFAULT_IOBASE,
                 iosize: int = DEFAULT_IOSIZE):
        self.iobase = iobase
        self.iosize = iosize
        self._on_exit = on_exit

    def reset(self) -> None:
        pass

    def mmio_read(self, offset: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self._on_exit(exit_status(value))
