"""`-chardev ringbuf,size=N`: guest output kept in a ring buffer (size a
power of two, default 64 KiB) for the monitor's ringbuf-read; no input."""

from __future__ import annotations

import threading

from pyqemu.chardev.base import Chardev, ChardevError


class RingbufChardev(Chardev):
    def __init__(self, label: str, size: int = 65536):
        super().__init__()
        if size <= 0 or size & (size - 1):
            raise ChardevError(f"size of ringbuf chardev must be power of two")
        self.label = label
        self.size = size
        self._buf = bytearray()
        self._lock = threading.Lock()

    filename = "ringbuf"

    def write(self, data: bytes) -> None:
        with self._lock:
            self._buf += data
            if len(self._buf) > self.size:
                del self._buf[:len(self._buf) - self.size]

    def read(self, size: int) -> bytes:
        """Take up to `size` bytes, oldest first."""
        with self._lock:
            out = bytes(self._buf[:size])
            del self._buf[:size]
            return out
