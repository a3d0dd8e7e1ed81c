"""SiFive PLIC as QEMU's virt board maps it (0xc000000, 96 sources, 2 contexts per hart).

Register map (RISC-V PLIC specification, "Memory Map"):

    0x000000 + 4*src            priority of source src (source 0 does not exist)
    0x001000 + 4*(src/32)       pending bits, read-only
    0x002000 + 0x80*ctx         enable bits of context ctx
    0x200000 + 0x1000*ctx       priority threshold of ctx
    0x200004 + 0x1000*ctx       claim (read) / complete (write) of ctx

Context 2h is hart h's M-mode (drives mip.MEIP), 2h+1 its S-mode (mip.SEIP).

Sources are level-triggered. Each has a gateway that forwards at most one
request at a time (PLIC spec, "Interrupt Gateways"): a high level with the
gateway open sets the pending bit, which then stays set until a claim even if
the level drops (as on QEMU 7.2); a claim clears it and holds the gateway
closed; the completion opens it again and, if the level is still high, the
source is pending at once.
"""

from __future__ import annotations

import enum
import logging
from typing import Callable, Protocol, Sequence

from pyqemu.hw.irq import IRQLine
from pyqemu.migration.vmstate import Kind, VMStateDescription, VMStateError, array, buffer

_guest_errors = logging.getLogger("pyqemu.guest_errors")


class Hart(Protocol):
    def set_irq(self, bit: int, level: int) -> None: ...


class PlicLayout(enum.IntEnum):
    """Offsets in the PLIC window (PLIC spec "Memory Map"; QEMU virt strides)."""
    PRIORITY_BASE = 0x0
    PENDING_BASE = 0x1000
    ENABLE_BASE = 0x2000
    ENABLE_STRIDE = 0x80
    CONTEXT_BASE = 0x200000
    CONTEXT_STRIDE = 0x1000
    THRESHOLD = 0x0     # inside a context block
    CLAIM_COMPLETE = 0x4
    SIZE = 0x600000


class ContextMode(enum.IntEnum):
    """mip bit each kind of context drives."""
    M = 11     # MEIP
    S = 9      # SEIP


_MASK_BYTES = 128          # up to 1024 sources


def _mask_bytes(masks) -> bytes:
    return b"".join(m.to_bytes(_MASK_BYTES, "big") for m in masks)


def _mask_ints(data: bytes, count: int) -> list[int]:
    if len(data) != count * _MASK_BYTES:
        raise VMStateError(f"riscv.sifive.plic: {len(data)} bytes of source masks, "
                           f"expected {count * _MASK_BYTES}")
    return [int.from_bytes(data[i:i + _MASK_BYTES], "big") for i in range(0, len(data), _MASK_BYTES)]


