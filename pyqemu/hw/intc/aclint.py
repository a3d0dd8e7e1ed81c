"""CLINT: the machine software-interrupt and timer block of QEMU's virt board.

Laid out as QEMU's "riscv,clint0" (ACLINT MSWI at 0x0 plus MTIMER at 0x4000,
one 64 KiB window at 0x2000000):

    0x0000 + 4*h    msip[h]      bit 0 drives mip.MSIP of hart h
    0x4000 + 8*h    mtimecmp[h]  mip.MTIP of hart h is mtime >= mtimecmp[h]
    0xbff8          mtime        10 MHz, derived from the virtual clock

mtime is never stored: it is computed from the virtual clock plus an offset
that a guest write of mtime changes. MTIP is a level, re-evaluated on every
mtimecmp or mtime write, and by a Timer armed for the nanosecond at which
mtime reaches mtimecmp.
"""

from __future__ import annotations

import enum
import logging
from typing import Callable, Protocol, Sequence

from pyqemu.system.clock import NEVER, VirtualClock
from pyqemu.migration.vmstate import Kind, VMStateDescription, array, i64

_guest_errors = logging.getLogger("pyqemu.guest_errors")
_MASK64 = (1 << 64) - 1
_NS_PER_S = 1_000_000_000


class Hart(Protocol):
    def set_irq(self, bit: int, level: int) -> None: ...


class MipBit(enum.IntEnum):
    """Bits of mip this block drives (privileged spec, "Machine Interrupt Registers")."""
    MSIP = 3
    MTIP = 7


class ClintLayout(enum.IntEnum):
    """Offsets inside the CLINT window (ACLINT MSWI and MTIMER as QEMU's virt maps them)."""
    MSIP_BASE = 0x0000
    MTIMECMP_BASE = 0x4000
    MTIME = 0xBFF8
    SIZE = 0x10000


class Clint:
    # Migrated state (pyqemu/migration/vmstate.py): mtime is the virtual
    # clock (migrated first) plus this offset.
    VMSTATE = VMStateDescription("riscv.aclint", 1, 1, (
        array("_msip", Kind.U8), array("_mtimecmp", Kind.U64), array("_mtip", Kind.U8),
        i64("_mtime_offset"),
    ), post_load="_vmstate_post_load")

    def _vmstate_post_load(self, version_id: int) -> None:
        for h in range(len(self._harts)):
            self._update_mtip(h, force=True)

    def __init__(self, clock: VirtualClock, harts: Sequence[Hart],
                 timebase_hz: int = 10_000_000,
                 log: Callable[[str], None] | None = None):
        if not 1 <= len(harts) <= 4095:
            raise ValueError(f"clint: unsupported number of harts {len(harts)}")
        self._clock = clock
        self._harts = list(harts)
        self._timebase_hz = timebase_hz
        self._log = log or _guest_errors.info
        self._timers = [clock.timer(lambda h=h: self._update_mtip(h))
                        for h in range(len(harts))]
        self._mtime_offset = 0
        self.reset()

    def reset(self) -> None:
        n = len(self._harts)
        self._msip = [0] * n
        self._mtimecmp = [0] * n
        self._mtip = [0] * n
        for h, hart in enumerate(self._harts):
            hart.set_irq(MipBit.MSIP, 0)
            self._update_mtip(h, force=True)

    # -- time ----------------------------------------------------------------

    def _raw_ticks(self) -> int:
        return self._clock.now_ns() * self._timebase_hz // _NS_PER_S

    def ticks(self) -> int:
        """mtime now: the board hands this to the CPU as its `time` CSR source."""
        return (self._raw_ticks() + self._mtime_offset) & _MASK64

    def _set_mtime(self, value: int) -> None:
        self._mtime_offset = (value & _MASK64) - self._raw_ticks()
        for h in range(len(self._harts)):
            self._update_mtip(h)

    def _update_mtip(self, h: int, force: bool = False) -> None:
        cmp = self._mtimecmp[h]
        level = int(self.ticks() >= cmp)
        timer = self._timers[h]
        if level:
            timer.cancel()
        else:
            # First virtual nanosecond at which raw ticks reach cmp - offset
            # (rounded up so the timer never fires a tick early).
            target_ticks = cmp - self._mtime_offset
            deadline = -(-target_ticks * _NS_PER_S // self._timebase_hz)
            if deadline >= NEVER:
                timer.cancel()
            else:
                timer.arm(deadline)
        if force or level != self._mtip[h]:
            self._mtip[h] = level
            self._harts[h].set_irq(MipBit.MTIP, level)

    # -- bus -----------------------------------------------------------------

    def _decode(self, offset: int, size: int) -> tuple[str, int, int] | None:
        """(register, hart, byte offset inside the register), or None if invalid."""
        n = len(self._harts)
        if size not in (4, 8) or offset % size:
            return None
        if offset < ClintLayout.MSIP_BASE + 4 * n and size == 4:
            return ("msip", offset // 4, 0)
        if ClintLayout.MTIMECMP_BASE <= offset < ClintLayout.MTIMECMP_BASE + 8 * n:
            rel = offset - ClintLayout.MTIMECMP_BASE
            return ("mtimecmp", rel // 8, rel % 8)
        if ClintLayout.MTIME <= offset < ClintLayout.MTIME + 8:
            return ("mtime", 0, offset - ClintLayout.MTIME)
        return None

    def mmio_read(self, offset: int, size: int) -> int:
        reg = self._decode(offset, size)
        if reg is None:
            self._log(f"clint: invalid read of size {size} at offset {offset:#x}")
            return 0
        name, h, byte = reg
        if name == "msip":
            return self._msip[h]
        value = self._mtimecmp[h] if name == "mtimecmp" else self.ticks()
        return (value >> (8 * byte)) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        reg = self._decode(offset, size)
        if reg is None:
            self._log(f"clint: invalid write of size {size} at offset {offset:#x}")
            return
        name, h, byte = reg
        if name == "msip":
            self._msip[h] = value & 1
            self._harts[h].set_irq(MipBit.MSIP, value & 1)
            return
        old = self._mtimecmp[h] if name == "mtimecmp" else self.ticks()
        # A 32-bit write replaces one half of the 64-bit register.
        width_mask = ((1 << (8 * size)) - 1) << (8 * byte)
        new = (old & ~width_mask) | ((value << (8 * byte)) & width_mask)
        if name == "mtimecmp":
            self._mtimecmp[h] = new & _MASK64
            self._update_mtip(h)
        else:
            self._set_mtime(new)
