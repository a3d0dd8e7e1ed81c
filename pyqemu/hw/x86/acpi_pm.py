"""The hardware-reduced ACPI power management registers microvm's FADT
points at (ACPI 6.x 4.8.3.7 Sleep Control and Status Registers, 4.8.3.6
Reset Register), on I/O ports:

    SLEEP_CONTROL  write SLP_EN | SLP_TYP << 2: SLP_TYP 5 (the DSDT's \\_S5)
                   powers the machine off
    SLEEP_STATUS   reads 0 (never woken)
    RESET          write RESET_VALUE: a reset

so an ACPI guest (Linux `poweroff`/`reboot`) ends or restarts the emulator.
"""

from __future__ import annotations

from typing import Callable

SLEEP_CONTROL_PORT = 0x600
SLEEP_STATUS_PORT = 0x601
RESET_PORT = 0x602
PORT_COUNT = 3
RESET_VALUE = 0x01
SLP_EN = 1 << 5
SLP_TYP_SHIFT, SLP_TYP_MASK = 2, 0x7
S5_SLEEP_TYPE = 5


class AcpiPm:
    def __init__(self, on_poweroff: Callable[[], None], on_reset: Callable[[], None],
                 log: Callable[[str], None] | None = None):
        self._poweroff = on_poweroff
        self._reset = on_reset
        self._log = log

    def reset(self) -> None:
        pass

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        port = SLEEP_CONTROL_PORT + offset
        if port == SLEEP_CONTROL_PORT and value & SLP_EN:
            sleep_type = (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK
            if sleep_type == S5_SLEEP_TYPE:
                self._poweroff()
            elif self._log:
                self._log(f"acpi-pm: sleep type {sleep_type} not supported (only S5)")
        elif port == RESET_PORT and value == RESET_VALUE:
            self._reset()
