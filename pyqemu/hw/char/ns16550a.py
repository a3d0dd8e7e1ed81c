"""The 16550A UART (QEMU virt: 0x10000000, PLIC IRQ 10, 3.6864 MHz input clock).

Register model after the 16550A datasheet: eight byte-wide registers at
offsets 0-7 of the 0x100 window (QEMU's virt decodes only those 8 bytes; an
access above them faults there, and is a logged guest error here), DLL/DLM
behind LCR.DLAB, 16-byte FIFOs, the four interrupt sources in priority order
(line status > received data / character timeout > THR empty > modem status),
and loopback through MCR.LOOP.

Transmission is instantaneous: a THR write goes straight to the chardev and
the transmitter is empty again at once. Received bytes wait in a host-side
backlog and enter the RX FIFO as it has room, like a flow-controlled line,
so pasted input is not lost to overruns.
"""

from __future__ import annotations

import collections
import enum
import logging
from typing import Callable

from pyqemu.chardev.base import Chardev
from pyqemu.hw.irq import IRQLine
from pyqemu.migration.vmstate import VMStateDescription, boolean, buffer, u8, u16
from pyqemu.system.clock import VirtualClock

_guest_errors = logging.getLogger("pyqemu.guest_errors")

FIFO_SIZE = 16
INPUT_CLOCK_HZ = 3_686_400     # the device tree's clock-frequency on QEMU's virt


class Reg(enum.IntEnum):
    """Register offsets (DLAB=0 names; DLL/DLM share RBR/THR and IER)."""
    RBR_THR_DLL = 0
    IER_DLM = 1
    IIR_FCR = 2
    LCR = 3
    MCR = 4
    LSR = 5
    MSR = 6
    SCR = 7


class Ier(enum.IntFlag):
    ERBFI = 0x01     # received data available (and character timeout)
    ETBEI = 0x02     # transmitter holding register empty
    ELSI = 0x04      # receiver line status
    EDSSI = 0x08     # modem status


class IirId(enum.IntEnum):
    """IIR bits 3:0, by priority (datasheet table "Interrupt Control Functions")."""
    NONE = 0x01
    LINE_STATUS = 0x06
    RX_DATA = 0x04
    CHAR_TIMEOUT = 0x0C
    THR_EMPTY = 0x02
    MODEM_STATUS = 0x00


IIR_FIFOS_ENABLED = 0xC0


class Fcr(enum.IntFlag):
    ENABLE = 0x01
    CLEAR_RX = 0x02
    CLEAR_TX = 0x04
    TRIGGER_MASK = 0xC0


RX_TRIGGER_LEVELS = (1, 4, 8, 14)   # FCR bits 7:6


class Lcr(enum.IntFlag):
    WORD_LENGTH_MASK = 0x03
    STOP_BITS = 0x04
    PARITY_ENABLE = 0x08
    BREAK = 0x40
    DLAB = 0x80


class Mcr(enum.IntFlag):
    DTR = 0x01
    RTS = 0x02
    OUT1 = 0x04
    OUT2 = 0x08
    LOOP = 0x10


class Lsr(enum.IntFlag):
    DR = 0x01
    OE = 0x02
    PE = 0x04
    FE = 0x08
    BI = 0x10
    THRE = 0x20
    TEMT = 0x40
    RX_FIFO_ERROR = 0x80


LSR_ERRORS = Lsr.OE | Lsr.PE | Lsr.FE | Lsr.BI


class Msr(enum.IntFlag):
    DCTS = 0x01
    DDSR = 0x02
    TERI = 0x04
    DDCD = 0x08
    CTS = 0x10
    DSR = 0x20
    RI = 0x40
    DCD = 0x80


MSR_DELTAS = Msr.DCTS | Msr.DDSR | Msr.TERI | Msr.DDCD
# A host line that is not a real serial port: carrier, data set ready, clear to send.
MSR_HOST_LINES = Msr.DCD | Msr.DSR | Msr.CTS


