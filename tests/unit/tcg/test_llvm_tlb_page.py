"""The native softmmu TLB forgets one page on sfence.vma with an address
(cpu.flush_tlb_page), in every (privilege, SUM, MXR) set, loads and stores,
and keeps every other entry, including one in the same slot."""

from __future__ import annotations

from pyqemu.accel.tcg.llvm_state import TLB_ENTRIES, TLB_WRITE, NativeState, Word, tlb_index

INVALID = 0xFFFFFFFFFFFFFFFF


def _entry(nat: NativeState, store: bool, page: int) -> int:
    return nat.words[nat.words[Word.TLB_SET] + (TLB_WRITE if store else 0) + 2 * tlb_index(page)]


def test_flush_tlb_page_drops_that_page_only():
    nat = NativeState()
    page, other, same_slot = 0x80123, 0x80124, 0x80123 + TLB_ENTRIES
    for key in ((1, False, False), (0, False, False)):
        nat.select_tlb(key)
        for store in (False, True):
            nat.fill_tlb(store, page, 0x1000)
            nat.fill_tlb(store, other, 0x2000)
    nat.flush_tlb_page(page)
    for key in ((1, False, False), (0, False, False)):
        nat.select_tlb(key)
        for store in (False, True):
            assert _entry(nat, store, page) == INVALID
            assert _entry(nat, store, other) == other
    # A different page in the slot is not the fenced one: it stays.
    nat.fill_tlb(False, same_slot, 0x3000)
    nat.flush_tlb_page(page)
    assert _entry(nat, False, same_slot) == same_slot
