"""Character devices: byte streams between a device (a UART) and the host.

A backend writes what the guest sends, and hands what the host sends to a
receiver. Input is read on a backend thread but delivered on the vCPU thread,
through the EventQueue, because device state belongs to the vCPU thread.
"""

from __future__ import annotations

from typing import Callable

from pyqemu.system.events import EventQueue

Receiver = Callable[[bytes], None]


class ChardevError(Exception):
    """A backend could not be created; the message names the offending input."""


class Chardev:
    """Base backend: writes go nowhere, nothing is ever received."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._events: EventQueue | None = None
        self._on_break: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        """Guest to host. Never raises for a host-side failure (a closed pipe)."""

    def attach(self, receiver: Receiver, events: EventQueue,
               on_break: Callable[[], None] | None = None) -> None:
        """Start delivering host input to `receiver`, on the vCPU thread.

        `on_break` (also run on the vCPU thread) is a break condition on the
        line, which a UART reports to the guest (Linux: the magic SysRq key)."""
        self._receiver = receiver
        self._events = events
        self._on_break = on_break

    def _deliver(self, data: bytes) -> None:
        """Called from a reader thread: queue `data` for the vCPU thread."""
        receiver, events = self._receiver, self._events
        if receiver is not None and events is not None and data:
            events.post(lambda: receiver(data))

    def _deliver_break(self) -> None:
        on_break, events = self._on_break, self._events
        if on_break is not None and events is not None:
            events.post(on_break)

    def close(self) -> None:
        """Release host resources; safe to call more than once."""
