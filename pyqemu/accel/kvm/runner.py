"""The KVM execution loop: one host thread per vCPU, each in KVM_RUN (with
the GIL released, so vCPUs run in parallel), turning every exit into one
call on the port-I/O or MMIO bus under the device lock; and one I/O thread
that runs timers and work posted by reader threads (the same EventQueue
and VirtualClock the TCG loop serves).

Pausing sets `immediate_exit` and sends each vCPU thread SIGUSR1, which
breaks KVM_RUN with EINTR (api.rst 4.10 and the kvm_run `immediate_exit`
field); the thread then parks until resumed.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from typing import Callable, Protocol, TypeVar

from ...system.clock import NEVER
from . import api
from .vcpu import KvmVcpu

T = TypeVar("T")
KICK_SIGNAL = signal.SIGUSR1
_kick_installed = False


def install_kick_handler() -> bool:
    """A no-op handler for the kick signal, so it interrupts KVM_RUN instead
    of killing the process. Only the main thread may install handlers."""
    global _kick_installed
    if _kick_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(KICK_SIGNAL, lambda signum, frame: None)
    _kick_installed = True
    return True


class ExitHandler(Protocol):
    """What the board gives the runner: the buses and what to do on errors."""

    def pio_read(self, port: int, size: int) -> int: ...
    def pio_write(self, port: int, size: int, value: int) -> None: ...
    def mmio_read(self, addr: int, size: int) -> int: ...
    def mmio_write(self, addr: int, size: int, value: int) -> None: ...
    def vcpu_error(self, vcpu: KvmVcpu, message: str) -> None: ...
    def triple_fault(self, vcpu: KvmVcpu) -> None: ...
    def system_event(self, vcpu: KvmVcpu, kind: int) -> None: ...


class KvmRunner:
    def __init__(self, vcpus: list[KvmVcpu], clock, events, handler: ExitHandler,
                 device_lock: threading.RLock, log=None):
        self.vcpus = vcpus
        self.clock = clock
        self.events = events
        self.handler = handler
        self.lock = device_lock
        self.log = log
        self.stopped = False
        self._run_allowed = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._in_guest = [False] * len(vcpus)      # parked when False and not allowed to run
        self._io_thread: threading.Thread | None = None
        self.thread: threading.Thread | None = None  # vCPU 0's thread (monitor's thread-id)
        self.exit_counts: dict[str, int] = {}
        self.kickable = install_kick_handler()
        # Called (under the device lock) once every vCPU is out of the guest
        # after a pause: the board finishes work the guest asked for before
        # it stopped (virtio notifies still in their ioeventfds), so a
        # stopped machine has no request in flight when its state is saved.
        self.quiesce_hooks: list[Callable[[], None]] = []

    # -- control, from any thread ------------------------------------------------------
    def start_thread(self) -> None:
        if self._threads:
            return
        for i, vcpu in enumerate(self.vcpus):
            t = threading.Thread(target=self._vcpu_loop, args=(i, vcpu), name=f"CPU {i}/KVM",
                                 daemon=True)
            self._threads.append(t)
        self.thread = self._threads[0]
        self._io_thread = threading.Thread(target=self._io_loop, name="iothread", daemon=True)
        self._io_thread.start()
        for t in self._threads:
            t.start()

    def on_vcpu_thread(self) -> bool:
        return threading.current_thread() in self._threads

    def resume(self) -> None:
        with self._cond:
            self._run_allowed = True
            self.clock.start()
            self._cond.notify_all()

    def _kick_all(self) -> None:
        for i, vcpu in enumerate(self.vcpus):
            vcpu.run_struct.immediate_exit = 1
            t = self._threads[i] if i < len(self._threads) else None
            if t is not None and t.is_alive() and t is not threading.current_thread() and self.kickable:
                try:
                    signal.pthread_kill(t.ident, KICK_SIGNAL)
                except (ProcessLookupError, OSError):
                    pass

    def pause(self) -> None:
        """Stop every vCPU; returns once none is in the guest (at once when
        called from a vCPU thread, which parks after its current exit)."""
        with self._cond:
            self._run_allowed = False
        self._kick_all()
        if self.on_vcpu_thread():
            return
        with self._cond:
            while any(self._in_guest) and self._threads and any(t.is_alive() for t in self._threads):
                if not self._cond.wait(0.05):
                    self._kick_all()
            self.clock.stop()
        if self.quiesce_hooks:
            with self.lock:
                for hook in self.quiesce_hooks:
                    hook()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._run_allowed = False
            self._cond.notify_all()
        self._kick_all()
        self.events.kick()

    def join(self, timeout: float) -> None:
        for t in self._threads + ([self._io_thread] if self._io_thread else []):
            if t is not threading.current_thread():
                t.join(timeout)

    def run_on_vcpu(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn` with the machine quiescent: the vCPUs out of KVM_RUN (so
        their registers can be read) and the device lock held. As TCG's
        version, the guest makes no progress meanwhile."""
        if self.on_vcpu_thread():
            with self.lock:
                return fn()
        was_running = self._run_allowed
        if was_running:
            self.pause()         # before the lock: a vCPU may be waiting for it
        try:
            with self.lock:
                return fn()
        finally:
            if was_running and not self.stopped:
                self.resume()

    # -- the I/O thread ------------------------------------------------------------------
    def _io_loop(self) -> None:
        clock, events = self.clock, self.events
        while not self.stopped:
            deadline = clock.next_deadline
            timeout = 0.5 if deadline == NEVER else max(0.0, min(0.5, (deadline - clock.now_ns()) / 1e9))
            events.wait(timeout)
            with self.lock:
                events.run_pending()
                clock.run_expired()

    # -- a vCPU thread -------------------------------------------------------------------
    def _park(self, i: int) -> bool:
        """Wait until running is allowed; False when the runner stops."""
        with self._cond:
            self._in_guest[i] = False
            self._cond.notify_all()
            while not self._run_allowed and not self.stopped:
                self._cond.wait()
            if self.stopped:
                return False
            self._in_guest[i] = True
            return True

    def _vcpu_loop(self, i: int, vcpu: KvmVcpu) -> None:
        run = vcpu.run_struct
        handler, lock = self.handler, self.lock
        counts = self.exit_counts
        # An I/O or MMIO exit was served but KVM has not finished it yet.
        incomplete = False
        try:
            while True:
                if not self._run_allowed or self.stopped:
                    if incomplete:
                        # api.rst, KVM_RUN: the operation of an I/O or MMIO
                        # exit completes (an IN's value reaches its register)
                        # only when KVM_RUN is entered again, and its pending
                        # state is not in what KVM_GET_* show; entered with
                        # immediate_exit set, KVM finishes it and returns
                        # without running the guest. So a paused vCPU has a
                        # consistent state to save, and a state loaded while
                        # it is parked is not overwritten by the old exit's
                        # completion when it resumes.
                        run.immediate_exit = 1
                        vcpu.run()
                        incomplete = False
                    if not self._park(i):
                        return
                    run.immediate_exit = 0
                err = vcpu.run()
                incomplete = False
                if err:
                    if err in (errno.EINTR, errno.EAGAIN):
                        run.immediate_exit = 0
                        continue
                    with lock:
                        handler.vcpu_error(vcpu, f"KVM_RUN failed: {errno.errorcode.get(err, err)}")
                    self._stop_self()
                    continue
                reason = run.exit_reason
                if reason == api.ExitReason.IO:
                    io = run.u.io
                    size, port, count = io.size, io.port, io.count
                    data = vcpu.io_data(io.data_offset, size * count)
                    with lock:
                        if io.direction == api.KVM_EXIT_IO_OUT:
                            for k in range(count):
                                handler.pio_write(port, size, int.from_bytes(data[k * size:(k + 1) * size], "little"))
                        else:
                            for k in range(count):
                                data[k * size:(k + 1) * size] = handler.pio_read(port, size).to_bytes(size, "little")
                    data.release()
                    incomplete = True
                elif reason == api.ExitReason.MMIO:
                    m = run.u.mmio
                    n = m.len
                    with lock:
                        if m.is_write:
                            handler.mmio_write(m.phys_addr, n, int.from_bytes(bytes(m.data)[:n], "little"))
                        else:
                            value = handler.mmio_read(m.phys_addr, n)
                            for k in range(n):
                                m.data[k] = (value >> (8 * k)) & 0xFF
                    incomplete = True
                elif reason == api.ExitReason.INTR:
                    pass
                elif reason == api.ExitReason.HLT:
                    # Only without an in-kernel irqchip; ours has one. Nothing can wake us.
                    with lock:
                        handler.vcpu_error(vcpu, "the guest halted with interrupts it cannot receive")
                    self._stop_self()
                elif reason == api.ExitReason.SHUTDOWN:
                    with lock:
                        handler.triple_fault(vcpu)
                    self._stop_self()
                elif reason == api.ExitReason.SYSTEM_EVENT:
                    with lock:
                        handler.system_event(vcpu, run.u.system_event.type)
                    self._stop_self()
                else:
                    with lock:
                        handler.vcpu_error(vcpu, self._describe_exit(run))
                    self._stop_self()
                counts[reason] = counts.get(reason, 0) + 1
        except Exception as e:        # a bug of ours: say so on one line, stop the guest
            sys.stderr.write(f"pyqemu: vCPU {i} thread failed: {type(e).__name__}: {e}\n")
            try:
                with lock:
                    handler.vcpu_error(vcpu, f"internal error in the vCPU loop: {e}")
            finally:
                with self._cond:
                    self._in_guest[i] = False
                    self._cond.notify_all()

    def _stop_self(self) -> None:
        """After a fatal exit this vCPU does not enter the guest again until resumed."""
        with self._cond:
            self._run_allowed = False
        self._kick_all()

    @staticmethod
    def _describe_exit(run: api.Run) -> str:
        reason = run.exit_reason
        if reason == api.ExitReason.INTERNAL_ERROR:
            internal = run.u.internal
            try:
                kind = api.InternalError(internal.suberror).name.lower().replace("_", " ")
            except ValueError:
                kind = "unknown"
            extra = " ".join(f"{internal.data[k]:x}" for k in range(min(internal.ndata, 16)))
            return f"KVM internal error. Suberror: {internal.suberror} ({kind})" + \
                (f"\nextra data: {extra}" if extra else "")
        if reason == api.ExitReason.FAIL_ENTRY:
            return ("KVM: entry failed, hardware error "
                    f"{run.u.fail_entry.hardware_entry_failure_reason:#x}")
        try:
            name = api.ExitReason(reason).name
        except ValueError:
            name = str(reason)
        return f"KVM: unhandled exit reason {name}"
