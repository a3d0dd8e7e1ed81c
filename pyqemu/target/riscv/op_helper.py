"""Helpers called from translated code for operations the IR does not
express: traps, atomics, privileged instructions, odd bit manipulations.

Each takes the CPU first, then the values the IR passes. A helper that
raises GuestTrap aborts its instruction; the backend restores the PC.
"""

from __future__ import annotations

from .trap import Cause, GuestTrap, LOAD, STORE

MSTATUS_FS = 3 << 13
MSTATUS_SD64 = 1 << 63


def raise_exception(cpu, cause, tval):
    raise GuestTrap(cause, tval)


# orc.b maps each byte to 0x00 if it is zero, else 0xFF: one bytes.translate.
_ORC_B_TABLE = bytes([0x00] + [0xFF] * 255)


def orc_b(cpu, x):
    # Called by the kernel's Zbb string routines (strlen, strcmp) hundreds of
    # thousands of times while it boots.
    n = cpu.xlen >> 3
    return int.from_bytes((x & cpu.xmask).to_bytes(n, "little").translate(_ORC_B_TABLE), "little")


def mark_fs_dirty(cpu):
    cpu.set_fs_dirty()


# -- atomics (A): the whole read-modify-write happens here, with store
# permission required (an AMO faults as a store), and misaligned addresses
# raising address-misaligned rather than being emulated. -------------------

def _amo_addr(cpu, addr, size, access):
    if addr & (size - 1):
        raise GuestTrap(Cause.LOAD_MISALIGNED if access == LOAD else Cause.STORE_MISALIGNED, addr)
    return cpu.translate_data(addr, size, access)


def _sx(v, size):
    bits = size * 8
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _lr(cpu, addr, _src, size):
    pa = _amo_addr(cpu, addr, size, LOAD)
    v = cpu.phys_read(pa, size)
    cpu.reservation = (pa, size)
    return _sx(v, size) & cpu.xmask


def _sc(cpu, addr, src, size):
    # Check alignment and permissions first: a faulting SC raises even
    # without a reservation (and a failing SC still clears the reservation).
    pa = _amo_addr(cpu, addr, size, STORE)
    res = cpu.reservation
    cpu.reservation = None
    if res != (pa, size):
        return 1
    cpu.phys_write(pa, size, src)
    return 0


def _make_amo(fn, name):
    def amo(cpu, addr, src, size):
        pa = _amo_addr(cpu, addr, size, STORE)
        old = cpu.phys_read(pa, size)
        cpu.phys_write(pa, size, fn(old, src & ((1 << (size * 8)) - 1), size) & ((1 << (size * 8)) - 1))
        return _sx(old, size) & cpu.xmask
    # A closure has no importable name: it gives the JIT's code cache one.
    amo.jit_name = name
    return amo


# The arithmetic of each AMO on the unsigned memory value and operand of
# `size` bytes (shared with user mode, which wraps it in its own locking).
AMO_OPS = {
    "swap": lambda a, b, s: b,
    "add": lambda a, b, s: a + b,
    "xor": lambda a, b, s: a ^ b,
    "and": lambda a, b, s: a & b,
    "or": lambda a, b, s: a | b,
    "min": lambda a, b, s: a if _sx(a, s) < _sx(b, s) else b,
    "max": lambda a, b, s: a if _sx(a, s) > _sx(b, s) else b,
    "minu": lambda a, b, s: a if a < b else b,
    "maxu": lambda a, b, s: a if a > b else b,
}

AMO_HELPERS = {"lr": _lr, "sc": _sc,
               **{op: _make_amo(fn, f"{__name__}.amo_{op}") for op, fn in AMO_OPS.items()}}


# -- privileged ----------------------------------------------------------------

def fence_i(cpu):
    cpu.sync_code()


def mret(cpu):
    return cpu.do_mret()


def sret(cpu, insn):
    return cpu.do_sret(insn)


def wfi(cpu, insn):
    cpu.do_wfi(insn)


def sfence_vma(cpu, insn, vaddr, asid):
    # rs1 = x0 fences every address; any other register (even holding 0) one page.
    cpu.do_sfence_vma(insn, vaddr if (insn >> 15) & 0x1F else None)
