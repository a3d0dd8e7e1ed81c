"""A RISC-V hart: architectural state, the memory access paths (softmmu
TLB, MMU, PMP), trap entry and return, interrupts, and its execution loop
over translation blocks.

The translated code (any backend) sees the register file `r` (x0-x31,
f0-f31, then temporaries), the per-mode TLB dictionaries `tlb_r`/`tlb_w`
for its fast path, and calls `load_slow`/`store_slow` on a miss.
"""

from __future__ import annotations

import struct

from ...accel.tcg.cpu_exec import SliceEnd
from ...memory.address_space import AddressSpace, GuestMemoryError
from ...memory.region import RamRegion
from . import csr as C
from . import mmu
from .csr import CSRFile
from .hpm import HpmCounters
from .pmp import PMP
from .translate import FLAG_FS_SHIFT, EndBlock, Translator
from .trap import ACCESS_FAULT, FETCH, LOAD, MISALIGNED, STORE, Cause, GuestTrap
from .triggers import Triggers

PAGE = 4096
PAGE_MASK = ~(PAGE - 1)

# Extensions in decode-table terms, and the ISA string the device tree shows.
EXTENSIONS = {"I", "M", "A", "F", "D", "C", "CF", "CD", "Zicsr", "Zifencei", "Priv",
              "Zba", "Zbb", "Zbs"}
ISA_EXT_STRING = "imafdc_zicntr_zicsr_zifencei_zihpm_zba_zbb_zbs_sstc"

_UNPACK = {(1, False): struct.Struct("<B"), (2, False): struct.Struct("<H"),
           (4, False): struct.Struct("<I"), (8, False): struct.Struct("<Q"),
           (1, True): struct.Struct("<b"), (2, True): struct.Struct("<h"),
           (4, True): struct.Struct("<i"), (8, True): struct.Struct("<q")}

# Interrupt priority order (privileged spec 3.1.9): MEI, MSI, MTI, SEI, SSI, STI.
_IRQ_ORDER = (11, 3, 7, 9, 1, 5)


