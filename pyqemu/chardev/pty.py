"""`-chardev pty` / `-serial pty`: a pseudo-terminal; its slave's name is
printed as QEMU does ("char device redirected to /dev/pts/N (label L)")."""

from __future__ import annotations

import os
import sys
import threading
import tty

from pyqemu.chardev.base import Chardev


class PtyChardev(Chardev):
    def __init__(self, label: str):
        super().__init__()
        self.label = label
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.slave_name = os.ttyname(slave)
        # Keep the slave open so output written before a client opens it is
        # not an EIO on the master.
        self._slave = slave
        self._closed = False
        sys.stderr.write(f"char device redirected to {self.slave_name} (label {label})\n")
        sys.stderr.flush()

    @property
    def filename(self) -> str:
        return f"pty:{self.slave_name}"

    def write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except OSError:
            pass        # nobody reads the other side: drop, as QEMU does

    def attach(self, receiver, events, on_break=None) -> None:
        super().attach(receiver, events, on_break)
        threading.Thread(target=self._read_loop, name=f"chardev-{self.label}",
                         daemon=True).start()

    def _read_loop(self) -> None:
        while not self._closed:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            self._deliver(data)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
