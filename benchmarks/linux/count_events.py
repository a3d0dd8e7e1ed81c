"""Count what the system emulator does while the Debian Linux guest boots:
blocks translated and retranslated, jump-cache misses, fence.i byte
compares, TLB misses and page walks, helper calls by kind, CSR accesses,
MMIO accesses by device, traps by cause, instructions per block.

Usage: .venv/bin/python benchmarks/linux/count_events.py OUT.json [pyqemu-system args...]

Runs `pyqemu-system-riscv64` in this process with counting wrappers around
the methods that make those events (it is slower than a plain run: the
counts are the point, not the time). The counts are written to OUT.json
every few seconds and when the console shows the initramfs marker, under
"at_marker", and at exit.
"""
from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time

from pyqemu.memory.address_space import AddressSpace
from pyqemu.memory.region import RamRegion
from pyqemu.target.riscv import cpu as cpu_mod
from pyqemu.target.riscv import csr as csr_mod
from pyqemu.target.riscv import mmu as mmu_mod
from pyqemu.target.riscv.translate import Translator

MARKER = "PYQEMU-LINUX-GUEST: userspace reached"

counts: collections.Counter = collections.Counter()
by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_seen_keys: set = set()
_start = time.perf_counter()
_snap: dict = {}


def _wrap(cls, name, before):
    orig = getattr(cls, name)

    def wrapper(*args, **kw):
        before(*args, **kw)
        return orig(*args, **kw)
    setattr(cls, name, wrapper)


def _install() -> None:
    RISCVCPU = cpu_mod.RISCVCPU

    _wrap(RISCVCPU, "lookup_tb", lambda cpu: counts.update(["jump_cache_miss"]))

    orig_translate = Translator.translate

    def translate(self, cpu, pc, flags):
        counts["translated"] += 1
        key = (flags, pc, cpu._fetch_translate(pc, True))
        if key in _seen_keys:
            counts["retranslated"] += 1
        _seen_keys.add(key)
        blk = orig_translate(self, cpu, pc, flags)
        counts["translated_insns"] += blk.n_insns
        return blk
    Translator.translate = translate

    orig_valid = RISCVCPU._still_valid

    def still_valid(cpu, tb):
        if tb.gen != cpu.code_gen:
            counts["byte_compared"] += 1
        ok = orig_valid(cpu, tb)
        if not ok:
            counts["found_stale"] += 1
        return ok
    RISCVCPU._still_valid = still_valid

    orig_mmu = mmu_mod.translate

    def walk(cpu, vaddr, access, priv, sum_, mxr):
        counts["page_walk"] += 1
        by_kind["page_walk_access"][("fetch", "load", "store")[access]] += 1
        return orig_mmu(cpu, vaddr, access, priv, sum_, mxr)
    mmu_mod.translate = walk

    _wrap(RISCVCPU, "load_slow", lambda cpu, va, size, signed: counts.update(["dtlb_miss_load"]))
    _wrap(RISCVCPU, "store_slow", lambda cpu, va, size, value: counts.update(["dtlb_miss_store"]))

    orig_fetch = RISCVCPU._fetch_translate

    def fetch_translate(cpu, va, first):
        counts["fetch_translate"] += 1
        if not (cpu.priv == 3 or cpu.satp == 0) and (cpu.priv, va >> 12) not in cpu.itlb:
            counts["itlb_miss"] += 1
        return orig_fetch(cpu, va, first)
    RISCVCPU._fetch_translate = fetch_translate

    _wrap(RISCVCPU, "flush_tlb", lambda cpu: counts.update(["tlb_flush"]))
    _wrap(RISCVCPU, "flush_jump_caches", lambda cpu: counts.update(["jump_cache_flush"]))
    _wrap(RISCVCPU, "sync_code", lambda cpu: counts.update(["fence_i"]))
    _wrap(RISCVCPU, "_invalidate_code_page", lambda cpu, ppn: counts.update(["code_page_invalidated"]))

    def trap(cpu, cause, tval, interrupt=False):
        kind = ("irq" if interrupt else "exc") + f"{cause} from priv {cpu.priv}"
        by_kind["trap"][kind] += 1
    _wrap(RISCVCPU, "take_trap", trap)

    def csr_access(self, num, kind, operand, writes, reads):
        by_kind["csr"][f"{num:#05x} priv {self.cpu.priv}"] += 1
    _wrap(csr_mod.CSRFile, "access", csr_access)

    def mmio(bus, addr, size, *value):
        m = bus.find(addr)
        if m is not None and not isinstance(m.region, RamRegion):
            by_kind["mmio"][m.region.name + (" write" if value else " read")] += 1
    _wrap(AddressSpace, "read", mmio)
    _wrap(AddressSpace, "write", mmio)

    # Helper calls by kind: each CALL op's helper is wrapped once at translation.
    wrapped: dict[int, object] = {}
    orig_call = Translator.call

    def call(self, fn, *args, d=None):
        w = wrapped.get(id(fn))
        if w is None:
            label = getattr(fn, "__qualname__", repr(fn))
            hc = by_kind["helper"]

            def w(*a, _fn=fn, _label=label):
                hc[_label] += 1
                return _fn(*a)
            wrapped[id(fn)] = w
            wrapped[id(w)] = w
        return orig_call(self, w, *args, d=d)
    Translator.call = call

    # Blocks executed: counted in a copy of run_slice's loop.
    from pyqemu.accel.tcg.cpu_exec import SliceEnd
    from pyqemu.target.riscv.trap import GuestTrap

    def run_slice(self, max_tbs, events):
        for _ in range(max_tbs):
            if self.mip & self.mie:
                if self.waiting:
                    self.waiting = False
                irq = self.pending_interrupt()
                if irq is not None:
                    self.take_trap(irq, 0, True)
            elif self.waiting:
                counts["wfi_idle_return"] += 1
                return
            try:
                tb = self.tb_cur.get(self.pc)
                if tb is None:
                    tb = self.lookup_tb()
                counts["blocks_executed"] += 1
                tb.code(self)
            except GuestTrap as t:
                self.take_trap(t.cause, t.tval)
            except SliceEnd:
                return
            if events.pending:
                return
    RISCVCPU.run_slice = run_slice

    # Instructions: read from the hart when the snapshot is taken.
    orig_init = RISCVCPU.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        _harts.append(self)
    RISCVCPU.__init__ = init


