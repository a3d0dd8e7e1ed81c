"""CLINT (ACLINT MSWI + MTIMER as QEMU virt's riscv,clint0) with a real VirtualClock."""

from __future__ import annotations

import time

import pytest

from pyqemu.hw.intc.aclint import Clint
from pyqemu.system.clock import NEVER, VirtualClock
from .recording_hart import RecordingHart

MSIP, MTIP = 3, 7
MTIMECMP, MTIME = 0x4000, 0xBFF8


@pytest.fixture
def clock():
    clock = VirtualClock()
    clock.stop()                # time moves only when the test says so
    clock.set_ns(1_000_000)     # 1 ms: mtime 10000
    return clock


@pytest.fixture
def harts():
    return [RecordingHart(), RecordingHart()]


@pytest.fixture
def clint(clock, harts):
    return Clint(clock, harts)


def test_mtime_runs_at_10mhz_off_the_virtual_clock(clock, clint):
    assert clint.ticks() == 10_000
    assert clint.mmio_read(MTIME, 8) == 10_000
    clock.set_ns(2_000_000_050)
    assert clint.mmio_read(MTIME, 8) == 20_000_000
    assert clint.mmio_read(MTIME, 4) == 20_000_000
    assert clint.mmio_read(MTIME + 4, 4) == 0


def test_msip_drives_msip_per_hart(clint, harts):
    clint.mmio_write(4, 4, 0xFFFF_FFFF)
    assert harts[1].level(MSIP) == 1 and harts[0].level(MSIP) == 0
    assert clint.mmio_read(4, 4) == 1
    clint.mmio_write(4, 4, 0)
    assert harts[1].level(MSIP) == 0


def test_mtip_follows_mtime_against_mtimecmp(clint, harts):
    # Reset value of mtimecmp is 0, so MTIP is up until software moves it.
    assert harts[0].level(MTIP) == 1 and harts[1].level(MTIP) == 1
    clint.mmio_write(MTIMECMP, 8, 10_001)
    assert harts[0].level(MTIP) == 0 and harts[1].level(MTIP) == 1
    clint.mmio_write(MTIMECMP + 8, 8, (1 << 64) - 1)
    assert harts[1].level(MTIP) == 0
    clint.mmio_write(MTIMECMP, 8, 10_000)
    assert harts[0].level(MTIP) == 1


def test_timer_fires_when_mtime_reaches_mtimecmp(clock, clint, harts):
    clint.mmio_write(MTIMECMP, 8, 10_000 + 25)       # 2.5 us from now
    clint.mmio_write(MTIMECMP + 8, 8, (1 << 64) - 1)
    assert clock.next_deadline == 1_002_500
    clock.set_ns(1_002_499)
    clock.run_expired()
    assert harts[0].level(MTIP) == 0
    clock.set_ns(1_002_500)
    clock.run_expired()
    assert harts[0].level(MTIP) == 1
    assert harts[0].calls[-1] == (MTIP, 1)
    assert clock.next_deadline == NEVER


def test_moving_mtimecmp_rearms_and_cancels(clock, clint, harts):
    clint.mmio_write(MTIMECMP + 8, 8, (1 << 64) - 1)
    clint.mmio_write(MTIMECMP, 8, 20_000)
    clint.mmio_write(MTIMECMP, 8, 30_000)
    clock.set_ns(2_500_000)
    clock.run_expired()
    assert harts[0].level(MTIP) == 0          # the 20000 deadline is gone
    clint.mmio_write(MTIMECMP, 8, (1 << 64) - 1)
    clock.set_ns(10_000_000)
    clock.run_expired()
    assert harts[0].level(MTIP) == 0
    assert clock.next_deadline == NEVER


def test_32bit_halves_of_mtimecmp_as_rv32_writes_them(clock, clint, harts):
    clint.mmio_write(MTIMECMP + 4, 4, 0xFFFF_FFFF)
    clint.mmio_write(MTIMECMP, 4, 0x0000_1000)
    clint.mmio_write(MTIMECMP + 4, 4, 0x1)
    assert clint.mmio_read(MTIMECMP, 8) == 0x1_0000_1000
    assert clint.mmio_read(MTIMECMP + 4, 4) == 1
    assert harts[0].level(MTIP) == 0


def test_writing_mtime_moves_time_and_reevaluates(clock, clint, harts):
    clint.mmio_write(MTIMECMP, 8, 50_000)
    clint.mmio_write(MTIMECMP + 8, 8, 1_000_000)
    clint.mmio_write(MTIME, 8, 60_000)
    assert clint.ticks() == 60_000
    assert harts[0].level(MTIP) == 1 and harts[1].level(MTIP) == 0
    clock.set_ns(1_100_000)                   # +100 us = +1000 ticks
    assert clint.mmio_read(MTIME, 8) == 61_000
    clint.mmio_write(MTIME + 4, 4, 0)         # high half only
    assert clint.ticks() == 61_000
    clint.mmio_write(MTIME, 4, 5)             # low half only: time went backwards
    assert clint.ticks() == 5
    assert harts[0].level(MTIP) == 0
    # The timer for hart 0 was re-armed against the new offset.
    clock.set_ns(1_100_000 + (50_000 - 5) * 100)
    clock.run_expired()
    assert harts[0].level(MTIP) == 1


def test_timer_fires_in_real_time():
    clock = VirtualClock()
    hart = RecordingHart()
    clint = Clint(clock, [hart])
    clint.mmio_write(MTIMECMP, 8, clint.ticks() + 20_000)   # 2 ms
    assert hart.level(MTIP) == 0
    start = time.monotonic()
    while hart.level(MTIP) == 0 and time.monotonic() - start < 2:
        time.sleep(max(0, (clock.next_deadline - clock.now_ns()) / 1e9))
        clock.run_expired()
    assert hart.level(MTIP) == 1
    assert clint.ticks() >= clint.mmio_read(MTIMECMP, 8)


def test_bad_accesses_are_logged(clock, harts):
    logged = []
    clint = Clint(clock, harts, log=logged.append)
    assert clint.mmio_read(8, 4) == 0          # msip of a third hart: none
    assert clint.mmio_read(MTIMECMP + 2, 4) == 0
    assert clint.mmio_read(MTIME, 2) == 0
    clint.mmio_write(0x8000, 4, 1)
    clint.mmio_write(0, 8, 1)
    assert harts[0].level(MSIP) == 0
    assert len(logged) == 5


def test_reset_drops_msip(clint, harts):
    clint.mmio_write(0, 4, 1)
    clint.reset()
    assert harts[0].level(MSIP) == 0 and clint.mmio_read(0, 4) == 0
