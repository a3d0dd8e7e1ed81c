"""16550A register semantics after the datasheet, on the virt board's wiring
(IRQ into a real PLIC, output into a real file chardev)."""

from __future__ import annotations

import pytest

from pyqemu.chardev.file import FileChardev
from pyqemu.hw.char.ns16550a import Ns16550a
from pyqemu.hw.intc.plic import Plic
from pyqemu.system.clock import VirtualClock
from .recording_hart import RecordingHart

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7
MEIP = 11


class Board:
    """The UART as the virt board wires it: PLIC source 10, hart 0 M context."""

    def __init__(self, tmp_path, clock=None):
        self.hart = RecordingHart()
        self.plic = Plic([self.hart])
        self.plic.mmio_write(4 * 10, 4, 1)          # priority
        self.plic.mmio_write(0x2000, 4, 1 << 10)    # enable for context 0
        self.out_path = tmp_path / "serial.out"
        self.chardev = FileChardev(str(self.out_path))
        self.line = self.plic.irq_line(10)
        self.uart = Ns16550a(self.line, self.chardev, clock=clock)

    def rd(self, reg):
        return self.uart.mmio_read(reg, 1)

    def wr(self, reg, value):
        self.uart.mmio_write(reg, 1, value)

    @property
    def irq(self):
        """The UART's output line (the PLIC latches it; see test_plic.py)."""
        return self.line.level

    def output(self):
        return self.out_path.read_bytes()


@pytest.fixture
def board(tmp_path):
    return Board(tmp_path)


@pytest.fixture
def clock():
    clock = VirtualClock()
    clock.stop()
    return clock


def test_reset_values(board):
    assert board.rd(IIR) == 0x01
    assert board.rd(LSR) == 0x60                 # THRE | TEMT
    assert board.rd(MSR) & 0xF0 == 0xB0          # DCD | DSR | CTS
    assert board.rd(MCR) == 0x08                 # OUT2
    assert board.rd(IER) == 0 and board.rd(LCR) == 0
    assert board.irq == 0


def test_transmit_goes_to_chardev(board):
    for byte in b"Hello\r\n":
        board.wr(THR, byte)
        assert board.rd(LSR) & 0x60 == 0x60
    assert board.output() == b"Hello\r\n"


def test_divisor_latch_behind_dlab(board):
    board.wr(IER, 0x05)
    board.wr(LCR, 0x83)
    board.wr(DLL, 0x02)
    board.wr(DLM, 0x01)
    assert board.rd(DLL) == 0x02 and board.rd(DLM) == 0x01
    board.wr(LCR, 0x03)
    assert board.rd(IER) == 0x05
    assert board.output() == b""                 # DLL writes are not transmitted


def test_thre_interrupt_semantics(board):
    board.wr(IER, 0x02)                          # enabling ETBEI with THR empty interrupts
    assert board.irq == 1
    assert board.rd(IIR) == 0x02
    assert board.irq == 0                        # reading IIR naming THRE acknowledges it
    assert board.rd(IIR) == 0x01
    board.wr(THR, ord("x"))                      # transmitted at once: THRE again
    assert board.irq == 1
    board.wr(IER, 0x00)
    assert board.irq == 0
    board.wr(IER, 0x02)
    assert board.irq == 1


def test_receive_without_fifo_holds_one_byte_and_keeps_the_rest(board):
    board.wr(IER, 0x01)
    board.uart.receive(b"abc")
    assert board.irq == 1
    assert board.rd(IIR) == 0x04
    assert board.rd(LSR) & 0x03 == 0x01          # DR, no overrun: the rest waits
    assert bytes(board.rd(RBR) for _ in range(3)) == b"abc"
    assert board.rd(LSR) & 0x01 == 0
    assert board.irq == 0 and board.rd(IIR) == 0x01


def test_fifo_trigger_level_and_fifo_bits_in_iir(board):
    board.wr(FCR, 0x81)                          # FIFO on, trigger at 8
    assert board.rd(IIR) == 0xC1
    board.wr(IER, 0x01)
    board.uart.receive(b"12345678" + b"9" * 20)
    assert board.rd(IIR) == 0xC4
    data = bytes(board.rd(RBR) for _ in range(28))
    assert data == b"12345678" + b"9" * 20
    assert board.rd(LSR) & 0x01 == 0
    assert board.rd(IIR) == 0xC1


def test_character_timeout_below_trigger(tmp_path, clock):
    board = Board(tmp_path, clock=clock)
    board.wr(LCR, 0x83)
    board.wr(DLL, 1)                             # 230400 baud with the 3.6864 MHz clock
    board.wr(LCR, 0x03)                          # 8N1: 10 bits a character
    board.wr(FCR, 0xC1)                          # trigger at 14
    board.wr(IER, 0x01)
    board.uart.receive(b"ab")
    assert board.irq == 0 and board.rd(IIR) == 0xC1
    char_ns = 10 * 16 * 1_000_000_000 // 3_686_400
    clock.set_ns(clock.now_ns() + 4 * char_ns)
    clock.run_expired()
    assert board.irq == 1 and board.rd(IIR) == 0xCC
    assert board.rd(RBR) == ord("a")             # reading restarts the count
    assert board.rd(IIR) == 0xC1
    clock.set_ns(clock.now_ns() + 4 * char_ns)
    clock.run_expired()
    assert board.rd(IIR) == 0xCC
    assert board.rd(RBR) == ord("b")
    assert board.irq == 0


