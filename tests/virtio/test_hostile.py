"""A driver that breaks the ring protocol makes the device need a reset
(DEVICE_NEEDS_RESET, a guest error), never crashes the emulator, and never
moves a byte outside guest RAM."""

from __future__ import annotations

import struct

import pytest

from pyqemu.hw.virtio.rng import VirtioRng
from virtio_driver import (DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, NEEDS_RESET, STATUS,
                           Driver, make_machine)


@pytest.fixture(params=[True, False], ids=["legacy", "modern"])
def driver(request, tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=request.param)
    d = Driver(m, slot=7, qsize=8)
    d.init()
    return d


def needs_reset(d: Driver) -> bool:
    return bool(d.r(STATUS) & NEEDS_RESET)


def test_descriptor_loop(driver):
    d = driver
    buf = d.alloc(8)
    table = d.queues[0]["desc"]
    d.write_desc(table, 0, buf, 8, DESC_F_WRITE | DESC_F_NEXT, 1)
    d.write_desc(table, 1, buf, 8, DESC_F_WRITE | DESC_F_NEXT, 0)
    d.offer(0, 0)
    assert needs_reset(d) and d.used(0) is None
    if d.r(0x4) == 2:
        assert d.r(0x60) & 2               # config-change interrupt tells the driver
    d.w(STATUS, 0)                           # a reset brings the device back
    assert not needs_reset(d)
    d.init()
    assert d.submit(0, [(8, True)])[1] == 8


@pytest.mark.parametrize("addr,length", [
    (0x0, 16),                      # not RAM
    (0x10001000, 16),               # MMIO: a device must not DMA into registers
    (0x80000000 + (128 << 20) - 8, 16),   # runs off the end of RAM
    (0x80400000, 0xFFFFFFFF),       # huge length
])
def test_buffer_outside_ram(driver, addr, length):
    d = driver
    before = d.bus.read_bytes(0x80000000 + (128 << 20) - 8, 8)
    d.write_desc(d.queues[0]["desc"], 0, addr, length, DESC_F_WRITE, 0)
    d.offer(0, 0)
    assert needs_reset(d) and d.used(0) is None
    assert d.bus.read_bytes(0x80000000 + (128 << 20) - 8, 8) == before


def test_indexes_out_of_range(driver):
    d = driver
    d.offer(0, 200)                          # head beyond the queue size
    assert needs_reset(d)


def test_next_out_of_range(driver):
    d = driver
    d.write_desc(d.queues[0]["desc"], 0, d.alloc(8), 8, DESC_F_WRITE | DESC_F_NEXT, 9)
    d.offer(0, 0)
    assert needs_reset(d)


def test_avail_index_runs_ahead(driver):
    d = driver
    d.bus.write_bytes(d.queues[0]["avail"] + 2, struct.pack("<H", 100))
    d.w(0x50, 0)
    assert needs_reset(d)


def test_indirect_inside_indirect_and_ring_outside_ram(driver):
    d = driver
    inner = d.alloc(16)
    d.write_desc(inner, 0, inner, 16, DESC_F_INDIRECT, 0)
    d.write_desc(d.queues[0]["desc"], 0, inner, 16, DESC_F_INDIRECT, 0)
    d.offer(0, 0)
    assert needs_reset(d)


def test_unknown_queue_and_ring_outside_ram(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    d.init()
    d.w(0x50, 5)                             # no queue 5: ignored
    assert not needs_reset(d)
    d.w(0x30, 0)
    d.w(0x90, 0x1000)                        # avail ring in the boot ROM area... then MMIO
    d.w(0x90, 0x10000000)
    d.w(0x50, 0)
    assert needs_reset(d)
