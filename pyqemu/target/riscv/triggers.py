"""Debug triggers as seen from M-mode (RISC-V Debug spec, Sdtrig: tselect,
tdata1-3, tinfo; mcontrol type 2 and mcontrol6 type 6).

There is no debug mode, so every trigger's action is 0 (breakpoint
exception) and dmode reads 0. Choices follow QEMU 7.2's `virt` hart, as
measured with a bare-metal guest:
- 2 triggers; tinfo = 0x44 (types 2 and 6); tselect writes >= 2 are ignored;
  tcontrol (0x7a5) does not exist; tdata3 reads 0 and ignores writes.
- A tdata1 write whose type is neither 2 nor 6 (including 0 and 15) is
  ignored: the trigger keeps its previous setting.
- Kept on write: m, s, u, execute, store, load, the size field if it names
  1, 2, 4 or 8 bytes (other sizes read back as 0, "any"); type 6 also keeps
  vs, vu. dmode, action, chain, select, timing, maskmax and uncertain read 0.
- A load/store trigger with match=0 watches [tdata2, tdata2 + len), len =
  the bytes its size field names or XLEN/8 for "any"; any access
  overlapping it fires. (QEMU 7.2 takes the size *encoding* as the length,
  so size 3, 32-bit, watches 3 bytes: a bug we do not copy.)
  An execute trigger fires when pc == tdata2.
Beyond QEMU 7.2 (which hardwires both to 0): match=2 (address >= tdata2) and
match=3 (address < tdata2) are kept and honoured, and the hit bit (type 2
bit 20, type 6 hit0 bit 22) is set when the trigger fires. `qemu_7_2=True`
hardwires them to 0 as QEMU does. Note that without tcontrol (as in QEMU)
nothing stops an M-mode trigger from firing again inside the M-mode trap
handler: a match=2 trigger with tdata2=0 traps forever, as the spec allows.
"""

from __future__ import annotations

import enum

from .trap import LOAD, STORE


class TriggerCsr(enum.IntEnum):
    TSELECT = 0x7A0
    TDATA1 = 0x7A1
    TDATA2 = 0x7A2
    TDATA3 = 0x7A3
    TINFO = 0x7A4


class TriggerType(enum.IntEnum):
    """tdata1.type (Sdtrig, tdata1 "type" field)."""
    NONE = 0
    MCONTROL = 2
    ICOUNT = 3
    MCONTROL6 = 6
    DISABLED = 15


class Mcontrol(enum.IntFlag):
    """Bits common to mcontrol (type 2) and mcontrol6 (type 6)."""
    LOAD = 1 << 0
    STORE = 1 << 1
    EXECUTE = 1 << 2
    U = 1 << 3
    S = 1 << 4
    M = 1 << 6


class MatchKind(enum.IntEnum):
    """mcontrol.match (bits 10:7)."""
    EQUAL = 0
    NAPOT = 1
    GE = 2
    LT = 3


MATCH_SHIFT = 7
MATCH_MASK = 0xF << MATCH_SHIFT
# mcontrol (type 2): sizelo 17:16, sizehi 22:21 (rv64 only), hit 20.
MCONTROL_SIZELO_SHIFT = 16
MCONTROL_SIZEHI_SHIFT = 21
MCONTROL_HIT = 1 << 20
# mcontrol6 (type 6): size 19:16, hit0 22, vu 23, vs 24.
MCONTROL6_SIZE_SHIFT = 16
MCONTROL6_HIT = 1 << 22
MCONTROL6_VU_VS = (1 << 23) | (1 << 24)

# Plain ints for the hot paths (IntFlag arithmetic is slow).
_LOAD, _STORE, _EXEC = int(Mcontrol.LOAD), int(Mcontrol.STORE), int(Mcontrol.EXECUTE)
_ACCESS_BITS = _LOAD | _STORE | _EXEC
_PRIV_BITS = int(Mcontrol.U | Mcontrol.S | Mcontrol.M)
_MODE_AND_ACCESS = _ACCESS_BITS | _PRIV_BITS
# Size encodings kept on write and the bytes they stand for (0 = any size).
_SIZE_BYTES = {1: 1, 2: 2, 3: 4, 5: 8}
_SUPPORTED_MATCH = (MatchKind.EQUAL, MatchKind.GE, MatchKind.LT)
# Which mode-enable bit a privilege level needs: U=0, S=1, M=3.
_PRIV_BIT = {0: int(Mcontrol.U), 1: int(Mcontrol.S), 3: int(Mcontrol.M)}
_ACCESS_BIT = {LOAD: _LOAD, STORE: _STORE}
TINFO_VALUE = (1 << TriggerType.MCONTROL) | (1 << TriggerType.MCONTROL6)

CSRS = frozenset(TriggerCsr)


