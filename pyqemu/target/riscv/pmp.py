"""Physical memory protection (privileged spec 1.12, section 3.7 "Physical
Memory Protection").

Sixteen entries by default, granularity G=0 (4 bytes), as QEMU 7.2's `virt`
harts have. The CSR images are kept as written (after the WARL rules below);
every change recompiles the active entries into a short tuple of
`(lo, hi, perms, locked)` ranges in priority order, which is all `check`
looks at.

How WARL fields are legalised (section 3.7.1):
- R=0,W=1 is reserved: we store it as R=0,W=0 (X kept). QEMU 7.2 keeps the
  byte verbatim (measured: writing 0x02 to pmpcfg0 reads back 0x02), which
  the spec does not allow for a WARL field.
- pmpcfg bits 6:5 are "WARL 0" in 1.12 and read as zero here; QEMU 7.2 keeps
  them (measured: 0x60 reads back 0x60).
- pmpaddr keeps bits 55:2 (rv64, 54 bits) or 33:2 (rv32, 32 bits); QEMU 7.2
  keeps all 64 bits.
Behaviour shared with QEMU 7.2 (measured): a locked entry ignores writes to
its pmpcfg byte and pmpaddr, a locked TOR entry also freezes the previous
pmpaddr, and an S- or U-mode access that matches no entry fails as soon as
entries are implemented, even if all of them are OFF.
CSRs of entries beyond `entries` read as zero and ignore writes here; QEMU
7.2 makes pmpcfg4..15 and pmpaddr16..63 illegal instructions, which is the
CPU's CSR table's call.
"""

from __future__ import annotations

import enum

from .trap import FETCH, LOAD, STORE


class PmpCfg(enum.IntFlag):
    """One pmpcfg byte (section 3.7.1, figure "PMP configuration register format")."""
    R = 0x01
    W = 0x02
    X = 0x04
    A = 0x18
    L = 0x80


class AddressMatching(enum.IntEnum):
    """The A field (section 3.7.1, table "Encoding of A field")."""
    OFF = 0
    TOR = 1
    NA4 = 2
    NAPOT = 3


_A_SHIFT = 3
# Plain ints for the hot paths (IntFlag arithmetic is slow).
_R, _W, _L, _A = int(PmpCfg.R), int(PmpCfg.W), int(PmpCfg.L), int(PmpCfg.A)
_TOR, _NA4, _NAPOT = int(AddressMatching.TOR), int(AddressMatching.NA4), int(AddressMatching.NAPOT)
# The pmpcfg bits this implementation stores: R, W, X, A, L (bits 6:5 are WARL 0).
_CFG_WRITABLE = 0x9F
# Which pmpcfg permission bit an access type needs, indexed by FETCH/LOAD/STORE.
_PERM_FOR_ACCESS = {FETCH: PmpCfg.X, LOAD: PmpCfg.R, STORE: PmpCfg.W}
_PERM_BY_ACCESS = tuple(int(_PERM_FOR_ACCESS[a]) for a in range(3))
_PAGE_SIZE = 4096
_MACHINE = 3


class PMP:
    def __init__(self, xlen: int, entries: int = 16):
        if xlen not in (32, 64):
            raise ValueError(f"PMP: xlen {xlen} is not 32 or 64")
        if not 0 <= entries <= 64:
            raise ValueError(f"PMP: {entries} entries is outside 0..64")
        self.xlen = xlen
        self.entries = entries
        # pmpaddr holds physical address bits 33:2 (rv32) or 55:2 (rv64).
        self._addr_mask = (1 << 32) - 1 if xlen == 32 else (1 << 54) - 1
        # Entries per pmpcfg CSR: 4 on rv32, 8 on rv64 (where only even indices exist).
        self._per_cfg = xlen // 8
        self._cfg = [0] * entries
        self._addr = [0] * entries
        self._rules: tuple[tuple[int, int, int, bool], ...] = ()
        self.version = 0

    # -- CSR interface -----------------------------------------------------
    def read_cfg(self, index: int) -> int:
        """pmpcfg<index>; entries that are not implemented read as zero."""
        if self.xlen == 64 and index & 1:
            return 0
        first = index * 4
        value = 0
        for k in range(self._per_cfg):
            i = first + k
            if i < self.entries:
                value |= self._cfg[i] << (8 * k)
        return value

    def write_cfg(self, index: int, value: int) -> None:
        if self.xlen == 64 and index & 1:
            return
        first = index * 4
        changed = False
        for k in range(self._per_cfg):
            i = first + k
            if i >= self.entries or self._cfg[i] & _L:
                continue
            byte = (value >> (8 * k)) & _CFG_WRITABLE
            if not byte & _R:
                byte &= ~_W     # R=0,W=1 is reserved: keep R=0,W=0
            if byte != self._cfg[i]:
                self._cfg[i] = byte
                changed = True
        if changed:
            self._recompile()

    def read_addr(self, i: int) -> int:
        if 0 <= i < self.entries:
            return self._addr[i]
        return 0

    def write_addr(self, i: int, value: int) -> None:
        if not 0 <= i < self.entries or self._cfg[i] & _L:
            return
        if i + 1 < self.entries:
            nxt = self._cfg[i + 1]
            if nxt & _L and (nxt & _A) >> _A_SHIFT == _TOR:
                return
        value &= self._addr_mask
        if value != self._addr[i]:
            self._addr[i] = value
            self._recompile()

    # -- checks --------------------------------------------------------------
    def check(self, paddr: int, size: int, access: int, priv: int) -> bool:
        """May the access [paddr, paddr+size) of this type be made at priv? (section 3.7.1.2)"""
        last = paddr + size
        for lo, hi, perms, locked in self._rules:
            if last <= lo or paddr >= hi:
                continue
            if paddr < lo or last > hi:
                return False    # only some bytes match: fails whatever L, R, W, X say
            if priv == _MACHINE and not locked:
                return True
            return bool(perms & _PERM_BY_ACCESS[access])
        return priv == _MACHINE or self.entries == 0

    def page_allowed(self, page_base: int, access: int, priv: int) -> bool:
        """True only if every byte of the 4 KiB page at page_base passes `check`.

        Conservative: a page that the deciding entry covers only in part is
        reported as not allowed, so the CPU checks each access instead.
        """
        return self.check(page_base & ~(_PAGE_SIZE - 1), _PAGE_SIZE, access, priv)

    # -- internals -----------------------------------------------------------
    def _recompile(self) -> None:
        rules = []
        prev_top = 0
        for i in range(self.entries):
            cfg = self._cfg[i]
            addr = self._addr[i]
            mode = (cfg & _A) >> _A_SHIFT
            if mode == _TOR:
                # Matches pmpaddr[i-1] <= a < pmpaddr[i]; entry 0 starts at 0.
                lo, hi = prev_top, addr << 2
            elif mode == _NA4:
                lo, hi = addr << 2, (addr << 2) + 4
            elif mode == _NAPOT:
                ones = _trailing_ones(addr)
                size = 8 << ones
                lo = (addr << 2) & ~(size - 1)
                hi = lo + size
            else:
                lo = hi = 0
            prev_top = addr << 2
            if lo < hi:     # OFF, and a TOR range with top <= bottom, match nothing
                rules.append((lo, hi, cfg & 7, bool(cfg & _L)))
        self._rules = tuple(rules)
        self.version += 1


def _trailing_ones(value: int) -> int:
    return ((value ^ (value + 1)).bit_length()) - 1
