"""The TCG execution loop: one vCPU thread runs every hart round robin, in
slices of translation blocks, and between slices runs expired timers and
work posted from other threads. When every hart waits for an interrupt
(WFI), the thread sleeps until the next timer deadline or posted event.

The run-state machine (`system/runstate.py`) starts and stops the harts with
`resume`/`pause`; a paused loop keeps running posted work (device input,
monitor requests) with the virtual clock stopped.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from ...system.clock import NEVER

SLICE_TBS = 256
# With several harts, a slice also ends after about this many instructions.
# Native code runs up to a budget of instructions per block entry, so 256
# entries could be millions of instructions: a hart spinning on a lock or on
# an IPI answer would burn all of them (and, with -icount, the guest's time)
# before the other hart gets to answer.
SLICE_INSNS = 10_000


class SliceEnd(Exception):
    """Native code used up the hart's slice (SLICE_INSNS): run_slice returns,
    at a block boundary, with the hart's state complete."""
T = TypeVar("T")


class TCGRunner:
    def __init__(self, harts, clock, events, log=None):
        self.harts = harts
        self.clock = clock
        self.events = events
        self.log = log
        self.stopped = False
        self.thread: threading.Thread | None = None
        self._run_allowed = False
        # Set while the loop is outside the harts (paused, or not started):
        # what `pause` waits for, so device and CPU state are then quiescent.
        self._parked = threading.Event()
        self._parked.set()
        self._clock_stopped = False
        # Python API hooks (pyqemu/api.py): called on the vCPU thread before
        # each translation block runs, with (cpu, tb); instruction hooks get
        # (cpu, pc) for each instruction of the block about to run.
        self.block_hooks: list = []
        self.insn_hooks: list = []
        # -icount: the clock counts the instructions of each slice.
        self._icount = hasattr(clock, "begin_slice")

    # -- control, from any thread -----------------------------------------------------
    def start_thread(self) -> None:
        """Start the vCPU thread (paused until `resume`)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, name="vcpu", daemon=True)
            self.thread.start()

    def on_vcpu_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def resume(self) -> None:
        self._parked.clear()
        self._run_allowed = True
        self.events.kick()

    def pause(self) -> None:
        """Stop running guest code; returns once no hart runs (at once when
        called from the vCPU thread itself: it parks after the current block)."""
        self._run_allowed = False
        self.events.kick()
        if self.on_vcpu_thread() or self.thread is None or not self.thread.is_alive():
            return
        self._parked.wait()

    def stop(self) -> None:
        """Ask the loop to return for good (from any thread)."""
        self.stopped = True
        self._run_allowed = False
        self.events.kick()

    def run_on_vcpu(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn` on the vCPU thread between blocks and return its result
        (or raise its exception); direct when no vCPU thread runs."""
        thread = self.thread
        if thread is None or not thread.is_alive() or self.on_vcpu_thread() or self.stopped:
            return fn()
        done = threading.Event()
        box: list = []

        def work():
            try:
                box.append((True, fn()))
            except BaseException as e:      # handed to the caller's thread
                box.append((False, e))
            done.set()

        self.events.post(work)
        while not done.wait(0.05):
            if not thread.is_alive():
                return fn()
        ok, value = box[0]
        if ok:
            return value
        raise value

    def _hooks_before(self, h):
        """The Python API's hooks, run before each block of hart h."""
        def before(tb):
            for fn in self.block_hooks:
                fn(h, tb)
            for fn in self.insn_hooks:
                for pc in tb.insn_pcs:
                    fn(h, pc)
            return self._run_allowed      # a hook stopped the machine: the block does not run
        return before

    def _trace_before(self, h, log):
        """-d cpu / -d exec output before each block of hart h."""
        def before(tb):
            if log.enabled("cpu"):
                log.cpu_state(h)
            if log.enabled("exec"):
                log.exec_tb(h)
        return before

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> None:
        clock, events, harts = self.clock, self.events, self.harts
        try:
            while not self.stopped:
                # The monitor's `log` may change the log between slices.
                log = self.log
                trace = log is not None and (log.enabled("exec") or log.enabled("cpu"))
                if events.pending:
                    events.run_pending()
                    if self.stopped:
                        break
                if not self._run_allowed:
                    if not self._clock_stopped:
                        clock.stop()
                        self._clock_stopped = True
                    self._parked.set()
                    # Timers belong to virtual time, which stands still: only
                    # posted work (or resume) wakes the loop.
                    events.wait(None)
                    continue
                if self._clock_stopped:
                    clock.start()
                    self._clock_stopped = False
                if clock.next_deadline <= clock.now_ns():
                    clock.run_expired()
                idle = True
                smp = len(harts) > 1
                hooked = bool(self.block_hooks or self.insn_hooks)
                icount = self._icount
                for h in harts:
                    if smp:
                        h.slice_end = h.instret + SLICE_INSNS
                    if icount:
                        clock.begin_slice(h)
                    if hooked:
                        h.run_observed(SLICE_TBS, events, self._hooks_before(h))
                    elif trace:
                        h.run_observed(SLICE_TBS, events, self._trace_before(h, log))
                    else:
                        h.run_slice(SLICE_TBS, events)
                    if icount:
                        clock.end_slice()
                    if smp:
                        # Other harts run next and their stores do not look at
                        # this hart's reservation: drop it, so a pending SC fails
                        # and retries (a spurious SC failure is allowed; a false
                        # success would break atomicity).
                        h.reservation = None
                    if not h.waiting:
                        idle = False
                    if self.stopped or not self._run_allowed:
                        break
                if idle and self._run_allowed and not self.stopped and icount:
                    clock.idle(events.wait)
                elif idle and self._run_allowed and not self.stopped:
                    deadline = clock.next_deadline
                    timeout = None if deadline == NEVER else max(0, deadline - clock.now_ns()) / 1e9
                    events.wait(timeout)
        finally:
            self._parked.set()
