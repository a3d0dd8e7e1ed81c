"""Goldfish RTC (Android emulator's real-time clock; QEMU virt at 0x101000, PLIC IRQ 11).

Time is nanoseconds since the Unix epoch, taken from the host's wall clock
plus an offset the guest changes by writing TIME_LOW or TIME_HIGH (each
replaces that half of the current time, as on QEMU). Reading TIME_LOW
latches the high half, so a LOW-then-HIGH read pair is consistent. The
registers span 0x24 bytes (QEMU's window; it faults above them).
The alarm fires once, as a Timer on the virtual clock, and raises the IRQ
while IRQ_ENABLED is set and the interrupt has not been cleared.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Callable

from pyqemu.hw.irq import IRQLine
from pyqemu.migration.vmstate import VMStateDescription, boolean, i64, u32, u64
from pyqemu.system.clock import VirtualClock

_guest_errors = logging.getLogger("pyqemu.guest_errors")
_MASK32 = 0xFFFF_FFFF


class GoldfishRtcReg(enum.IntEnum):
    """Register offsets (goldfish RTC, 32-bit registers)."""
    TIME_LOW = 0x00
    TIME_HIGH = 0x04
    ALARM_LOW = 0x08
    ALARM_HIGH = 0x0C
    IRQ_ENABLED = 0x10
    CLEAR_ALARM = 0x14
    ALARM_STATUS = 0x18
    CLEAR_INTERRUPT = 0x1C


class GoldfishRtc:
    # Migrated state (pyqemu/migration/vmstate.py). The guest-set time is an
    # offset from host wall-clock time, so it carries over between hosts.
    VMSTATE = VMStateDescription("goldfish_rtc", 1, 1, (
        i64("_tick_offset"), u32("_time_high"), u64("_alarm_next"),
        boolean("_alarm_running"), boolean("_irq_enabled"), boolean("_irq_pending"),
    ), post_load="_vmstate_post_load")

    def _vmstate_post_load(self, version_id: int) -> None:
        self._alarm_timer.cancel()
        if self._alarm_running:
            self._set_alarm()
        self._irq.level = int(self._irq_pending and self._irq_enabled)

    def __init__(self, clock: VirtualClock, irq: IRQLine,
                 log: Callable[[str], None] | None = None):
        self._clock = clock
        self._irq = irq
        self._log = log or _guest_errors.info
        self._alarm_timer = clock.timer(self._alarm_fired)
        # Guest-set time minus host wall-clock time; kept across reset, as a
        # real battery-backed clock keeps its time across a reboot.
        self._tick_offset = 0
        self.reset()

    def reset(self) -> None:
        self._time_high = 0
        self._alarm_next = 0
        self._alarm_running = False
        self._irq_enabled = False
        self._irq_pending = False
        self._alarm_timer.cancel()
        self._update_irq()

    def now_ns(self) -> int:
        """The guest's RTC time in ns since the epoch."""
        return time.time_ns() + self._tick_offset

    def mmio_read(self, offset: int, size: int) -> int:
        if size != 4:
            self._log(f"goldfish_rtc: invalid read of size {size} at offset {offset:#x}")
            return 0
        if offset == GoldfishRtcReg.TIME_LOW:
            now = self.now_ns()
            self._time_high = (now >> 32) & _MASK32
            return now & _MASK32
        if offset == GoldfishRtcReg.TIME_HIGH:
            return self._time_high
        if offset == GoldfishRtcReg.ALARM_LOW:
            return self._alarm_next & _MASK32
        if offset == GoldfishRtcReg.ALARM_HIGH:
            return (self._alarm_next >> 32) & _MASK32
        if offset == GoldfishRtcReg.IRQ_ENABLED:
            return int(self._irq_enabled)
        if offset == GoldfishRtcReg.ALARM_STATUS:
            return int(self._alarm_running)
        self._log(f"goldfish_rtc: read of write-only or unknown offset {offset:#x}")
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if size != 4:
            self._log(f"goldfish_rtc: invalid write of size {size} at offset {offset:#x}")
            return
        value &= _MASK32
        if offset in (GoldfishRtcReg.TIME_LOW, GoldfishRtcReg.TIME_HIGH):
            shift = 0 if offset == GoldfishRtcReg.TIME_LOW else 32
            now = self.now_ns()
            new_time = (now & ~(_MASK32 << shift)) | (value << shift)
            self._tick_offset += new_time - now
            if self._alarm_running:
                self._arm_alarm()
        elif offset == GoldfishRtcReg.ALARM_LOW:
            self._alarm_next = (self._alarm_next & ~_MASK32) | value
            self._set_alarm()
        elif offset == GoldfishRtcReg.ALARM_HIGH:
            self._alarm_next = (self._alarm_next & _MASK32) | (value << 32)
        elif offset == GoldfishRtcReg.IRQ_ENABLED:
            self._irq_enabled = bool(value & 1)
            self._update_irq()
        elif offset == GoldfishRtcReg.CLEAR_ALARM:
            self._alarm_timer.cancel()
            self._alarm_running = False
        elif offset == GoldfishRtcReg.CLEAR_INTERRUPT:
            self._irq_pending = False
            self._update_irq()
        else:
            self._log(f"goldfish_rtc: write to read-only or unknown offset {offset:#x}")

    def _set_alarm(self) -> None:
        if self._alarm_next <= self.now_ns():
            self._alarm_timer.cancel()
            self._alarm_fired()
        else:
            self._alarm_running = True
            self._arm_alarm()

    def _arm_alarm(self) -> None:
        # The alarm is in wall-clock time; the timer runs on virtual time, so
        # convert the distance, not the absolute value.
        self._alarm_timer.arm_in(self._alarm_next - self.now_ns())

    def _alarm_fired(self) -> None:
        self._alarm_running = False
        self._irq_pending = True
        self._update_irq()

    def _update_irq(self) -> None:
        level = int(self._irq_pending and self._irq_enabled)
        if level != self._irq.level:
            self._irq.set(level)
