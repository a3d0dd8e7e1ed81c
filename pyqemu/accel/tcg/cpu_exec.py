"""The TCG execution loop: one thread runs every hart round robin, in
slices of translation blocks, and between slices runs expired timers and
work posted from other threads. When every hart waits for an interrupt
(WFI), the thread sleeps until the next timer deadline or posted event.
"""

from __future__ import annotations

from ...system.clock import NEVER

SLICE_TBS = 256


class TCGRunner:
    def __init__(self, harts, clock, events, log=None):
        self.harts = harts
        self.clock = clock
        self.events = events
        self.log = log
        self.stopped = False

    def stop(self) -> None:
        """Ask the loop to return (from any thread)."""
        self.stopped = True
        self.events.kick()

    def run(self) -> None:
        clock, events, harts = self.clock, self.events, self.harts
        trace = self.log is not None and (self.log.enabled("exec") or self.log.enabled("cpu"))
        while not self.stopped:
            if events.pending:
                events.run_pending()
                if self.stopped:
                    break
            if clock.next_deadline <= clock.now_ns():
                clock.run_expired()
            idle = True
            smp = len(harts) > 1
            for h in harts:
                if trace:
                    h.run_traced(SLICE_TBS, self.log, events)
                else:
                    h.run_slice(SLICE_TBS, events)
                if smp:
                    # Other harts run next and their stores do not look at
                    # this hart's reservation: drop it, so a pending SC fails
                    # and retries (a spurious SC failure is allowed; a false
                    # success would break atomicity).
                    h.reservation = None
                if not h.waiting:
                    idle = False
                if self.stopped:
                    return
            if idle:
                deadline = clock.next_deadline
                timeout = None if deadline == NEVER else max(0, deadline - clock.now_ns()) / 1e9
                events.wait(timeout)
