"""`-serial stdio` and `-serial mon:stdio` (what `-nographic` uses).

Output goes to fd 1 unbuffered; input is read from fd 0 on a reader thread
and handed to the vCPU thread. On a terminal, stdin is put into raw mode the
way QEMU does it (no echo, no line editing, no CR/NL translation on input,
output post-processing and signals kept), and the saved settings are put back
when the chardev closes or the process exits, whatever the reason.

With the multiplexer (`mux=True`), Ctrl-A is an escape key, as in QEMU:
C-a x quits, C-a h prints the help, C-a C-a sends a literal C-a, C-a b sends
a break, C-a t toggles timestamps on output lines, C-a c switches between
the guest and the monitor (`attach_monitor`); other escapes are swallowed.
"""

from __future__ import annotations

import atexit
import os
import sys
import termios
import threading
import time
from typing import Callable

from pyqemu.chardev.base import Chardev, Receiver
from pyqemu.system.events import EventQueue

ESCAPE = 0x01   # Ctrl-A

# QEMU 7.2's text, byte for byte (lines end "\n\r" there).
MUX_HELP = (
    "\n\r"
    "C-a h    print this help\n\r"
    "C-a x    exit emulator\n\r"
    "C-a s    save disk data back to file (if -snapshot)\n\r"
    "C-a t    toggle console timestamps\n\r"
    "C-a b    send break (magic sysrq)\n\r"
    "C-a c    switch between console and monitor\n\r"
    "C-a C-a  sends C-a\n\r"
)
MUX_TERMINATED = "QEMU: Terminated\n\r"
MUX_NO_MONITOR = "QEMU: no monitor\n\r"


class _RawTerminal:
    """Raw mode on a tty fd, undone exactly once (close or interpreter exit)."""

    def __init__(self, fd: int):
        self._fd = fd
        self._saved: list | None = termios.tcgetattr(fd)
        raw = termios.tcgetattr(fd)
        iflag, oflag, cflag, lflag = 0, 1, 2, 3
        raw[iflag] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
                        | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)
        raw[oflag] |= termios.OPOST
        raw[lflag] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN)
        raw[cflag] &= ~(termios.CSIZE | termios.PARENB)
        raw[cflag] |= termios.CS8
        raw[6][termios.VMIN] = 1
        raw[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, raw)
        atexit.register(self.restore)

    def restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is not None:
            try:
                termios.tcsetattr(self._fd, termios.TCSANOW, saved)
            except (termios.error, OSError):
                pass
            atexit.unregister(self.restore)