class Ns16550a:
    # Migrated state (pyqemu/migration/vmstate.py): registers and the RX
    # FIFO; host input not yet in the FIFO (the backlog) stays with the host.
    VMSTATE = VMStateDescription("serial", 1, 1, (
        u8("_ier"), u8("_lcr"), u8("_mcr"), u8("_lsr"), u8("_msr"), u8("_scr"),
        u16("_divisor"), u8("_fcr"), buffer("_rx"),
        boolean("_thr_ipending"), boolean("_timeout_ipending"), u8("_irq_level"),
        boolean("_break_pending"),
    ), post_load="_vmstate_post_load")

    def _vmstate_post_load(self, version_id: int) -> None:
        self._irq.level = self._irq_level
        if self._timeout_timer:
            self._timeout_timer.cancel()
            if self._rx and self._fifo_enabled and not self._timeout_ipending:
                self._timeout_timer.arm_in(4 * self._char_time_ns())

    def __init__(self, irq: IRQLine, chardev: Chardev | None = None,
                 clock: VirtualClock | None = None,
                 log: Callable[[str], None] | None = None):
        self._irq = irq
        self._chardev = chardev
        self._clock = clock
        self._log = log or _guest_errors.info
        # Without a clock the character timeout is immediate: data below the
        # trigger level is reported as timed out at once.
        self._timeout_timer = clock.timer(self._char_timeout) if clock else None
        self._backlog = bytearray()
        self._break_pending = False
        self._rx: collections.deque[int] = collections.deque()
        self.reset()

    # -- state ---------------------------------------------------------------

    def reset(self) -> None:
        self._ier = 0
        self._lcr = 0
        self._mcr = Mcr.OUT2
        self._lsr = Lsr.THRE | Lsr.TEMT
        self._msr = MSR_HOST_LINES
        self._scr = 0
        self._divisor = 0
        self._fcr = 0
        self._rx.clear()
        self._thr_ipending = False
        self._timeout_ipending = False
        if self._timeout_timer:
            self._timeout_timer.cancel()
        self._irq_level = 0
        self._irq.set(0)
        self._update_irq()

    @property
    def _fifo_enabled(self) -> bool:
        return bool(self._fcr & Fcr.ENABLE)

    @property
    def _rx_capacity(self) -> int:
        return FIFO_SIZE if self._fifo_enabled else 1

    @property
    def _loopback(self) -> bool:
        return bool(self._mcr & Mcr.LOOP)

    def _char_time_ns(self) -> int:
        """Time one character takes on the line as the guest configured it."""
        bits = 1 + 5 + (self._lcr & Lcr.WORD_LENGTH_MASK) + (1 if self._lcr & Lcr.PARITY_ENABLE else 0)
        bits += 2 if self._lcr & Lcr.STOP_BITS else 1
        divisor = self._divisor or 1
        return bits * 16 * divisor * 1_000_000_000 // INPUT_CLOCK_HZ

    # -- receive path ----------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the chardev (called on the vCPU thread)."""
        if self._loopback:
            return          # the line is disconnected from the outside in loopback
        self._backlog += data
        self._fill_rx()

    def receive_break(self) -> None:
        """A break on the line (chardev `on_break`, on the vCPU thread).

        Datasheet: BI is set and a zero character enters the receiver; with
        ELSI it is a line status interrupt."""
        if self._loopback:
            return
        # After the bytes that came before it.
        self._break_pending = True
        self._fill_rx()

    def _fill_rx(self) -> None:
        if self._loopback:
            return
        room = self._rx_capacity - len(self._rx)
        if room <= 0 or not (self._backlog or self._break_pending):
            return
        self._rx.extend(self._backlog[:room])
        del self._backlog[:room]
        if self._break_pending and not self._backlog and len(self._rx) < self._rx_capacity:
            self._break_pending = False
            self._lsr |= Lsr.BI
            self._rx.append(0)
        self._rx_activity()

    def _push_rx(self, byte: int) -> None:
        """A byte arriving on the line itself (loopback): overruns are possible."""
        if len(self._rx) >= self._rx_capacity:
            self._lsr |= Lsr.OE
        else:
            self._rx.append(byte)
        self._rx_activity()

    def _rx_activity(self) -> None:
        """The RX FIFO changed: restart the character-timeout count."""
        self._timeout_ipending = False
        if self._rx:
            self._lsr |= Lsr.DR
            if self._fifo_enabled and self._timeout_timer:
                self._timeout_timer.arm_in(4 * self._char_time_ns())
        else:
            self._lsr &= ~Lsr.DR
            if self._timeout_timer:
                self._timeout_timer.cancel()
        self._update_irq()

    def _char_timeout(self) -> None:
        if self._fifo_enabled and self._rx:
            self._timeout_ipending = True
            self._update_irq()

    def _read_rbr(self) -> int:
        if not self._rx:
            return 0
        byte = self._rx.popleft()
        self._fill_rx()
        self._rx_activity()
        return byte

    # -- transmit path ---------------------------------------------------------

    def _write_thr(self, value: int) -> None:
        self._thr_ipending = False
        if self._loopback:
            self._push_rx(value)
        elif self._chardev is not None:
            self._chardev.write(bytes((value,)))
        # The transmitter is empty again at once: THRE interrupts anew.
        self._thr_ipending = True
        self._update_irq()

    # -- modem lines -----------------------------------------------------------

    def _set_msr_lines(self, lines: int) -> None:
        old = self._msr
        changed = (old ^ lines) & (Msr.CTS | Msr.DSR | Msr.DCD)
        # Each line sits 4 bits above its delta bit.
        deltas = (changed >> 4) & (Msr.DCTS | Msr.DDSR | Msr.DDCD)
        if (old & Msr.RI) and not (lines & Msr.RI):
            deltas |= Msr.TERI      # trailing edge only
        self._msr = (lines & 0xF0) | (old & MSR_DELTAS) | deltas

    def _loopback_lines(self) -> int:
        mcr = self._mcr
        lines = 0
        if mcr & Mcr.RTS:
            lines |= Msr.CTS
        if mcr & Mcr.DTR:
            lines |= Msr.DSR
        if mcr & Mcr.OUT1:
            lines |= Msr.RI
        if mcr & Mcr.OUT2:
            lines |= Msr.DCD
        return lines

    # -- interrupts ------------------------------------------------------------

    def _rx_trigger_reached(self) -> bool:
        if not self._fifo_enabled:
            return bool(self._rx)
        return len(self._rx) >= RX_TRIGGER_LEVELS[(self._fcr & Fcr.TRIGGER_MASK) >> 6]

    def _current_iir_id(self) -> IirId:
        ier = self._ier
        if ier & Ier.ELSI and self._lsr & LSR_ERRORS:
            return IirId.LINE_STATUS
        if ier & Ier.ERBFI and self._rx:
            # Data and timeout share priority 2; a timeout, once due, is what
            # IIR names (as QEMU does), even at or above the trigger level.
            if self._fifo_enabled and (self._timeout_ipending if self._timeout_timer
                                       else not self._rx_trigger_reached()):
                return IirId.CHAR_TIMEOUT
            if self._rx_trigger_reached():
                return IirId.RX_DATA
        if ier & Ier.ETBEI and self._thr_ipending:
            return IirId.THR_EMPTY
        if ier & Ier.EDSSI and self._msr & MSR_DELTAS:
            return IirId.MODEM_STATUS
        return IirId.NONE

    def _update_irq(self) -> None:
        level = int(self._current_iir_id() != IirId.NONE)
        if level != self._irq_level:
            self._irq_level = level
            self._irq.set(level)

    # -- bus -------------------------------------------------------------------

    def mmio_read(self, offset: int, size: int) -> int:
        # Every access is one byte-wide register; wider accesses see the byte.
        if offset >= 8:
            self._log(f"ns16550a: read of size {size} at offset {offset:#x}, beyond the registers")
            return 0
        reg = offset
        dlab = self._lcr & Lcr.DLAB
        if reg == Reg.RBR_THR_DLL:
            return self._divisor & 0xFF if dlab else self._read_rbr()
        if reg == Reg.IER_DLM:
            return self._divisor >> 8 if dlab else self._ier
        if reg == Reg.IIR_FCR:
            iir_id = self._current_iir_id()
            if iir_id == IirId.THR_EMPTY:
                # Reading IIR while it names THRE is what acknowledges THRE.
                self._thr_ipending = False
                self._update_irq()
            return iir_id | (IIR_FIFOS_ENABLED if self._fifo_enabled else 0)
        if reg == Reg.LCR:
            return self._lcr
        if reg == Reg.MCR:
            return self._mcr
        if reg == Reg.LSR:
            # LSR7 (error in RX FIFO) counts parity, framing and break only, not
            # overruns; of those a host line only ever has a break.
            value = self._lsr
            if self._fifo_enabled and value & Lsr.BI:
                value |= Lsr.RX_FIFO_ERROR
            self._lsr &= ~LSR_ERRORS
            self._update_irq()
            return int(value)
        if reg == Reg.MSR:
            value = self._msr
            self._msr &= ~MSR_DELTAS
            self._update_irq()
            return int(value)
        return self._scr

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset >= 8:
            self._log(f"ns16550a: write of size {size} at offset {offset:#x}, beyond the registers")
            return
        reg = offset
        value &= 0xFF
        dlab = self._lcr & Lcr.DLAB
        if reg == Reg.RBR_THR_DLL:
            if dlab:
                self._divisor = (self._divisor & 0xFF00) | value
            else:
                self._write_thr(value)
        elif reg == Reg.IER_DLM:
            if dlab:
                self._divisor = (self._divisor & 0x00FF) | (value << 8)
            else:
                old = self._ier
                self._ier = value & 0x0F
                # Enabling ETBEI with the holding register empty interrupts at once.
                if self._ier & Ier.ETBEI and not old & Ier.ETBEI and self._lsr & Lsr.THRE:
                    self._thr_ipending = True
                self._update_irq()
        elif reg == Reg.IIR_FCR:
            self._write_fcr(value)
        elif reg == Reg.LCR:
            self._lcr = value
        elif reg == Reg.MCR:
            self._write_mcr(value)
        elif reg == Reg.LSR:
            self._log("ns16550a: write to read-only LSR ignored")
        elif reg == Reg.MSR:
            self._log("ns16550a: write to read-only MSR ignored")
        else:
            self._scr = value

    def _write_fcr(self, value: int) -> None:
        enable_changed = (value ^ self._fcr) & Fcr.ENABLE
        if enable_changed or value & Fcr.CLEAR_RX:
            self._rx.clear()
            self._lsr &= ~Lsr.DR
        # The TX FIFO is always empty (transmission is instantaneous).
        self._fcr = value & (Fcr.ENABLE | Fcr.TRIGGER_MASK)
        self._fill_rx()
        self._rx_activity()

    def _write_mcr(self, value: int) -> None:
        was_loopback = self._loopback
        self._mcr = value & 0x1F
        if self._loopback:
            self._set_msr_lines(self._loopback_lines())
        elif was_loopback:
            self._set_msr_lines(MSR_HOST_LINES)
            self._fill_rx()
        self._update_irq()