class Plic:
    # Migrated state (pyqemu/migration/vmstate.py).
    VMSTATE = VMStateDescription("riscv.sifive.plic", 1, 1, (
        array("_priority", Kind.U32),
        # Source bit masks are wider than 64 bits (96 sources): 16 bytes each.
        buffer("_pending", get=lambda p: _mask_bytes([p._pending]),
               set=lambda p, v: setattr(p, "_pending", _mask_ints(v, 1)[0])),
        buffer("_claimed", get=lambda p: _mask_bytes([p._claimed]),
               set=lambda p, v: setattr(p, "_claimed", _mask_ints(v, 1)[0])),
        buffer("_enable", get=lambda p: _mask_bytes(p._enable),
               set=lambda p, v: p._enable.__setitem__(slice(None), _mask_ints(v, len(p._enable)))),
        array("_threshold", Kind.U32), array("_output", Kind.U8), array("_level", Kind.U8),
    ), post_load="_vmstate_post_load")

    def _vmstate_post_load(self, version_id: int) -> None:
        for ctx in range(self.num_contexts):
            self._drive(ctx, self._output[ctx])

    def __init__(self, harts: Sequence[Hart], num_sources: int = 96,
                 priority_bits: int = 3,
                 log: Callable[[str], None] | None = None):
        if not 2 <= num_sources <= 1024:
            raise ValueError(f"plic: unsupported number of sources {num_sources}")
        self._harts = list(harts)
        self.num_sources = num_sources
        self.num_contexts = 2 * len(self._harts)
        self._priority_mask = (1 << priority_bits) - 1
        self._words = (num_sources + 31) // 32
        self._log = log or _guest_errors.info
        self._level = [0] * num_sources      # input line levels survive a reset
        self.reset()

    def reset(self) -> None:
        n = self.num_sources
        self._priority = [0] * n
        # Bit masks indexed by source number: arbitration walks only set bits.
        self._pending = 0
        self._claimed = 0
        self._enable = [0] * self.num_contexts
        self._threshold = [0] * self.num_contexts
        self._output = [0] * self.num_contexts
        for src in range(1, n):
            if self._level[src]:
                self._pending |= 1 << src
        for ctx in range(self.num_contexts):
            self._drive(ctx, 0)
        self._update()

    # -- inputs --------------------------------------------------------------

    def set_irq(self, source: int, level: int) -> None:
        """The sink of the sources' IRQLines."""
        if not 1 <= source < self.num_sources:
            raise ValueError(f"plic: no interrupt source {source}")
        self._level[source] = level
        bit = 1 << source
        if level and not self._claimed & bit:
            self._pending |= bit
            self._update()

    def irq_line(self, source: int) -> IRQLine:
        if not 1 <= source < self.num_sources:
            raise ValueError(f"plic: no interrupt source {source}")
        return IRQLine(self.set_irq, source)

    # -- arbitration ---------------------------------------------------------

    def _enabled(self, ctx: int, src: int) -> bool:
        return bool((self._enable[ctx] >> src) & 1)

    def _best(self, ctx: int) -> int:
        """Highest-priority pending enabled source above threshold (ties: lowest id), or 0."""
        candidates = self._pending & self._enable[ctx]
        best, best_prio = 0, self._threshold[ctx]
        priority = self._priority
        while candidates:
            low = candidates & -candidates
            src = low.bit_length() - 1
            if priority[src] > best_prio:
                best, best_prio = src, priority[src]
            candidates ^= low
        return best

    def _drive(self, ctx: int, level: int) -> None:
        self._output[ctx] = level
        mode = ContextMode.M if ctx % 2 == 0 else ContextMode.S
        self._harts[ctx // 2].set_irq(mode, level)

    def _update(self) -> None:
        for ctx in range(self.num_contexts):
            level = int(self._best(ctx) != 0)
            if level != self._output[ctx]:
                self._drive(ctx, level)

    def _claim(self, ctx: int) -> int:
        src = self._best(ctx)
        if src:
            self._pending &= ~(1 << src)
            self._claimed |= 1 << src
            self._update()
        return src

    def _complete(self, ctx: int, src: int) -> None:
        # PLIC spec: a completion for a source not enabled for this context is ignored.
        if not 1 <= src < self.num_sources or not self._enabled(ctx, src):
            self._log(f"plic: context {ctx} completes source {src}, not enabled for it")
            return
        bit = 1 << src
        if self._claimed & bit:
            self._claimed &= ~bit
            if self._level[src]:
                self._pending |= bit
            self._update()

    # -- bus -----------------------------------------------------------------

    def _context_reg(self, offset: int) -> tuple[int, int] | None:
        rel = offset - PlicLayout.CONTEXT_BASE
        ctx, reg = divmod(rel, PlicLayout.CONTEXT_STRIDE)
        if 0 <= ctx < self.num_contexts and reg in (PlicLayout.THRESHOLD, PlicLayout.CLAIM_COMPLETE):
            return ctx, reg
        return None

    def _enable_word(self, offset: int) -> tuple[int, int] | None:
        rel = offset - PlicLayout.ENABLE_BASE
        ctx, byte = divmod(rel, PlicLayout.ENABLE_STRIDE)
        if 0 <= ctx < self.num_contexts and byte // 4 < self._words:
            return ctx, byte // 4
        return None

    def mmio_read(self, offset: int, size: int) -> int:
        if size != 4 or offset % 4:
            self._log(f"plic: invalid read of size {size} at offset {offset:#x}")
            return 0
        if offset < PlicLayout.PENDING_BASE:
            src = offset // 4
            if src < self.num_sources:
                return self._priority[src]
        elif offset < PlicLayout.ENABLE_BASE:
            word = (offset - PlicLayout.PENDING_BASE) // 4
            if word < self._words:
                return (self._pending >> (32 * word)) & 0xFFFF_FFFF
        elif offset < PlicLayout.CONTEXT_BASE:
            where = self._enable_word(offset)
            if where:
                ctx, word = where
                return (self._enable[ctx] >> (32 * word)) & 0xFFFF_FFFF
        else:
            where = self._context_reg(offset)
            if where:
                ctx, reg = where
                if reg == PlicLayout.THRESHOLD:
                    return self._threshold[ctx]
                return self._claim(ctx)
        self._log(f"plic: read of unknown offset {offset:#x}")
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if size != 4 or offset % 4:
            self._log(f"plic: invalid write of size {size} at offset {offset:#x}")
            return
        value &= 0xFFFF_FFFF
        if offset < PlicLayout.PENDING_BASE:
            src = offset // 4
            if 0 < src < self.num_sources:
                self._priority[src] = value & self._priority_mask
                self._update()
                return
        elif offset < PlicLayout.ENABLE_BASE:
            self._log(f"plic: write to read-only pending bits at {offset:#x}")
            return
        elif offset < PlicLayout.CONTEXT_BASE:
            where = self._enable_word(offset)
            if where:
                ctx, word = where
                # Bit 0 reads back as written (QEMU does); source 0 never pends.
                valid = ((1 << self.num_sources) - 1) >> (32 * word) & 0xFFFF_FFFF
                shift = 32 * word
                self._enable[ctx] = ((self._enable[ctx] & ~(0xFFFF_FFFF << shift))
                                     | ((value & valid) << shift))
                self._update()
                return
        else:
            where = self._context_reg(offset)
            if where:
                ctx, reg = where
                if reg == PlicLayout.THRESHOLD:
                    self._threshold[ctx] = value & self._priority_mask
                    self._update()
                else:
                    self._complete(ctx, value)
                return
        self._log(f"plic: write to unknown offset {offset:#x}")
