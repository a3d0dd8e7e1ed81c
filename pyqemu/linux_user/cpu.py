"""The RISC-V hart in user mode: the system emulator's CPU with privilege
U only, no satp or PMP. Guest virtual addresses are offsets into the host
mapping of `GuestMemory`; the page protection table replaces the MMU, and
a fault is a guest page fault that the process turns into a signal.
"""

from __future__ import annotations

import threading
import time

from ..target.riscv import csr as C
from ..target.riscv.cpu import PAGE, RISCVCPU
from ..target.riscv.op_helper import AMO_OPS
from ..target.riscv.translate import EndBlock, Translator
from ..target.riscv.trap import FETCH, PAGE_FAULT, STORE, Cause, GuestTrap
from .memory import MAPPED, PROT_EXEC, PROT_READ, PROT_WRITE

_NEED = {0: PROT_EXEC, 1: PROT_READ, 2: PROT_WRITE}

# Atomics of all guest threads serialise on one lock: LR/SC is done as
# QEMU does, SC succeeds when the word still holds the value LR read.
AMO_LOCK = threading.Lock()


def _sx(v, size):
    bits = size * 8
    return (v - (1 << bits) if v >> (bits - 1) else v) & 0xFFFFFFFFFFFFFFFF


def _amo_check(cpu, addr, size, access):
    if addr & (size - 1):
        raise GuestTrap(Cause.LOAD_MISALIGNED if access == 1 else Cause.STORE_MISALIGNED, addr)
    return cpu.translate_data(addr, size, access)


def _lr(cpu, addr, _src, size):
    _amo_check(cpu, addr, size, 1)
    with AMO_LOCK:
        v = cpu.mem.read(addr, size)
    cpu.lr_value = (addr, size, v)
    return _sx(v, size)


def _sc(cpu, addr, src, size):
    _amo_check(cpu, addr, size, STORE)
    res = cpu.lr_value
    cpu.lr_value = None
    if res is None or res[0] != addr or res[1] != size:
        return 1
    with AMO_LOCK:
        if cpu.mem.read(addr, size) != res[2]:
            return 1
        cpu.phys_write(addr, size, src)
    return 0


def _make_amo(fn, name):
    def amo(cpu, addr, src, size):
        _amo_check(cpu, addr, size, STORE)
        m = (1 << (size * 8)) - 1
        with AMO_LOCK:
            old = cpu.mem.read(addr, size)
            cpu.phys_write(addr, size, fn(old, src & m, size) & m)
        return _sx(old, size)
    # A closure has no importable name: it gives the JIT's code cache one.
    amo.jit_name = name
    return amo


USER_AMO = {"lr": _lr, "sc": _sc,
            **{op: _make_amo(fn, f"{__name__}.amo_{op}") for op, fn in AMO_OPS.items()}}


class UserTranslator(Translator):
    def _amo(self, a, op, size):
        from ..accel.tcg.ir import Const
        d = a.rd if a.rd else None
        self.call(USER_AMO[op], self.gpr(a.rs1), self.gpr(a.rs2), Const(size), d=d)


class UserCPU(RISCVCPU):
    def __init__(self, mem, backend=None):
        self.mem = mem
        t0 = time.monotonic_ns()
        super().__init__(0, 64, mem, backend=backend,
                         timebase=lambda: (time.monotonic_ns() - t0) // 100, sstc=False)
        self.translator = UserTranslator(64, self.translator.ext)
        self.lr_value = None
        self.priv = 0
        # Linux starts a process with FS "initial" and every counter readable.
        self.mstatus = (self.mstatus & ~C.FS) | (1 << C.FS_SHIFT)
        self.mcounteren = self.scounteren = 0xFFFFFFFF
        self._update_mmu_state()

    def copy_state_from(self, other: "UserCPU") -> None:
        self.r[:64] = other.r[:64]
        self.pc = other.pc
        self.mstatus = other.mstatus
        self.fflags, self.frm = other.fflags, other.frm
        self._update_mmu_state()

    # -- memory: the protection table is the MMU -------------------------------
    def translate_data(self, va: int, size: int, access: int) -> int:
        mem = self.mem
        need = _NEED[access] | MAPPED
        if va >= mem.size or mem.prot[va >> 12] & need != need:
            raise GuestTrap(PAGE_FAULT[access], va)
        last = va + size - 1
        if (last ^ va) >> 12 and (last >= mem.size or mem.prot[last >> 12] & need != need):
            raise GuestTrap(PAGE_FAULT[access], last & ~(PAGE - 1))
        return va

    def _fill(self, va: int, pa: int, access: int, priv: int) -> None:
        if access == STORE:
            if (va >> 12) in self.code_pages:
                return
            self.tlb_w[va >> 12] = (self.mem.buf, 0)
        else:
            self.tlb_r[va >> 12] = (self.mem.buf, 0)

    def _access_check(self, va: int, size: int, access: int) -> int:
        pa = self.translate_data(va, size, access)
        self._fill(va, pa, access, 0)
        return pa

    def phys_read(self, pa: int, size: int, va: int | None = None) -> int:
        return self.mem.read(pa, size)

    def phys_write(self, pa: int, size: int, value: int, va: int | None = None) -> None:
        ppn = pa >> 12
        if ppn in self.code_pages:
            self._invalidate_code_page(ppn)
        self.mem.write(pa, size, value)

    def _read_code(self, segments) -> bytes | None:
        mem = self.mem
        out = b""
        for va, n in segments:
            if va + n > mem.size:
                return None
            out += mem.buf[va:va + n]
        return out

    def _fetch_translate(self, va: int, first: bool) -> int:
        mem = self.mem
        need = PROT_EXEC | MAPPED
        if va >= mem.size or mem.prot[va >> 12] & need != need:
            if first:
                raise GuestTrap(PAGE_FAULT[FETCH], va)
            raise EndBlock()
        return va

    def take_trap(self, cause: int, tval: int, interrupt: bool = False) -> None:
        """There is no trap vector in user mode: the process's run loop turns
        ECALL_U into a system call and every other cause into a signal."""
        raise GuestTrap(cause, tval)

    def invalidate_range(self, start: int, end: int) -> None:
        """Mappings changed in [start, end): forget TLB entries and code there."""
        self.flush_tlb()
        lo, hi = start >> 12, (end + PAGE - 1) >> 12
        try:
            stale = [p for p in self.code_pages if lo <= p < hi]
        except RuntimeError:
            # Another thread changed this CPU's table mid-scan: drop everything.
            self.flush_translations()
            return
        for ppn in stale:
            self._invalidate_code_page(ppn)