def test_timeout_named_over_data_available_once_due(tmp_path, clock):
    board = Board(tmp_path, clock=clock)
    board.wr(LCR, 0x83)
    board.wr(DLL, 1)
    board.wr(LCR, 0x03)
    board.wr(FCR, 0x41)                          # trigger at 4
    board.wr(IER, 0x01)
    board.uart.receive(b"12345")
    assert board.rd(IIR) == 0xC4
    clock.set_ns(clock.now_ns() + 4 * 10 * 16 * 1_000_000_000 // 3_686_400)
    clock.run_expired()
    assert board.rd(IIR) == 0xCC                 # no reads for 4 characters: timeout
    board.rd(RBR)
    assert board.rd(IIR) == 0xC4                 # a read restarts the count


def test_fcr_clears_rx_fifo(board):
    board.wr(FCR, 0x01)
    board.uart.receive(b"xyz")
    board.wr(FCR, 0x03)
    assert board.rd(LSR) & 0x01 == 0


def test_loopback_overrun_is_a_line_status_interrupt(board):
    board.wr(MCR, 0x10)
    board.wr(IER, 0x07)                          # RX, THRE and line status
    board.rd(IIR)
    board.wr(THR, 0x41)
    board.wr(THR, 0x42)                          # no FIFO: the second byte overruns
    assert board.output() == b""                 # loopback does not reach the line
    assert board.rd(IIR) == 0x06                 # line status outranks data and THRE
    assert board.rd(LSR) & 0x03 == 0x03          # DR | OE; reading clears OE
    assert board.rd(LSR) & 0x02 == 0
    assert board.rd(IIR) == 0x04                 # then received data
    assert board.rd(RBR) == 0x41
    assert board.rd(IIR) == 0x02                 # then THRE


def test_loopback_modem_lines_as_linux_probes_them(board):
    board.wr(MCR, 0x10)
    board.rd(MSR)
    board.wr(MCR, 0x1A)                          # LOOP | OUT2 | RTS
    assert board.rd(MSR) & 0xF0 == 0x90          # DCD | CTS
    board.wr(IER, 0x08)
    board.wr(MCR, 0x1F)                          # + DTR, OUT1
    assert board.irq == 1 and board.rd(IIR) == 0x00
    assert board.rd(MSR) == 0xF0 | 0x02          # DSR, RI up; DDSR (RI rising is not TERI)
    assert board.irq == 0
    board.wr(MCR, 0x1B)                          # OUT1 down: RI trailing edge
    assert board.rd(MSR) == 0xB0 | 0x04
    board.uart.receive(b"q")                     # the outside line is cut in loopback
    assert board.rd(LSR) & 0x01 == 0


def test_scratch_register_wide_access_and_beyond(tmp_path):
    logged = []
    board = Board(tmp_path)
    board.uart = Ns16550a(board.plic.irq_line(10), board.chardev, log=logged.append)
    board.wr(SCR, 0x5A)
    assert board.rd(SCR) == 0x5A
    board.uart.mmio_write(THR, 4, 0x121)         # wide access: low byte only
    assert board.output() == b"!"
    assert board.uart.mmio_read(0x08 + SCR, 1) == 0   # no aliasing above offset 7
    board.uart.mmio_write(0x08 + THR, 1, 0x41)
    assert board.output() == b"!"
    assert len(logged) == 2


def test_interrupt_reaches_the_hart_through_the_plic(board):
    board.wr(IER, 0x01)
    board.uart.receive(b"k")
    assert board.hart.level(MEIP) == 1
    assert board.plic.mmio_read(0x200004, 4) == 10     # claim
    assert board.hart.level(MEIP) == 0
    assert board.rd(RBR) == ord("k")
    board.plic.mmio_write(0x200004, 4, 10)             # complete: line is low now
    assert board.hart.level(MEIP) == 0


def test_break_after_pending_input(board):
    board.wr(FCR, 0x01)
    board.wr(IER, 0x04)
    board.uart.receive(b"x" * 20)                 # 16 in the FIFO, 4 waiting
    board.uart.receive_break()
    assert board.rd(LSR) & 0x10 == 0              # the break is behind the data
    assert board.rd(RBR) == ord("x")
    for _ in range(19):
        assert board.rd(RBR) == ord("x")
    assert board.irq == 1 and board.rd(IIR) == 0xC6
    assert board.rd(LSR) == 0x60 | 0x80 | 0x10 | 0x01   # FIFO error, BI, DR
    assert board.rd(RBR) == 0
    assert board.irq == 0


def test_reset_lowers_irq(board):
    board.wr(IER, 0x02)
    assert board.irq == 1
    board.uart.reset()
    assert board.irq == 0 and board.rd(IER) == 0
