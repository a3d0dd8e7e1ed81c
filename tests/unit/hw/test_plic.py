"""PLIC behaviour from the RISC-V PLIC specification (priority, threshold,
claim/complete, level-triggered gateways) on QEMU virt's layout."""

from __future__ import annotations

import pytest

from pyqemu.hw.intc.plic import Plic
from .recording_hart import RecordingHart

MEIP, SEIP = 11, 9
PRIORITY, PENDING, ENABLE, CONTEXT = 0x0, 0x1000, 0x2000, 0x200000


def enable(plic, ctx, *sources):
    words = {}
    for src in sources:
        words[src // 32] = words.get(src // 32, 0) | (1 << (src % 32))
    for word, bits in words.items():
        plic.mmio_write(ENABLE + 0x80 * ctx + 4 * word, 4, bits)


def claim(plic, ctx):
    return plic.mmio_read(CONTEXT + 0x1000 * ctx + 4, 4)


def complete(plic, ctx, src):
    plic.mmio_write(CONTEXT + 0x1000 * ctx + 4, 4, src)


def threshold(plic, ctx, value):
    plic.mmio_write(CONTEXT + 0x1000 * ctx, 4, value)


def priority(plic, src, value):
    plic.mmio_write(PRIORITY + 4 * src, 4, value)


@pytest.fixture
def harts():
    return [RecordingHart(), RecordingHart()]


@pytest.fixture
def plic(harts):
    return Plic(harts)


def test_source_needs_priority_and_enable(plic, harts):
    line = plic.irq_line(10)
    line.raise_()
    assert plic.mmio_read(PENDING, 4) == 1 << 10
    assert harts[0].level(MEIP) == 0          # priority 0: never interrupts
    priority(plic, 10, 1)
    assert harts[0].level(MEIP) == 0          # not enabled
    enable(plic, 0, 10)
    assert harts[0].level(MEIP) == 1
    assert harts[0].level(SEIP) == 0 and harts[1].level(MEIP) == 0


def test_contexts_map_to_harts_and_modes(plic, harts):
    priority(plic, 5, 1)
    plic.irq_line(5).raise_()
    enable(plic, 3, 5)                        # hart 1, S-mode
    assert harts[1].level(SEIP) == 1
    assert harts[1].level(MEIP) == 0 and harts[0].level(MEIP) == 0 and harts[0].level(SEIP) == 0
    assert claim(plic, 3) == 5
    assert harts[1].level(SEIP) == 0


def test_threshold_masks_priorities_at_or_below_it(plic, harts):
    priority(plic, 1, 3)
    enable(plic, 0, 1)
    plic.irq_line(1).raise_()
    threshold(plic, 0, 3)
    assert harts[0].level(MEIP) == 0
    assert claim(plic, 0) == 0                # nothing above threshold to claim
    threshold(plic, 0, 2)
    assert harts[0].level(MEIP) == 1
    assert plic.mmio_read(CONTEXT, 4) == 2


def test_claim_picks_highest_priority_then_lowest_id(plic, harts):
    for src, prio in ((3, 2), (7, 5), (9, 5), (40, 1)):
        priority(plic, src, prio)
        plic.irq_line(src).raise_()
    enable(plic, 0, 3, 7, 9, 40)
    assert plic.mmio_read(PENDING, 4) == (1 << 3) | (1 << 7) | (1 << 9)
    assert plic.mmio_read(PENDING + 4, 4) == 1 << (40 - 32)
    order = [claim(plic, 0) for _ in range(5)]
    assert order == [7, 9, 3, 40, 0]
    assert harts[0].level(MEIP) == 0


def test_claim_clears_pending_and_gateway_holds_until_complete(plic, harts):
    priority(plic, 10, 1)
    enable(plic, 0, 10)
    line = plic.irq_line(10)
    line.raise_()
    assert claim(plic, 0) == 10
    assert plic.mmio_read(PENDING, 4) == 0
    # Level still high, but no new request until completion.
    line.lower()
    line.raise_()
    assert plic.mmio_read(PENDING, 4) == 0 and harts[0].level(MEIP) == 0
    complete(plic, 0, 10)
    # Still high at completion: pending again at once.
    assert plic.mmio_read(PENDING, 4) == 1 << 10 and harts[0].level(MEIP) == 1
    assert claim(plic, 0) == 10
    line.lower()
    complete(plic, 0, 10)
    assert plic.mmio_read(PENDING, 4) == 0 and harts[0].level(MEIP) == 0


def test_pending_stays_when_the_line_drops_before_the_claim(plic, harts):
    priority(plic, 10, 1)
    enable(plic, 0, 10)
    line = plic.irq_line(10)
    line.raise_()
    line.lower()
    assert plic.mmio_read(PENDING, 4) == 1 << 10 and harts[0].level(MEIP) == 1
    assert claim(plic, 0) == 10
    complete(plic, 0, 10)                     # line low at completion: nothing new
    assert plic.mmio_read(PENDING, 4) == 0 and harts[0].level(MEIP) == 0


def test_completion_for_source_not_enabled_is_ignored(plic, harts):
    logged = []
    plic = Plic(harts, log=logged.append)
    priority(plic, 4, 1)
    enable(plic, 0, 4)
    plic.irq_line(4).raise_()
    assert claim(plic, 0) == 4
    complete(plic, 2, 4)                      # hart 1's M context: not enabled there
    assert plic.mmio_read(PENDING, 4) == 0
    assert logged
    complete(plic, 0, 4)
    assert plic.mmio_read(PENDING, 4) == 1 << 4


def test_claimed_by_one_context_not_offered_to_another(plic, harts):
    priority(plic, 2, 1)
    enable(plic, 0, 2)
    enable(plic, 2, 2)
    plic.irq_line(2).raise_()
    assert harts[0].level(MEIP) == 1 and harts[1].level(MEIP) == 1
    assert claim(plic, 2) == 2
    assert harts[0].level(MEIP) == 0
    assert claim(plic, 0) == 0


def test_register_widths_and_reserved_bits(plic, harts):
    priority(plic, 1, 0xFFFF_FFFF)
    assert plic.mmio_read(PRIORITY + 4, 4) == 7             # 3 priority bits, as QEMU virt
    enable(plic, 0)                                          # no-op
    plic.mmio_write(ENABLE, 4, 0xFFFF_FFFF)
    assert plic.mmio_read(ENABLE, 4) == 0xFFFF_FFFF          # as QEMU; source 0 never pends
    plic.mmio_write(ENABLE + 8, 4, 0xFFFF_FFFF)
    assert plic.mmio_read(ENABLE + 8, 4) == 0xFFFF_FFFF      # sources 64..95
    threshold(plic, 1, 9)
    assert plic.mmio_read(CONTEXT + 0x1000, 4) == 1


def test_bad_accesses_are_logged_not_raised(harts):
    logged = []
    plic = Plic(harts, log=logged.append)
    assert plic.mmio_read(PRIORITY + 4, 1) == 0
    plic.mmio_write(PRIORITY + 4, 8, 5)
    assert plic.mmio_read(PRIORITY + 4, 4) == 0
    assert plic.mmio_read(CONTEXT + 0x1000 * 4, 4) == 0     # only 4 contexts for 2 harts
    plic.mmio_write(PENDING, 4, 0xFFFF_FFFF)                 # pending is read-only
    assert plic.mmio_read(PENDING, 4) == 0
    assert plic.mmio_read(0x1FFFF0, 4) == 0
    assert len(logged) == 5


def test_reset_keeps_line_levels(plic, harts):
    priority(plic, 6, 1)
    enable(plic, 1, 6)
    plic.irq_line(6).raise_()
    assert harts[0].level(SEIP) == 1
    plic.reset()
    assert harts[0].level(SEIP) == 0
    assert plic.mmio_read(PENDING, 4) == 1 << 6              # the device still asserts it
    assert plic.mmio_read(PRIORITY + 24, 4) == 0


def test_no_such_source():
    with pytest.raises(ValueError, match="source 96"):
        Plic([RecordingHart()]).irq_line(96)
