"""The virtual clock and its timers.

By default virtual time runs with host time while the machine runs and
stands still while it is paused, like QEMU's QEMU_CLOCK_VIRTUAL. Timers are
deadlines in virtual nanoseconds; the vCPU loop asks `next_deadline` and
calls `run_expired` so callbacks run on the vCPU thread, between
translation blocks.

With `-icount shift=N` (InstructionClock) virtual time is instead counted in
executed guest instructions, 2**N ns each, like QEMU's icount: an emulator
far slower than hardware then shows the guest a fast machine (its timer tick
costs a normal share of the instructions, its watchdogs do not fire) and
runs are reproducible. While every hart waits for an interrupt, time moves
with host time up to the next deadline (sleep=on) or jumps to it at once
(sleep=off).
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable

NEVER = 1 << 63


class Timer:
    __slots__ = ("_clock", "callback", "deadline", "_seq")

    def __init__(self, clock: "VirtualClock", callback: Callable[[], None]):
        self._clock = clock
        self.callback = callback
        self.deadline = NEVER
        self._seq = -1

    def arm(self, deadline_ns: int) -> None:
        """(Re)arm at an absolute virtual time in ns."""
        self._clock._arm(self, deadline_ns)

    def arm_in(self, delta_ns: int) -> None:
        self._clock._arm(self, self._clock.now_ns() + max(0, delta_ns))

    def cancel(self) -> None:
        self.deadline = NEVER
        self._seq = -1

    @property
    def pending(self) -> bool:
        return self.deadline != NEVER


class VirtualClock:
    def __init__(self):
        self._offset = -time.monotonic_ns()   # virtual = host + offset
        self._stopped_at: int | None = None
        self._heap: list[tuple[int, int, Timer]] = []
        self._counter = itertools.count()
        # Cached for the vCPU loop's cheap check; NEVER when nothing is armed.
        self.next_deadline = NEVER

    def now_ns(self) -> int:
        if self._stopped_at is not None:
            return self._stopped_at
        return time.monotonic_ns() + self._offset

    def stop(self) -> None:
        if self._stopped_at is None:
            self._stopped_at = self.now_ns()

    def start(self) -> None:
        if self._stopped_at is not None:
            self._offset = self._stopped_at - time.monotonic_ns()
            self._stopped_at = None

    def set_ns(self, value: int) -> None:
        """Used by loadvm/migration to continue the guest's time where it was."""
        if self._stopped_at is not None:
            self._stopped_at = value
        else:
            self._offset = value - time.monotonic_ns()

    def timer(self, callback: Callable[[], None]) -> Timer:
        return Timer(self, callback)

    def _arm(self, timer: Timer, deadline: int) -> None:
        timer.deadline = deadline
        timer._seq = next(self._counter)
        heapq.heappush(self._heap, (deadline, timer._seq, timer))
        if deadline < self.next_deadline:
            self.next_deadline = deadline

    def run_expired(self) -> None:
        now = self.now_ns()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, seq, timer = heapq.heappop(heap)
            if timer._seq != seq:      # re-armed or cancelled since: stale entry
                continue
            timer.deadline = NEVER
            timer._seq = -1
            timer.callback()
        # Drop stale heads so next_deadline is exact.
        while heap and heap[0][2]._seq != heap[0][1]:
            heapq.heappop(heap)
        self.next_deadline = heap[0][0] if heap else NEVER


class InstructionClock(VirtualClock):
    """Virtual time = instructions executed << shift, plus idle time.

    The vCPU loop brackets each hart's slice with `begin_slice(h)` and
    `end_slice()`, so a read of the time in the middle of a slice counts the
    instructions the running hart retired so far (its `instret`). A guest
    write to minstret can move instret backwards; such a step counts as zero
    instructions, so time never goes backwards.
    """

    def __init__(self, shift: int = 0, sleep: bool = True):
        super().__init__()
        self.shift = shift
        self.sleep = sleep
        self._base = 0            # virtual ns at the start of the current slice
        self._hart = None
        self._mark = 0

    def now_ns(self) -> int:
        h = self._hart
        if h is None:
            return self._base
        done = h.instret - self._mark
        return self._base + (done << self.shift if done > 0 else 0)

    def begin_slice(self, hart) -> None:
        self._hart = hart
        self._mark = hart.instret

    def end_slice(self) -> None:
        self._base = self.now_ns()
        self._hart = None

    def idle(self, wait: Callable[[float | None], None]) -> None:
        """Every hart waits: let time pass until the next deadline, in host
        time (sleep=on; `wait` returns early when work is posted) or at once."""
        deadline = self.next_deadline
        if not self.sleep and deadline != NEVER:
            self._base = max(self._base, deadline)
            return
        start = time.monotonic_ns()
        wait(None if deadline == NEVER else max(0, deadline - self._base) / 1e9)
        elapsed = time.monotonic_ns() - start
        self._base = min(self._base + elapsed, max(self._base, deadline))

    def stop(self) -> None:
        pass                      # no instructions run while paused: time stands still

    def start(self) -> None:
        pass

    def set_ns(self, value: int) -> None:
        self._base = value
        if self._hart is not None:
            self._mark = self._hart.instret
