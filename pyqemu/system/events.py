"""Work handed to the vCPU thread from other threads.

Reader threads (stdin, sockets) must not touch device state directly: they
`post` a callable, which sets `pending` (a plain attribute the vCPU loop
checks between blocks, cheaply) and wakes a vCPU sleeping in WFI.
"""

from __future__ import annotations

import collections
import threading
from typing import Callable


class EventQueue:
    def __init__(self):
        self._queue: collections.deque[Callable[[], None]] = collections.deque()
        self._wakeup = threading.Event()
        self.pending = False

    def post(self, fn: Callable[[], None]) -> None:
        self._queue.append(fn)
        self.pending = True
        self._wakeup.set()

    def kick(self) -> None:
        """Wake a sleeping vCPU without work (e.g. to re-check run state)."""
        self.pending = True
        self._wakeup.set()

    def run_pending(self) -> None:
        self.pending = False
        q = self._queue
        while q:
            q.popleft()()

    def wait(self, timeout: float | None) -> None:
        """Sleep until posted work or timeout (seconds; None = forever)."""
        if self.pending:
            return
        self._wakeup.wait(timeout)
        self._wakeup.clear()