class Triggers:
    def __init__(self, xlen: int, count: int = 2, *, qemu_7_2: bool = False):
        if xlen not in (32, 64):
            raise ValueError(f"triggers: xlen {xlen} is not 32 or 64")
        if count < 1:
            raise ValueError(f"triggers: count {count} must be at least 1")
        self.xlen = xlen
        self.count = count
        self._type_shift = xlen - 4
        self._xmask = (1 << xlen) - 1
        self._default_len = xlen // 8
        self._match_kinds = (MatchKind.EQUAL,) if qemu_7_2 else _SUPPORTED_MATCH
        self._hit2 = 0 if qemu_7_2 else MCONTROL_HIT
        self._hit6 = 0 if qemu_7_2 else MCONTROL6_HIT
        self.tselect = 0
        self._tdata1 = [int(TriggerType.MCONTROL) << self._type_shift] * count
        self._tdata2 = [0] * count
        # Compiled view, one tuple per armed trigger:
        # (index, access bits, priv bits, match kind, tdata2, watch length, hit bit).
        self._armed: tuple = ()
        self.any_exec = False
        self.any_mem = False

    # -- CSR interface -----------------------------------------------------
    def read_csr(self, csr: int) -> int:
        i = self.tselect
        if csr == TriggerCsr.TSELECT:
            return i
        if csr == TriggerCsr.TDATA1:
            return self._tdata1[i]
        if csr == TriggerCsr.TDATA2:
            return self._tdata2[i]
        if csr == TriggerCsr.TDATA3:
            return 0
        if csr == TriggerCsr.TINFO:
            return TINFO_VALUE
        raise ValueError(f"triggers: CSR 0x{csr:x} is not a trigger CSR")

    def write_csr(self, csr: int, value: int) -> None:
        value &= self._xmask
        i = self.tselect
        if csr == TriggerCsr.TSELECT:
            if value < self.count:
                self.tselect = value
            return
        if csr == TriggerCsr.TDATA1:
            legal = self._legalize_tdata1(value)
            if legal is None or legal == self._tdata1[i]:
                return
            self._tdata1[i] = legal
        elif csr == TriggerCsr.TDATA2:
            self._tdata2[i] = value
        elif csr in (TriggerCsr.TDATA3, TriggerCsr.TINFO):
            return
        else:
            raise ValueError(f"triggers: CSR 0x{csr:x} is not a trigger CSR")
        self._recompile()

    # -- matching ------------------------------------------------------------
    def match_exec(self, pc: int, priv: int) -> bool:
        """Does an execute trigger fire before the instruction at pc?"""
        priv_bit = _PRIV_BIT[priv]
        fired = False
        for index, access_bits, priv_bits, kind, addr, _, hit in self._armed:
            if not (access_bits & _EXEC and priv_bits & priv_bit):
                continue
            if (pc == addr if kind == MatchKind.EQUAL
                    else pc >= addr if kind == MatchKind.GE else pc < addr):
                self._tdata1[index] |= hit
                fired = True
        return fired

    def match_mem(self, addr: int, size: int, access: int, priv: int) -> bool:
        """Does a load/store trigger fire before the access [addr, addr+size)?"""
        priv_bit = _PRIV_BIT[priv]
        access_bit = _ACCESS_BIT[access]
        last = addr + size - 1
        fired = False
        for index, access_bits, priv_bits, kind, base, length, hit in self._armed:
            if not (access_bits & access_bit and priv_bits & priv_bit):
                continue
            if kind == MatchKind.EQUAL:
                match = addr < base + length and last >= base
            elif kind == MatchKind.GE:
                match = last >= base
            else:
                match = addr < base
            if match:
                self._tdata1[index] |= hit
                fired = True
        return fired

    # -- internals -----------------------------------------------------------
    def _legalize_tdata1(self, value: int) -> int | None:
        """The value tdata1 takes after this write, or None if the write is ignored."""
        kind = value >> self._type_shift
        match = (value & MATCH_MASK) >> MATCH_SHIFT
        keep = value & _MODE_AND_ACCESS
        if match in self._match_kinds:
            keep |= match << MATCH_SHIFT
        if kind == TriggerType.MCONTROL:
            size = (value >> MCONTROL_SIZELO_SHIFT) & 3
            if self.xlen == 64:
                size |= ((value >> MCONTROL_SIZEHI_SHIFT) & 3) << 2
            if size in _SIZE_BYTES:
                keep |= (size & 3) << MCONTROL_SIZELO_SHIFT
                keep |= (size >> 2) << MCONTROL_SIZEHI_SHIFT
            keep |= value & self._hit2
        elif kind == TriggerType.MCONTROL6:
            size = (value >> MCONTROL6_SIZE_SHIFT) & 0xF
            if size in _SIZE_BYTES:
                keep |= size << MCONTROL6_SIZE_SHIFT
            keep |= value & (self._hit6 | MCONTROL6_VU_VS)
        else:
            return None
        return (kind << self._type_shift) | keep

    def _size_of(self, tdata1: int) -> int:
        if tdata1 >> self._type_shift == TriggerType.MCONTROL:
            size = (tdata1 >> MCONTROL_SIZELO_SHIFT) & 3
            size |= ((tdata1 >> MCONTROL_SIZEHI_SHIFT) & 3) << 2
        else:
            size = (tdata1 >> MCONTROL6_SIZE_SHIFT) & 0xF
        return _SIZE_BYTES.get(size, self._default_len)

    def _recompile(self) -> None:
        armed = []
        for i in range(self.count):
            t1 = self._tdata1[i]
            access_bits = t1 & _ACCESS_BITS
            priv_bits = t1 & _PRIV_BITS
            if not (access_bits and priv_bits):
                continue
            hit = self._hit2 if t1 >> self._type_shift == TriggerType.MCONTROL else self._hit6
            kind = (t1 & MATCH_MASK) >> MATCH_SHIFT
            armed.append((i, access_bits, priv_bits, kind, self._tdata2[i], self._size_of(t1), hit))
        self._armed = tuple(armed)
        self.any_exec = any(a[1] & _EXEC for a in armed)
        self.any_mem = any(a[1] & (_LOAD | _STORE) for a in armed)
