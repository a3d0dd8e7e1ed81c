"""The virtio-mmio transport's registers: identification, feature
negotiation, queue setup, interrupt acknowledge and reset."""

from __future__ import annotations

from pyqemu.hw.virtio.rng import VirtioRng
from virtio_driver import (ACK, DRIVER, FEATURES_OK, INT_ACK, INT_STATUS, QUEUE_NUM_MAX,
                           QUEUE_READY, QUEUE_SEL, STATUS, VERSION_1, Driver, make_machine)


def test_identification_and_empty_slots(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    assert (d.r(0x0), d.r(0x4), d.r(0x8), d.r(0xC)) == (0x74726976, 2, 4, 0x554D4551)
    empty = Driver(m, slot=0)
    assert (empty.r(0x0), empty.r(0x8)) == (0x74726976, 0)
    empty.w(STATUS, ACK)                          # writes to an empty slot are ignored
    assert empty.r(STATUS) == 0


def test_modern_needs_version_1(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    assert d.features() & VERSION_1
    status = d.init(accept=d.features() & ~VERSION_1)
    assert not status & FEATURES_OK                # the device refuses a legacy driver
    status = d.init()
    assert status == ACK | DRIVER | FEATURES_OK | 4


def test_legacy_offers_no_version_1(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=True)
    d = Driver(m, slot=7, qsize=8)
    assert d.r(0x4) == 1 and not d.features() & VERSION_1


def test_queue_setup_interrupt_and_reset(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    d.init()
    d.w(QUEUE_SEL, 0)
    assert d.r(QUEUE_NUM_MAX) == 8 and d.r(QUEUE_READY) == 1
    d.w(QUEUE_SEL, 1)
    assert d.r(QUEUE_NUM_MAX) == 0                 # no second queue
    d.submit(0, [(4, True)])
    assert d.r(INT_STATUS) == 1 and m.virtio[7].irq.level == 1
    d.w(INT_ACK, 1)
    assert m.virtio[7].irq.level == 0
    # the driver suppresses interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT)
    d.bus.write_bytes(d.queues[0]["avail"], b"\1\0")
    assert d.submit(0, [(4, True)])[1] == 4
    assert d.r(INT_STATUS) == 0
    d.w(STATUS, 0)
    d.w(QUEUE_SEL, 0)
    assert d.r(STATUS) == 0 and d.r(QUEUE_READY) == 0
    # a machine reset resets the transport too
    d.init()
    m.reset()
    assert d.r(STATUS) == 0