class StdioChardev(Chardev):
    def __init__(self, mux: bool = False, *,
                 on_quit: Callable[[], None] | None = None,
                 on_monitor: Callable[[], None] | None = None,
                 stdin_fd: int = 0, stdout_fd: int = 1):
        """`on_quit` runs on the vCPU thread after C-a x; without it the process
        exits at once with status 0, as QEMU does. `on_monitor` is C-a c.
        Both are plain attributes: a machine may set them after parse_serial."""
        super().__init__()
        self.mux = mux
        self.on_quit = on_quit
        self.on_monitor = on_monitor
        self._in = stdin_fd
        self._out = stdout_fd
        self._write_lock = threading.Lock()
        self._got_escape = False
        self._timestamps = False
        self._timestamps_start: int | None = None
        self._at_line_start = True
        self._terminal: _RawTerminal | None = None
        self._reader: threading.Thread | None = None
        self._closed = False
        # Set when stdin reaches EOF (or fails): nothing more will be received.
        self.input_closed = threading.Event()
        # A monitor on this line (mon:stdio, -monitor stdio): its input
        # callable (run on the reader thread), and whether it has the focus.
        # C-a c switches the focus between the guest and the monitor.
        self.monitor_sink: Callable[[bytes], None] | None = None
        self.on_focus: Callable[[bool], None] | None = None
        self.in_monitor = False
        self.label = "serial0"
        self.filename = "stdio"

    # -- output ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Guest output; with C-a t on, each line starts with the time since
        the first stamped output, as "[HH:MM:SS.mmm] " (QEMU's format)."""
        with self._write_lock:
            if self._timestamps:
                data = self._stamp_lines(data)
            elif data:
                # Kept while off too, so that stamps switched on mid-line wait
                # for the next line.
                self._at_line_start = data.endswith(b"\n")
            self._write_unlocked(data)

    def _stamp_lines(self, data: bytes) -> bytes:
        out = bytearray()
        for line in data.splitlines(keepends=True):
            if self._at_line_start:
                now_ms = time.monotonic_ns() // 1_000_000
                if self._timestamps_start is None:
                    self._timestamps_start = now_ms
                ms = now_ms - self._timestamps_start
                secs = ms // 1000
                out += b"[%02d:%02d:%02d.%03d] " % (secs // 3600, secs // 60 % 60, secs % 60,
                                                    ms % 1000)
            out += line
            self._at_line_start = line.endswith(b"\n")
        return bytes(out)

    def _emit(self, message: str) -> None:
        """The multiplexer's own messages: never timestamped."""
        with self._write_lock:
            self._write_unlocked(message.encode())

    def _write_unlocked(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._out, view):]
        except OSError:
            pass    # stdout closed (a pipe reader went away): drop, as QEMU does

    # -- input -----------------------------------------------------------------

    def attach(self, receiver: Receiver, events: EventQueue,
               on_break: Callable[[], None] | None = None) -> None:
        super().attach(receiver, events, on_break)
        self.start_reader()

    def attach_monitor(self, sink: Callable[[bytes], None],
                       on_focus: Callable[[bool], None] | None = None) -> None:
        """A monitor shares (mux) or owns this line; without a device it
        has the focus from the start."""
        self.monitor_sink = sink
        self.on_focus = on_focus
        if self._receiver is None:
            self.in_monitor = True
            if on_focus is not None:
                on_focus(True)
        self.start_reader()

    def start_reader(self) -> None:
        if self._reader is not None:
            return
        try:
            is_tty = os.isatty(self._in)
        except OSError:
            is_tty = False
        if is_tty and self._terminal is None:
            try:
                self._terminal = _RawTerminal(self._in)
            except termios.error:
                self._terminal = None      # e.g. not our controlling terminal
        self._reader = threading.Thread(target=self._read_loop, name="chardev-stdio",
                                        daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        try:
            self._read_until_eof()
        finally:
            self.input_closed.set()

    def _read_until_eof(self) -> None:
        while not self._closed:
            try:
                chunk = os.read(self._in, 4096)
            except InterruptedError:
                continue
            except OSError:
                return
            if not chunk:
                return      # EOF: the guest simply gets no more input
            if self.mux:
                chunk = self._mux_filter(chunk)
            self._route(chunk)

    def _route(self, data: bytes) -> None:
        if not data:
            return
        if self.in_monitor and self.monitor_sink is not None:
            self.monitor_sink(data)
        else:
            self._deliver(data)

    def _mux_filter(self, chunk: bytes) -> bytes:
        """Act on C-a escapes; return the bytes meant for the guest."""
        out = bytearray()
        for byte in chunk:
            if self._got_escape:
                self._got_escape = False
                if byte == ESCAPE:
                    out.append(byte)
                else:
                    self._route(bytes(out))
                    out.clear()
                    self._mux_command(byte)
            elif byte == ESCAPE:
                self._got_escape = True
            else:
                out.append(byte)
        return bytes(out)

    def _mux_command(self, key: int) -> None:
        if key in (ord("h"), ord("?")):
            self._emit(MUX_HELP)
        elif key == ord("x"):
            self._quit()
        elif key == ord("c"):
            if self.monitor_sink is not None:
                self.in_monitor = not self.in_monitor
                if self.on_focus is not None:
                    self.on_focus(self.in_monitor)
            elif self.on_monitor is not None and self._events is not None:
                self._events.post(self.on_monitor)
            else:
                self._emit(MUX_NO_MONITOR)
        elif key == ord("b"):
            self._deliver_break()
        elif key == ord("t"):
            with self._write_lock:
                self._timestamps = not self._timestamps
                self._timestamps_start = None
        # C-a s (commit -snapshot disks) and unknown keys are swallowed: they
        # have no effect here.

    def _quit(self) -> None:
        if self.on_quit is not None and self._events is not None:
            self._emit(MUX_TERMINATED)
            self._events.post(self.on_quit)
            return
        # Exit at once, as QEMU does; holding the output lock to the end keeps
        # guest output from landing after the message.
        self._write_lock.acquire()
        self._write_unlocked(MUX_TERMINATED.encode())
        self.close()
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os._exit(0)

    def close(self) -> None:
        self._closed = True
        if self._terminal is not None:
            self._terminal.restore()
            self._terminal = None