_harts: list = []


def _snapshot() -> dict:
    out = dict(counts)
    out["seconds"] = round(time.perf_counter() - _start, 1)
    out["instret"] = sum(h.instret for h in _harts)
    if counts["blocks_executed"]:
        out["insns_per_block_executed"] = round(out["instret"] / counts["blocks_executed"], 2)
    if counts["translated"]:
        out["insns_per_block_translated"] = round(counts["translated_insns"] / counts["translated"], 2)
    for k, c in by_kind.items():
        out[k] = dict(c.most_common())
    return out


def _write(path: str) -> None:
    data = {"now": _snapshot()}
    if _snap:
        data["at_marker"] = _snap
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _watch_console() -> None:
    """Take the marker snapshot when the marker passes the UART."""
    from pyqemu.hw.char import ns16550a
    cls = ns16550a.Ns16550a
    orig = cls.mmio_write
    line = bytearray()

    def mmio_write(self, offset, size, value):
        if offset == 0 and not _snap:
            line.append(value & 0xFF)
            if value == 10:
                if MARKER.encode() in line:
                    _snap.update(_snapshot())
                    _write(_path)
                line.clear()
        return orig(self, offset, size, value)
    cls.mmio_write = mmio_write


_path = ""


def main() -> None:
    global _path
    _path = sys.argv[1]
    _install()
    _watch_console()

    def periodic():
        while True:
            time.sleep(5)
            _write(_path)
    threading.Thread(target=periodic, daemon=True).start()
    real_exit = os._exit

    def exit_(code):
        _write(_path)
        real_exit(code)
    os._exit = exit_
    sys.argv = ["pyqemu-system-riscv64"] + sys.argv[2:]
    from pyqemu.cli.system import main_riscv64
    main_riscv64()


if __name__ == "__main__":
    main()
