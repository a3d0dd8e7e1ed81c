"""`-serial file:PATH`: guest output is written to a file, truncated at open, as QEMU does."""

from __future__ import annotations

import os

from pyqemu.chardev.base import Chardev, ChardevError


class FileChardev(Chardev):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as e:
            raise ChardevError(f"Could not open '{path}': {e.strerror}") from None

    def write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass    # a full disk must not take the guest down; QEMU drops the bytes too

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
