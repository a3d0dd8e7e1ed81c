"""One GDB connection: the packets of the GDB remote serial protocol
(GDB manual, appendix E) a RISC-V system target needs.

Threads are GDB's harts, thread id = hart id + 1 (GDB reserves 0 and -1).
The connection runs on its own thread; register and memory work runs on
the vCPU thread (`runner.run_on_vcpu`) with the machine stopped.
"""

from __future__ import annotations

import queue
import sys
import select
import socket
import threading

from ..monitor.memory import MemoryAccessError, read_virtual, virt_to_phys
from ..system.runstate import RunState
from .control import SIGINT, SIGTRAP, Debugger, StopReason, Watchpoint, WatchKind
from .packet import PacketReader, frame, unescape
from .registers import G_REGISTERS, RegisterFile

PACKET_SIZE = 0x4000
# errno-style error numbers GDB prints ("E14": bad address, as QEMU's stub).
E_BAD_ADDRESS = "E14"
E_INVALID = "E22"


class GdbSession:
    def __init__(self, sock: socket.socket, machine, run_hmp=None, on_close=None):
        self.sock = sock
        self.machine = machine
        self.run_hmp = run_hmp              # `monitor CMD` (qRcmd): HMP line -> text
        self._on_close = on_close
        self.harts = machine.harts
        self.regs = RegisterFile(machine.cfg.xlen, machine.harts[0].csrs.table.keys())
        self._xml = self.regs.target_xml().encode()
        self.debugger = Debugger(machine, self._stopped)
        self._stops: queue.Queue = queue.Queue()
        self._send_lock = threading.Lock()
        self._ack = True
        self._g_hart = machine.harts[0]      # Hg: registers and memory
        self._c_hart = machine.harts[0]      # Hc: what to step
        self._last_stop = StopReason(SIGTRAP, 0)
        self._waiting_stop = False          # GDB waits for a stop reply
        self._closed = False
        self._exit_listener = self._machine_exited

    # -- output ----------------------------------------------------------------------
    def send(self, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        with self._send_lock:
            try:
                self.sock.sendall(frame(data))
            except OSError:
                pass

    def _thread_id(self, hart_id: int) -> str:
        return f"{hart_id + 1:02x}"

    def _stop_reply(self, stop: StopReason) -> str:
        return f"T{stop.signal:02x}thread:{self._thread_id(stop.hart)};{stop.extra}"

    # -- stops (any thread) ------------------------------------------------------------
    def _stopped(self, stop: StopReason) -> None:
        self._stops.put(stop)

    def _runstate_changed(self, running: bool, state) -> None:
        # A stop GDB did not cause (QMP `stop`, its own ^C) ends its wait as an
        # interrupt, as QEMU's stub reports a pause. Stops in debug state come
        # with their own reason from the debugger.
        if not self._closed and self._waiting_stop and state is RunState.PAUSED:
            self._stops.put(StopReason(SIGINT, self._c_hart.hart_id))

    def _machine_exited(self) -> None:
        # The guest powered off (or the process quits): GDB hears the exit status.
        if not self._closed:
            code = self.machine.exit_code or 0
            self.send(f"W{code & 0xFF:02x}")

    # -- the connection ------------------------------------------------------------------
    def run(self) -> None:
        m = self.machine
        m.exit_listeners.append(self._exit_listener)
        m.runstate.add_notifier(self._runstate_changed)
        try:
            # As QEMU: a new connection stops a running machine.
            self.debugger.attach()
            if m.runstate.state is RunState.RUNNING:
                m.runstate.vm_stop(RunState.PAUSED)
            reader = PacketReader()
            while not self._closed:
                try:
                    data = self._recv()
                except OSError:
                    break
                if data is None:
                    continue
                if not data:
                    break
                for ev in reader.feed(data):
                    if ev[0] == "packet":
                        _, payload, ok = ev
                        if self._ack:
                            self.sock.sendall(b"+" if ok else b"-")
                        if ok:
                            self._packet(payload)
                    elif ev[0] == "interrupt":
                        self._interrupt()
                    if self._closed:
                        break
        finally:
            self.close()

    def _recv(self) -> bytes | None:
        """Bytes from GDB, or None when a stop happened meanwhile (sent here)."""
        while True:
            if self._waiting_stop:
                try:
                    stop = self._stops.get_nowait()
                except queue.Empty:
                    stop = None
                if stop is not None:
                    self._report(stop)
            if self._closed:
                return b""
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if r:
                return self.sock.recv(65536)

    def _report(self, stop: StopReason) -> None:
        self._waiting_stop = False
        self._last_stop = stop
        self._g_hart = self._c_hart = self.harts[stop.hart]
        self.send(self._stop_reply(stop))

    def close(self) -> None:
        if self._closed and self.sock.fileno() < 0:
            return
        self._closed = True
        try:
            self.machine.exit_listeners.remove(self._exit_listener)
        except ValueError:
            pass
        try:
            self.debugger.detach()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        if self._on_close is not None:
            self._on_close(self)

    # -- packets -----------------------------------------------------------------------
    def _packet(self, payload: bytes) -> None:
        if not payload:
            self.send("")
            return
        cmd = chr(payload[0])
        if cmd in "XM" or payload.startswith(b"vFile"):
            text = payload.decode("latin-1")
        else:
            text = payload.decode("ascii", "replace")
        try:
            reply = self._dispatch(cmd, text, payload)
        except (ValueError, IndexError, KeyError):      # a malformed packet
            reply = E_INVALID
        except Exception as e:          # a stub bug must not end the debugging session
            sys.stderr.write(f"gdbstub: packet {payload[:40]!r}: {type(e).__name__}: {e}\n")
            reply = "E01"
        if reply is not None:
            self.send(reply)

    def _dispatch(self, cmd: str, text: str, raw: bytes) -> str | None:
        if cmd == "?":
            return self._stop_reply(StopReason(SIGTRAP, self._last_stop.hart))
        if cmd == "g":
            return self._vcpu(lambda: "".join(self.regs.encode(i, self.regs.read(self._g_hart, i))
                                              for i in range(G_REGISTERS)))
        if cmd == "G":
            return self._write_g(text[1:])
        if cmd == "p":
            return self._read_reg(int(text[1:], 16))
        if cmd == "P":
            num, eq, value = text[1:].partition("=")
            if not eq:
                return E_INVALID
            return self._write_reg(int(num, 16), value)
        if cmd == "m":
            addr, _, length = text[1:].partition(",")
            return self._read_mem(int(addr, 16), int(length, 16))
        if cmd == "M":
            head, _, data = text[1:].partition(":")
            addr, _, length = head.partition(",")
            return self._write_mem(int(addr, 16), bytes.fromhex(data)[:int(length, 16)])
        if cmd == "X":
            head, _, _ = text[1:].partition(":")
            addr, _, length = head.partition(",")
            data = unescape(raw[raw.index(b":") + 1:])
            return self._write_mem(int(addr, 16), data[:int(length, 16)])
        if cmd in "cC":
            return self._resume(None, text[1:] if cmd == "c" else text[1:].partition(";")[2])
        if cmd in "sS":
            return self._resume(self._c_hart, text[1:] if cmd == "s" else "")
        if cmd == "v":
            return self._v_packet(text)
        if cmd == "H":
            return self._set_thread(text[1], text[2:])
        if cmd == "T":
            return "OK" if self._hart_of(text[1:]) is not None else "E22"
        if cmd in "Zz":
            return self._breakpoint(cmd == "Z", text[1:])
        if cmd == "q":
            return self._query(text)
        if cmd == "Q":
            if text == "QStartNoAckMode":
                self.send("OK")
                self._ack = False
                return None
            return ""
        if cmd == "D":
            self.send("OK")
            self._detach()
            return None
        if cmd == "k":
            self._kill()
            return None
        return ""

    def _vcpu(self, fn):
        return self.machine.runner.run_on_vcpu(fn)

    # -- registers -------------------------------------------------------------------
    def _read_reg(self, num: int) -> str:
        if self.regs.width(num) is None:
            return E_BAD_ADDRESS
        return self._vcpu(lambda: self.regs.encode(num, self.regs.read(self._g_hart, num)))

    def _write_reg(self, num: int, hexvalue: str) -> str:
        width = self.regs.width(num)
        if width is None:
            return E_BAD_ADDRESS
        raw = bytes.fromhex(hexvalue)
        if len(raw) < width:
            return E_INVALID
        value = int.from_bytes(raw[:width], "little")
        ok = self._vcpu(lambda: self.regs.write(self._g_hart, num, value))
        return "OK" if ok else E_BAD_ADDRESS

    def _write_g(self, hexdata: str) -> str:
        data = bytes.fromhex(hexdata)
        size = self.regs.size

        def write():
            for i in range(min(G_REGISTERS, len(data) // size)):
                self.regs.write(self._g_hart, i,
                                int.from_bytes(data[i * size:(i + 1) * size], "little"))
        self._vcpu(write)
        return "OK"

    # -- memory (virtual addresses, through the current hart's MMU) ----------------------
    def _read_mem(self, addr: int, length: int) -> str:
        length = min(length, PACKET_SIZE // 2)
        try:
            return self._vcpu(lambda: read_virtual(self._g_hart, addr, length)).hex()
        except MemoryAccessError:
            return E_BAD_ADDRESS

    def _write_mem(self, addr: int, data: bytes) -> str:
        machine = self.machine

        def write():
            from ..memory.region import RamRegion
            pos = 0
            while pos < len(data):
                va = addr + pos
                chunk = min(len(data) - pos, 4096 - (va & 0xFFF))
                pa = virt_to_phys(self._g_hart, va)
                m = machine.bus.find(pa)
                if m is None or not isinstance(m.region, RamRegion) or pa + chunk > m.end:
                    raise MemoryAccessError(f"0x{va:x} is not RAM")
                machine.bus.write_bytes(pa, data[pos:pos + chunk])
                pos += chunk
            for h in machine.harts:        # the bytes may be code already translated
                h.flush_translations()
        try:
            self._vcpu(write)
        except MemoryAccessError:
            return E_BAD_ADDRESS
        return "OK"

    # -- threads ------------------------------------------------------------------------
    def _hart_of(self, tid: str):
        """The hart a thread id names; 0 and -1 mean 'any' (the first)."""
        tid = tid.split(".")[-1]          # multiprocess form p1.2
        n = int(tid, 16) if tid not in ("-1", "") else 0
        if n in (0, -1):
            return self.harts[0]
        if 1 <= n <= len(self.harts):
            return self.harts[n - 1]
        return None

    def _set_thread(self, op: str, tid: str) -> str:
        if tid == "-1":
            return "OK"
        h = self._hart_of(tid)
        if h is None:
            return "E22"
        if op == "g":
            self._g_hart = h
        else:
            self._c_hart = h
        return "OK"

    # -- execution ---------------------------------------------------------------------
    def _resume(self, step_hart, addr: str, held=()) -> str | None:
        state = self.machine.runstate.state
        if state in (RunState.SHUTDOWN, RunState.INTERNAL_ERROR, RunState.GUEST_PANICKED):
            return "E22"
        if addr:
            self._vcpu(lambda: setattr(step_hart or self._c_hart, "pc", int(addr, 16)))
        while not self._stops.empty():      # stale stops of an earlier run
            self._stops.get_nowait()
        self._waiting_stop = True
        self.debugger.resume(step_hart, held)
        return None

    def _interrupt(self) -> None:
        if not self._waiting_stop:
            return
        self.debugger.interrupt()      # the pause is reported by _runstate_changed

    def _v_packet(self, text: str) -> str | None:
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            # Each action names its threads; the first that applies wins; a
            # thread no action names stays stopped.
            actions: dict = {}
            for action in text[6:].split(";"):
                kind, _, tid = action.partition(":")
                harts = self.harts if tid in ("", "-1") else [self._hart_of(tid)]
                if harts == [None]:
                    return "E22"
                for h in harts:
                    actions.setdefault(h, kind[:1].lower())
            steps = [h for h, k in actions.items() if k == "s"]
            if not actions or any(k not in "cs" for k in actions.values()):
                return "E22"
            step = steps[0] if steps else None
            if step is not None:
                self._c_hart = step
            held = [h for h in self.harts if h not in actions]
            return self._resume(step, "", held)
        if text.startswith("vKill"):
            self._kill()
            return None
        return ""

    def _breakpoint(self, insert: bool, args: str) -> str:
        kind, addr, length = args.split(",")[:3]
        kind_n, addr_n = int(kind), int(addr, 16)
        length_n = int(length.split(";")[0], 16)
        d = self.debugger
        if kind_n in (0, 1):          # software and hardware breakpoints alike
            if insert:
                d.add_breakpoint(addr_n)
            else:
                d.remove_breakpoint(addr_n)
            return "OK"
        if kind_n in (2, 3, 4):
            w = Watchpoint(addr_n, max(1, length_n), WatchKind(kind_n))
            if insert:
                d.add_watchpoint(w)
                return "OK"
            return "OK" if d.remove_watchpoint(w) else "E22"
        return ""

    def _detach(self) -> None:
        self.debugger.detach()
        rs = self.machine.runstate
        # As QEMU's stub: detaching lets the machine run, even out of -S.
        if rs.state not in (RunState.RUNNING, RunState.SHUTDOWN, RunState.INTERNAL_ERROR,
                            RunState.GUEST_PANICKED, RunState.INMIGRATE):
            rs.vm_start()
        self._closed = True

    def _kill(self) -> None:
        from ..system.runstate import ShutdownCause
        sys.stderr.write("pyqemu: Terminated via GDBstub\n")
        self._closed = True
        threading.Thread(target=self.machine.quit, args=(0, ShutdownCause.HOST_UI),
                         daemon=True).start()

    # -- queries -------------------------------------------------------------------------
    def _query(self, text: str) -> str:
        if text.startswith("qSupported"):
            return f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;vContSupported+;" \
                   "QStartNoAckMode+"
        if text.startswith("qXfer:features:read:"):
            annex, _, span = text[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            off, _, length = span.partition(",")
            off_n, len_n = int(off, 16), int(length, 16)
            chunk = self._xml[off_n:off_n + len_n]
            more = off_n + len_n < len(self._xml)
            return ("m" if more else "l") + chunk.decode()
        if text == "qAttached" or text.startswith("qAttached:"):
            return "1"
        if text == "qC":
            return "QC" + self._thread_id(self._c_hart.hart_id)
        if text == "qfThreadInfo":
            return "m" + ",".join(self._thread_id(h.hart_id) for h in self.harts)
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("qThreadExtraInfo,"):
            h = self._hart_of(text.split(",")[1])
            if h is None:
                return E_INVALID
            state = "halted" if h.waiting else "running"
            return f"CPU#{h.hart_id} [{state}]".encode().hex()
        if text.startswith("qRcmd,"):
            return self._monitor_command(bytes.fromhex(text[6:]).decode(errors="replace"))
        return ""

    def _monitor_command(self, line: str) -> str:
        if self.run_hmp is None:
            return ""
        out = self.run_hmp(line)
        if out:
            self.send("O" + out.encode().hex())
        return "OK"
