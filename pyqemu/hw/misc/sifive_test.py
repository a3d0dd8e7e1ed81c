"""SiFive test device ("finisher"): how a guest powers the virt board off.

A write to offset 0 carries a status in its low 16 bits and, for a failure,
an exit code in the high 16 bits (QEMU's virt maps it at 0x100000; Linux
reaches it through the syscon-poweroff/syscon-reboot nodes of the device tree).
"""

from __future__ import annotations

import enum
import logging
from typing import Callable
from pyqemu.migration.vmstate import VMStateDescription

_guest_errors = logging.getLogger("pyqemu.guest_errors")


class FinisherStatus(enum.IntEnum):
    FAIL = 0x3333    # exit code in bits 31:16
    PASS = 0x5555
    RESET = 0x7777


class SifiveTest:
    # No state of its own: an empty section, so a stream that lacks the
    # device (another board) is still noticed.
    VMSTATE = VMStateDescription("riscv.sifive.test", 1, 1, ())

    """Calls `on_shutdown(exit_code)` or `on_reset()`; reads return 0."""

    # QEMU accepts 2- and 4-byte writes at offset 0; a 2-byte one has no code.
    _VALID_SIZES = (2, 4)

    def __init__(self, on_shutdown: Callable[[int], None], on_reset: Callable[[], None],
                 log: Callable[[str], None] | None = None):
        self._on_shutdown = on_shutdown
        self._on_reset = on_reset
        self._log = log or _guest_errors.info

    def reset(self) -> None:
        """Stateless: nothing to reset."""

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset != 0 or size not in self._VALID_SIZES:
            self._log(f"sifive_test: invalid write of size {size} at offset {offset:#x}")
            return
        status = value & 0xFFFF
        code = (value >> 16) & 0xFFFF
        if status == FinisherStatus.PASS:
            self._on_shutdown(0)
        elif status == FinisherStatus.FAIL:
            self._on_shutdown(code)
        elif status == FinisherStatus.RESET:
            self._on_reset()
        else:
            self._log(f"sifive_test: unknown finisher value {value:#x}")
