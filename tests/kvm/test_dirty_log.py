"""Dirty-page logging (KVM_GET_DIRTY_LOG) as the memory layer sees it: the
pages a guest writes, and only those, cleared by each read."""

from __future__ import annotations

from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine


def test_dirty_pages_are_the_guest_writes(guest):
    m = MicrovmMachine(MicrovmConfig(ram_size=64 << 20, kernel=guest("modes"), append="s=0",
                                     debug_exits=[(0xF4, 1)], no_reboot=True))
    m.set_dirty_logging(True)
    assert m.dirty_pages() == []            # the loader's writes are not the guest's
    assert m.run() == 1
    dirty = set(m.dirty_pages())
    # modes.S writes its status/stack/page tables in its image (from 1 MiB) and
    # copies its real-mode part to 0x8000; nothing else.
    assert 0x8000 in dirty
    assert any(0x100000 <= a < 0x110000 for a in dirty)
    assert all(a < 0x110000 for a in dirty), sorted(hex(a) for a in dirty)
    assert m.dirty_pages() == []            # cleared by the read