class RISCVCPU:
    def __init__(self, hart_id: int, xlen: int, bus: AddressSpace, *, clock=None,
                 timebase=None, backend=None, sstc: bool = True, log=None):
        self.hart_id = hart_id
        self.xlen = xlen
        self.xmask = (1 << xlen) - 1
        self.bus = bus
        self.clock = clock
        self.timebase = timebase or (lambda: 0)   # the `time` CSR source (10 MHz ticks)
        self.has_sstc = sstc
        self.log = log
        self.isa_string = f"rv{xlen}{ISA_EXT_STRING}"
        self.misa = ((2 if xlen == 64 else 1) << (xlen - 2)) | sum(
            1 << (ord(ch) - ord("A")) for ch in "ACDFIMSU")
        self.pmp = PMP(xlen)
        self.triggers = Triggers(xlen)
        self.translator = Translator(xlen, EXTENSIONS)
        if backend is None:
            from ...accel.tcg.interp import InterpBackend
            backend = InterpBackend()
        self.backend = backend
        self.r = [0] * (64 + 1024)       # GPRs, FPRs, block temporaries
        # A native backend keeps the registers (and its TLB and block table)
        # in native memory it shares with this object: cpu.r becomes a view.
        attach = getattr(backend, "attach", None)
        self.native = attach(self) if attach is not None else None
        self.hpm = HpmCounters(self)
        self.csrs = CSRFile(self)
        self._stimecmp_timer = clock.timer(self._update_stip) if (clock and sstc) else None
        self.reset()

    # -- reset ------------------------------------------------------------------
    def reset(self, pc: int = 0x1000) -> None:
        self.r[:64] = [0] * 64
        self.pc = pc
        self.priv = 3
        self.mstatus = C.UXL_SXL_64 if self.xlen == 64 else 0
        self.medeleg = self.mideleg = 0
        self.mie = 0
        self.mip_sw = 0        # bits software wrote (SSIP, STIP, SEIP)
        self.mip_hw = 0        # bits devices drive (MSIP, MTIP, MEIP, SEIP, Sstc's STIP)
        self.mip = 0
        self.mtvec = self.stvec = 0
        self.mepc = self.sepc = self.mcause = self.scause = self.mtval = self.stval = 0
        self.mscratch = self.sscratch = 0
        self.satp = 0
        self.mcounteren = self.scounteren = self.mcountinhibit = 0
        self.hpm.reset()
        self.menvcfg = self.senvcfg = 0
        self.stimecmp = self.xmask if self.xlen == 64 else (1 << 64) - 1
        self.fflags = self.frm = 0
        self.instret = 0
        # The vCPU loop's end of this hart's slice, in instret (native code
        # stops there; see SLICE_INSNS in accel/tcg/cpu_exec.py).
        self.slice_end = 1 << 63
        self.cycle_offset = 0
        self.reservation = None
        self.waiting = False
        self.cur_insn = 0
        self.tlbs: dict[tuple, tuple[dict, dict]] = {}
        # Translated blocks live in `tb_phys`, keyed by (flags, virtual pc,
        # physical pc): a block stays valid across sfence.vma, satp writes
        # and fence.i as long as its page maps to the same physical code and
        # those bytes did not change (the Linux kernel fences thousands of
        # times while it boots; retranslating after each would dominate).
        # In front of it, one *jump cache* per set of translation flags maps
        # a virtual pc to its block, so the per-block lookup hashes an int;
        # `tb_cur` is the jump cache for the current flags. Fences clear the
        # jump caches only. code_pages maps a physical page to the tb_phys
        # keys of the blocks made from it.
        self.tb_caches: dict[int, dict[int, object]] = {}
        self.tb_cur: dict[int, object] = {}
        self.tb_phys: dict[tuple[int, int, int], object] = {}
        self.code_pages: dict[int, set] = {}
        # fence.i generation: a block made in an older generation is checked
        # against the bytes in memory before it runs again (DMA and other
        # harts write code without passing through this hart's store path).
        self.code_gen = 0
        # (priv, vpn) -> ppn of pages that instruction fetch may read whole
        # (RAM, PMP-allowed): a hit needs no walk and no check.
        self.itlb: dict[tuple[int, int], int] = {}
        # The superpages the TLBs hold 4 KiB pieces of, as {log2 size: {va >> size}}:
        # `sfence.vma vaddr` inside one of them flushes everything.
        self.tlb_superpages: dict[int, set[int]] = {}
        self._update_mmu_state()

    # -- state the code depends on -------------------------------------------------
    def tb_flags(self) -> int:
        return self.priv | (((self.mstatus >> C.FS_SHIFT) & 3) << FLAG_FS_SHIFT)

    def _update_mmu_state(self) -> None:
        """Select the TLBs for the current effective data privilege, SUM and MXR."""
        priv = self.priv
        if priv == 3 and self.mstatus & C.MPRV:
            priv = (self.mstatus >> C.MPP_SHIFT) & 3
        self.data_priv = priv
        # Translation flags: cached here because every privilege or mstatus
        # change passes through this method, and the block lookup needs them.
        self._set_flags()
        key = (priv, bool(self.mstatus & C.SUM), bool(self.mstatus & C.MXR))
        pair = self.tlbs.get(key)
        if pair is None:
            pair = self.tlbs[key] = ({}, {})
        self.tlb_r, self.tlb_w = pair
        if self.native is not None:
            self.native.select_tlb(key)

    def flush_tlb(self) -> None:
        for r, w in self.tlbs.values():
            r.clear()
            w.clear()
        self.itlb.clear()
        self.tlb_superpages.clear()
        if self.native is not None:
            self.native.flush_tlb()

    def flush_tlb_page(self, va: int) -> None:
        """sfence.vma with an address: forget the translations of its page
        only (the Linux kernel fences each fixmap and text-patching page
        this way, thousands of times while it boots). Blocks stay reachable
        unless code was fetched from that page."""
        va &= self.xmask
        for shift, regions in self.tlb_superpages.items():
            if va >> shift in regions:
                # Cached in 4 KiB pieces that this fence also concerns.
                self.flush_tlb()
                self.flush_jump_caches()
                return
        vpn = va >> 12
        for r, w in self.tlbs.values():
            r.pop(vpn, None)
            w.pop(vpn, None)
        itlb = self.itlb
        fetched = itlb.pop((0, vpn), None) is not None
        fetched = itlb.pop((1, vpn), None) is not None or fetched
        if self.native is not None:
            self.native.flush_tlb_page(vpn)
        if fetched:
            # A block from this page (or straddling into it) may be in a
            # jump cache: every block made from it was fetched through the
            # itlb entry just dropped.
            self.flush_jump_caches()

    def _note_superpage(self, va: int, shift: int) -> None:
        if 12 < shift < 64:
            regions = self.tlb_superpages.get(shift)
            if regions is None:
                regions = self.tlb_superpages[shift] = set()
            regions.add(va >> shift)

    def flush_jump_caches(self) -> None:
        """Forget which block a virtual pc runs (the mapping may have
        changed); the blocks themselves stay in tb_phys."""
        for cache in self.tb_caches.values():
            cache.clear()           # cleared in place: tb_cur stays the live one
        if self.native is not None:
            self.native.flush_blocks()

    def flush_translations(self) -> None:
        """Drop every translated block (PMP and trigger changes: fetch
        permissions and breakpoints are decided at translation time)."""
        self.flush_jump_caches()
        self.tb_phys.clear()
        self.code_pages.clear()

    def sync_code(self) -> None:
        """fence.i: later fetches see every earlier store, including stores
        by DMA and by other harts. Blocks are re-checked against memory
        lazily, on their next jump-cache miss."""
        self.code_gen += 1
        self.flush_jump_caches()

    def _set_flags(self) -> None:
        flags = self.flags = self.tb_flags()
        cur = self.tb_caches.get(flags)
        if cur is None:
            cur = self.tb_caches[flags] = {}
        self.tb_cur = cur

    def set_fs_dirty(self) -> None:
        self.mstatus |= C.FS
        self._set_flags()

    # -- CSR side effects ---------------------------------------------------------
    def read_mstatus(self) -> int:
        v = self.mstatus
        if (v & C.FS) == C.FS:
            v |= 1 << (self.xlen - 1)          # SD
        return v & self.xmask

    def write_mstatus(self, v: int, mask: int) -> None:
        new = (self.mstatus & ~mask) | (v & mask)
        if ((new >> C.MPP_SHIFT) & 3) == 2:     # MPP is WARL: 2 (H) does not exist
            new = (new & ~C.MPP) | (self.mstatus & C.MPP)
        self.mstatus = new
        self._update_mmu_state()

    def write_tvec(self, name: str, v: int) -> None:
        if (v & 3) < 2:                          # modes >= 2 are reserved: keep the old value
            setattr(self, name, v)

    def write_mie(self, v: int) -> None:
        self.mie = v

    def write_mideleg(self, v: int) -> None:
        self.mideleg = v

    def _stce(self) -> bool:
        return self.has_sstc and bool(self.menvcfg & C.MENVCFG_STCE)

    def write_mip(self, v: int, mask: int) -> None:
        if self._stce():
            # Sstc with STCE: STIP is read-only, it follows stimecmp alone.
            mask &= ~C.STIP
        self.mip_sw = (self.mip_sw & ~mask) | (v & mask)
        self._recompute_mip()

    def _recompute_mip(self) -> None:
        sw = self.mip_sw
        if sw & C.STIP and self._stce():
            sw &= ~C.STIP          # a software STIP from before STCE was set
        self.mip = sw | self.mip_hw

    def set_irq(self, bit: int, level: int) -> None:
        """A device drives interrupt line `bit` of mip (MSIP, MTIP, MEIP, SEIP)."""
        if level:
            self.mip_hw |= 1 << bit
        else:
            self.mip_hw &= ~(1 << bit)
        self._recompute_mip()
        if level:
            self.waiting = False if (self.mip & self.mie) else self.waiting

    def write_satp(self, v: int) -> None:
        if self.xlen == 32:
            mode = v >> 31
            v &= 0xFFFFFFFF
        else:
            mode = v >> 60
            v &= (0xF << 60) | (0xFFFF << 44) | ((1 << 44) - 1)
        if not mmu.satp_mode_supported(self.xlen, mode):
            return                               # unsupported mode: the write is ignored
        self.satp = v
        self.flush_tlb()
        self.flush_jump_caches()

    def write_menvcfg(self, v: int) -> None:
        self.menvcfg = v
        self._update_stip()

    def write_stimecmp(self, v: int) -> None:
        self.stimecmp = v
        self._update_stip()

    def _update_stip(self) -> None:
        """Sstc: STIP follows time >= stimecmp while menvcfg.STCE is set."""
        if not self.has_sstc:
            return
        timer = self._stimecmp_timer
        if self.menvcfg & C.MENVCFG_STCE:
            now = self.timebase()
            if now >= self.stimecmp:
                self.mip_hw |= C.STIP
                if timer:
                    timer.cancel()
            else:
                self.mip_hw &= ~C.STIP
                if timer:
                    # 10 MHz ticks -> ns; the callback re-evaluates.
                    timer.arm_in((self.stimecmp - now) * 100)
        else:
            self.mip_hw &= ~C.STIP
            if timer:
                timer.cancel()
        self._recompute_mip()

    def pmp_write(self, fn, i, v) -> None:
        fn(i, v)
        # Fetch permissions are checked at translation time: blocks go too.
        self.flush_tlb()
        self.flush_translations()

    def write_trigger(self, num: int, v: int) -> None:
        self.triggers.write_csr(num, v)
        self.flush_tlb()
        self.flush_translations()

    # counters
    def read_instret(self) -> int:
        return self.instret & 0xFFFFFFFFFFFFFFFF

    def write_instret(self, v: int) -> None:
        # The writing instruction itself retires after the write: compensate.
        self.instret = v - 1

    def read_cycle(self) -> int:
        return (self.instret + self.cycle_offset) & 0xFFFFFFFFFFFFFFFF

    def write_cycle(self, v: int) -> None:
        self.cycle_offset = v - self.instret - 1

    def read_time(self) -> int:
        return self.timebase()

    # -- memory: the slow paths and the TLB fill --------------------------------------
    def translate_data(self, va: int, size: int, access: int) -> int:
        # A page in the data TLB is RAM that the PMP allows whole for this
        # access: its physical page is in the entry (the atomics' path,
        # which has no inline fast path, walks the tables otherwise).
        e = (self.tlb_w if access == STORE else self.tlb_r).get(va >> 12)
        if e is not None and (va & 0xFFF) + size <= PAGE:
            return e[2] | (va & 0xFFF)
        priv = self.data_priv
        if priv == 3 or self.satp == 0:
            pa = va
        else:
            ms = self.mstatus
            pa, shift = mmu.translate_sized(self, va, access, priv, bool(ms & C.SUM), bool(ms & C.MXR))
            if shift != 12:
                self._note_superpage(va, shift)
        if not self.pmp.check(pa, size, access, priv):
            raise GuestTrap(ACCESS_FAULT[access], va)
        return pa

    def _fill(self, va: int, pa: int, access: int, priv: int) -> None:
        if self.triggers.any_mem:
            return
        m = self.bus.find(pa)
        if m is None or not isinstance(m.region, RamRegion):
            return
        ppage = pa & PAGE_MASK
        if ppage < m.base or ppage + PAGE > m.end:
            return
        if access == STORE and (m.region.readonly or (ppage >> 12) in self.code_pages):
            return
        if not self.pmp.page_allowed(ppage, access, priv):
            return
        # (host buffer, offset from the guest address, physical page)
        entry = (m.region.mem, (ppage - m.base) - (va & PAGE_MASK), ppage)
        (self.tlb_w if access == STORE else self.tlb_r)[va >> 12] = entry

    def _access_check(self, va: int, size: int, access: int) -> int:
        # Triggers match the mode the hart is in, not the MPRV one (as QEMU 7.2).
        if self.triggers.any_mem and self.triggers.match_mem(va, size, access, self.priv):
            raise GuestTrap(Cause.BREAKPOINT, 0)      # mtval 0, as QEMU 7.2
        pa = self.translate_data(va, size, access)
        self._fill(va, pa, access, self.data_priv)
        return pa

    def phys_read(self, pa: int, size: int, va: int | None = None) -> int:
        try:
            return self.bus.read(pa, size)
        except GuestMemoryError:
            raise GuestTrap(Cause.LOAD_ACCESS_FAULT, pa if va is None else va) from None

    def phys_write(self, pa: int, size: int, value: int, va: int | None = None) -> None:
        ppn = pa >> 12
        if ppn in self.code_pages:
            self._invalidate_code_page(ppn)
        try:
            self.bus.write(pa, size, value)
        except GuestMemoryError:
            raise GuestTrap(Cause.STORE_ACCESS_FAULT, pa if va is None else va) from None

    def load_slow(self, va: int, size: int, signed: bool) -> int:
        if va & (size - 1) and (va & 0xFFF) + size > PAGE:
            # Misaligned across a page: check both pages before reading either.
            first = PAGE - (va & 0xFFF)
            pa0 = self._access_check(va, first, LOAD)
            pa1 = self._access_check((va + first) & self.xmask, size - first, LOAD)
            v = self.phys_read(pa0, first, va) | (self.phys_read(pa1, size - first, va + first) << (8 * first))
        else:
            pa = self._access_check(va, size, LOAD)
            if va & (size - 1):
                # Emulated misaligned access within a page: bytewise from the bus.
                v = 0
                for i in range(size):
                    v |= self.phys_read(pa + i, 1, va) << (8 * i)
            else:
                v = self.phys_read(pa, size, va)
        if signed and v >> (size * 8 - 1):
            v -= 1 << (size * 8)
        return v & ((1 << 64) - 1)

    def store_slow(self, va: int, size: int, value: int) -> None:
        value &= (1 << (8 * size)) - 1
        if va & (size - 1) and (va & 0xFFF) + size > PAGE:
            first = PAGE - (va & 0xFFF)
            pa0 = self._access_check(va, first, STORE)
            pa1 = self._access_check((va + first) & self.xmask, size - first, STORE)
            for i in range(first):
                self.phys_write(pa0 + i, 1, value >> (8 * i), va)
            for i in range(size - first):
                self.phys_write(pa1 + i, 1, value >> (8 * (first + i)), va)
            return
        pa = self._access_check(va, size, STORE)
        if va & (size - 1):
            for i in range(size):
                self.phys_write(pa + i, 1, value >> (8 * i), va)
        else:
            self.phys_write(pa, size, value, va)
        if self.reservation is not None and self.reservation[0] >> 3 == pa >> 3:
            self.reservation = None

    # -- instruction fetch (translation time) ---------------------------------------------
    def _fetch_translate(self, va: int, first: bool) -> int:
        ppn = self.itlb.get((self.priv, va >> 12))
        if ppn is not None:
            return (ppn << 12) | (va & 0xFFF)
        return self._fetch_translate_miss(va, first)

    def _fetch_translate_miss(self, va: int, first: bool) -> int:
        priv = self.priv
        try:
            if priv == 3 or self.satp == 0:
                pa = va
            else:
                ms = self.mstatus
                pa, shift = mmu.translate_sized(self, va, FETCH, priv, bool(ms & C.SUM), bool(ms & C.MXR))
                if shift != 12:
                    self._note_superpage(va, shift)
            if not self.pmp.check(pa, 2, FETCH, priv):
                raise GuestTrap(Cause.INSN_ACCESS_FAULT, va)
            m = self.bus.find(pa)
            if m is None or not isinstance(m.region, RamRegion) or pa + 2 > m.end:
                raise GuestTrap(Cause.INSN_ACCESS_FAULT, va)
        except GuestTrap:
            if first:
                raise
            raise EndBlock() from None
        ppage = pa & PAGE_MASK
        if m.base <= ppage and ppage + PAGE <= m.end and self.pmp.page_allowed(ppage, FETCH, priv):
            self.itlb[(priv, va >> 12)] = pa >> 12
        return pa

    def fetch_insn(self, pc: int, first: bool):
        pa = self._fetch_translate(pc, first)
        lo = self.bus.read(pa, 2)
        if lo & 3 != 3:
            return lo, 2, (pa >> 12,)
        pc2 = (pc + 2) & self.xmask
        if (pc2 & 0xFFF) == 0:
            pa2 = self._fetch_translate(pc2, first)
        else:
            pa2 = pa + 2
        hi = self.bus.read(pa2, 2)
        return lo | (hi << 16), 4, (pa >> 12, pa2 >> 12)

    # -- translated code -----------------------------------------------------------------------
    def lookup_tb(self):
        """The block for the current pc and flags: from tb_phys when its code
        is still mapped at this pc and unchanged, else newly translated."""
        pc, flags = self.pc, self.flags
        pa = self._fetch_translate(pc, True)
        key = (flags, pc, pa)
        tb = self.tb_phys.get(key)
        if tb is not None and (tb.gen != self.code_gen or len(tb.src) > 1) \
                and not self._still_valid(tb):
            self._drop_block(key)
            tb = None
        if tb is None:
            tb = self.translator.translate(self, pc, flags)
            self.backend.compile(tb)
            tb.src = self._code_segments(pc, pa, tb.size)
            tb.code_bytes = self._read_code(tb.src)
            tb.gen = self.code_gen
            pages = self.code_pages
            for ppn in tb.phys_pages:
                if ppn not in pages:
                    pages[ppn] = set()
                    # The page now holds code: stores to it must take the slow
                    # path so they can invalidate.
                    for _r, w in self.tlbs.values():
                        w.clear()
                    if self.native is not None:
                        self.native.code_page_added(ppn)
                pages[ppn].add(key)
            self.tb_phys[key] = tb
            if self.log and self.log.enabled("in_asm"):
                self.log.in_asm(self, tb)
        self.tb_cur[pc] = tb
        return tb

    def _code_segments(self, pc: int, pa: int, size: int) -> tuple:
        """The physical byte ranges a block was made from: one, or two when
        its last instruction straddles a page boundary."""
        first = min(size, PAGE - (pc & 0xFFF))
        if first >= size:
            return ((pa, size),)
        try:
            pa2 = self._fetch_translate((pc + first) & self.xmask, True)
        except GuestTrap:
            return ((pa, first),)
        return ((pa, first), (pa2, size - first))

    def _read_code(self, segments) -> bytes | None:
        if len(segments) == 1:
            # The common case (compared again after each fence.i): no concatenation.
            pa, n = segments[0]
            m = self.bus.find(pa)
            if m is None or not isinstance(m.region, RamRegion) or pa + n > m.end:
                return None
            off = pa - m.base
            return m.region.mem[off:off + n]
        out = b""
        for pa, n in segments:
            m = self.bus.find(pa)
            if m is None or not isinstance(m.region, RamRegion) or pa + n > m.end:
                return None
            off = pa - m.base
            out += m.region.mem[off:off + n]        # an mmap: slicing copies to bytes
        return out

    def _still_valid(self, tb) -> bool:
        """A block found by physical pc: its second page (if any) must still
        map where it did, and after a fence.i its bytes must be unchanged."""
        src = tb.src
        if len(src) > 1:
            va2 = (self.pc + src[0][1]) & self.xmask
            try:
                if self._fetch_translate(va2, True) != src[1][0]:
                    return False
            except GuestTrap:
                return False
        if tb.gen != self.code_gen:
            if tb.code_bytes is None or self._read_code(src) != tb.code_bytes:
                return False
            tb.gen = self.code_gen
        return True

    def _drop_block(self, key) -> None:
        tb = self.tb_phys.pop(key, None)
        if tb is None:
            return
        if self.native is not None:
            self.native.flush_blocks()
        cache = self.tb_caches.get(key[0])
        if cache is not None and cache.get(key[1]) is tb:
            del cache[key[1]]
        for ppn in tb.phys_pages:
            keys = self.code_pages.get(ppn)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.code_pages[ppn]

    def _invalidate_code_page(self, ppn: int) -> None:
        """A store hit a page holding code: drop the blocks made from it."""
        for key in list(self.code_pages.get(ppn, ())):
            self._drop_block(key)
        self.code_pages.pop(ppn, None)

    # -- traps --------------------------------------------------------------------------------
    def take_trap(self, cause: int, tval: int, interrupt: bool = False) -> None:
        epc = self.pc
        deleg = self.mideleg if interrupt else self.medeleg
        code = cause | (1 << (self.xlen - 1)) if interrupt else cause
        if self.log and self.log.enabled("int"):
            self.log.trap(self, cause, tval, interrupt)
        if self.priv <= 1 and (deleg >> cause) & 1:
            self.scause = code
            self.sepc = epc
            self.stval = tval & self.xmask
            ms = self.mstatus
            ms = (ms & ~C.SPIE) | (C.SPIE if ms & C.SIE else 0)
            ms = (ms & ~C.SPP) | (C.SPP if self.priv == 1 else 0)
            self.mstatus = ms & ~C.SIE
            self.priv = 1
            vec = self.stvec
        else:
            self.mcause = code
            self.mepc = epc
            self.mtval = tval & self.xmask
            ms = self.mstatus
            ms = (ms & ~C.MPIE) | (C.MPIE if ms & C.MIE else 0)
            ms = (ms & ~C.MPP) | (self.priv << C.MPP_SHIFT)
            self.mstatus = ms & ~C.MIE
            self.priv = 3
            vec = self.mtvec
        base = vec & ~3 & self.xmask
        self.pc = base + 4 * cause if (interrupt and vec & 1) else base
        self.reservation = None
        self._update_mmu_state()

    def pending_interrupt(self) -> int | None:
        pending = self.mip & self.mie
        if not pending:
            return None
        priv = self.priv
        ms = self.mstatus
        m_enabled = priv < 3 or bool(ms & C.MIE)
        s_enabled = priv < 1 or (priv == 1 and bool(ms & C.SIE))
        m_pending = pending & ~self.mideleg if m_enabled else 0
        s_pending = pending & self.mideleg if s_enabled else 0
        for bit in _IRQ_ORDER:
            if m_pending >> bit & 1:
                return bit
        for bit in _IRQ_ORDER:
            if s_pending >> bit & 1:
                return bit
        return None

    def do_mret(self) -> int:
        ms = self.mstatus
        mpp = (ms >> C.MPP_SHIFT) & 3
        ms = (ms & ~C.MIE) | (C.MIE if ms & C.MPIE else 0)
        ms |= C.MPIE
        ms &= ~C.MPP
        if mpp != 3:
            ms &= ~C.MPRV
        self.mstatus = ms
        self.priv = mpp
        self.reservation = None
        self._update_mmu_state()
        return self.mepc & self.xmask

    def do_sret(self, insn: int) -> int:
        ms = self.mstatus
        if self.priv == 1 and ms & C.TSR:
            raise GuestTrap(Cause.ILLEGAL_INSN, insn)
        spp = 1 if ms & C.SPP else 0
        ms = (ms & ~C.SIE) | (C.SIE if ms & C.SPIE else 0)
        ms |= C.SPIE
        ms &= ~C.SPP
        ms &= ~C.MPRV
        self.mstatus = ms
        self.priv = spp
        self.reservation = None
        self._update_mmu_state()
        return self.sepc & self.xmask

    def do_wfi(self, insn: int) -> None:
        if self.priv == 0 or (self.priv == 1 and self.mstatus & C.TW):
            raise GuestTrap(Cause.ILLEGAL_INSN, insn)
        if not (self.mip & self.mie):
            self.waiting = True

    def do_sfence_vma(self, insn: int, vaddr: int | None = None) -> None:
        """sfence.vma; `vaddr` None for rs1 = x0 (every address). The ASID
        operand is not looked at: the TLBs are not tagged with one, so
        every address space's entries go (as the spec allows)."""
        if self.priv == 1 and self.mstatus & C.TVM:
            raise GuestTrap(Cause.ILLEGAL_INSN, insn)
        if vaddr is not None:
            self.flush_tlb_page(vaddr)
            return
        self.flush_tlb()
        self.flush_jump_caches()

    # -- execution ------------------------------------------------------------------------------
    def run_slice(self, max_tbs: int, events) -> None:
        """Run up to max_tbs translation blocks; return early when the hart
        waits for an interrupt or another thread posted work."""
        for _ in range(max_tbs):
            if self.mip & self.mie:
                if self.waiting:
                    self.waiting = False
                irq = self.pending_interrupt()
                if irq is not None:
                    self.take_trap(irq, 0, True)
            elif self.waiting:
                return
            try:
                tb = self.tb_cur.get(self.pc)
                if tb is None:
                    tb = self.lookup_tb()
                tb.code(self)
            except GuestTrap as t:
                self.take_trap(t.cause, t.tval)
            except SliceEnd:
                return
            if events.pending:
                return

    def run_observed(self, max_tbs: int, events, before) -> None:
        """run_slice calling `before(tb)` ahead of each block: the -d exec/cpu
        trace, the Python API's hooks. A False return leaves that block unrun
        and ends the slice."""
        if self.native is not None:
            # Native code must not chain past the next block: `before` sees each.
            self.native.one_block = True
            try:
                self._run_observed(max_tbs, events, before)
            finally:
                self.native.one_block = False
            return
        self._run_observed(max_tbs, events, before)

    def _run_observed(self, max_tbs: int, events, before) -> None:
        for _ in range(max_tbs):
            if self.waiting:
                if self.mip & self.mie:
                    self.waiting = False
                else:
                    return
            if self.mip & self.mie:
                irq = self.pending_interrupt()
                if irq is not None:
                    self.take_trap(irq, 0, True)
            try:
                tb = self.lookup_tb()
                if before(tb) is False:
                    return
                tb.code(self)
            except GuestTrap as t:
                self.take_trap(t.cause, t.tval)
            except SliceEnd:
                return
            if events.pending:
                return
