"""Goldfish RTC (wall-clock time, latching, alarm as a virtual-clock Timer) and
the SiFive test finisher."""

from __future__ import annotations

import time

import pytest

from pyqemu.hw.intc.plic import Plic
from pyqemu.hw.misc.sifive_test import SifiveTest
from pyqemu.hw.rtc.goldfish_rtc import GoldfishRtc
from pyqemu.system.clock import VirtualClock
from .recording_hart import RecordingHart

TIME_LOW, TIME_HIGH, ALARM_LOW, ALARM_HIGH = 0x00, 0x04, 0x08, 0x0C
IRQ_ENABLED, CLEAR_ALARM, ALARM_STATUS, CLEAR_INTERRUPT = 0x10, 0x14, 0x18, 0x1C
SEIP = 9


@pytest.fixture
def clock():
    clock = VirtualClock()
    clock.stop()
    return clock


@pytest.fixture
def wired(clock):
    """RTC on PLIC source 11, enabled for hart 0's S-mode context."""
    hart = RecordingHart()
    plic = Plic([hart])
    plic.mmio_write(4 * 11, 4, 1)
    plic.mmio_write(0x2080, 4, 1 << 11)
    line = plic.irq_line(11)
    rtc = GoldfishRtc(clock, line)
    rtc.line = line      # the RTC's own output, before the PLIC latches it
    return rtc, hart


def read_time(rtc):
    low = rtc.mmio_read(TIME_LOW, 4)
    return (rtc.mmio_read(TIME_HIGH, 4) << 32) | low


def test_time_is_host_wall_clock_ns(wired):
    rtc, _ = wired
    before = time.time_ns()
    now = read_time(rtc)
    after = time.time_ns()
    assert before <= now <= after


def test_reading_low_latches_high(wired):
    rtc, _ = wired
    rtc.mmio_write(TIME_HIGH, 4, 0x1234)
    rtc.mmio_write(TIME_LOW, 4, 0xFFFF_FFFF - 20_000_000)   # 20 ms before the carry
    low = rtc.mmio_read(TIME_LOW, 4)
    assert low > 0xFFFF_FFFF - 20_000_000
    time.sleep(0.05)                               # the real time has carried by now
    assert rtc.mmio_read(TIME_HIGH, 4) == 0x1234   # still the half latched with `low`
    assert read_time(rtc) >> 32 == 0x1235


def test_guest_sets_the_time(wired):
    rtc, _ = wired
    target = 1_000_000_000 * 86400 * 365           # 1971
    rtc.mmio_write(TIME_HIGH, 4, target >> 32)
    rtc.mmio_write(TIME_LOW, 4, target & 0xFFFF_FFFF)
    assert 0 <= read_time(rtc) - target < 1_000_000_000


def test_alarm_fires_on_the_virtual_clock(wired, clock):
    rtc, hart = wired
    rtc.mmio_write(IRQ_ENABLED, 4, 1)
    alarm = read_time(rtc) + 5_000_000_000         # 5 s ahead
    rtc.mmio_write(ALARM_HIGH, 4, alarm >> 32)
    rtc.mmio_write(ALARM_LOW, 4, alarm & 0xFFFF_FFFF)
    assert rtc.mmio_read(ALARM_STATUS, 4) == 1
    assert (rtc.mmio_read(ALARM_HIGH, 4) << 32 | rtc.mmio_read(ALARM_LOW, 4)) == alarm
    assert 4.9e9 < clock.next_deadline - clock.now_ns() <= 5e9
    clock.set_ns(clock.next_deadline)
    clock.run_expired()
    assert hart.level(SEIP) == 1
    assert rtc.mmio_read(ALARM_STATUS, 4) == 0
    rtc.mmio_write(CLEAR_INTERRUPT, 4, 1)
    assert rtc.line.level == 0


def test_alarm_in_the_past_fires_at_once_but_irq_needs_enable(wired, clock):
    rtc, hart = wired
    rtc.mmio_write(ALARM_HIGH, 4, 0)
    rtc.mmio_write(ALARM_LOW, 4, 1)
    clock.run_expired()
    assert rtc.line.level == 0                     # pending, not enabled
    rtc.mmio_write(IRQ_ENABLED, 4, 1)
    assert rtc.line.level == 1 and hart.level(SEIP) == 1
    assert rtc.mmio_read(IRQ_ENABLED, 4) == 1
    rtc.mmio_write(IRQ_ENABLED, 4, 0)
    assert rtc.line.level == 0


def test_clear_alarm_cancels(wired, clock):
    rtc, hart = wired
    rtc.mmio_write(IRQ_ENABLED, 4, 1)
    alarm = read_time(rtc) + 1_000_000
    rtc.mmio_write(ALARM_HIGH, 4, alarm >> 32)
    rtc.mmio_write(ALARM_LOW, 4, alarm & 0xFFFF_FFFF)
    rtc.mmio_write(CLEAR_ALARM, 4, 1)
    assert rtc.mmio_read(ALARM_STATUS, 4) == 0
    clock.set_ns(clock.now_ns() + 10_000_000)
    clock.run_expired()
    assert hart.level(SEIP) == 0


def test_rtc_bad_access_logged(clock):
    logged = []
    hart = RecordingHart()
    rtc = GoldfishRtc(clock, Plic([hart]).irq_line(11), log=logged.append)
    assert rtc.mmio_read(TIME_LOW, 8) == 0
    assert rtc.mmio_read(0x20, 4) == 0
    rtc.mmio_write(ALARM_STATUS, 4, 1)
    assert len(logged) == 3


def test_finisher_codes():
    events = []
    dev = SifiveTest(on_shutdown=lambda code: events.append(("off", code)),
                     on_reset=lambda: events.append(("reset",)), log=events.append)
    dev.mmio_write(0, 4, 0x5555)
    dev.mmio_write(0, 4, (3 << 16) | 0x3333)
    dev.mmio_write(0, 4, 0x7777)
    dev.mmio_write(0, 2, 0x3333)
    assert events == [("off", 0), ("off", 3), ("reset",), ("off", 0)]
    events.clear()
    dev.mmio_write(0, 4, 0x1234)                   # unknown value: ignored, logged
    dev.mmio_write(4, 4, 0x5555)                   # wrong offset
    dev.mmio_write(0, 1, 0x55)                     # wrong size
    assert len(events) == 3 and all(isinstance(e, str) for e in events)
    assert dev.mmio_read(0, 4) == 0
