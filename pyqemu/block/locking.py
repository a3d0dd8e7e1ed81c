"""Open-file-description byte-range locks (fcntl F_OFD_*), as QEMU takes them."""
from __future__ import annotations

import fcntl
import os
import struct

from .errors import PermissionConflict
from .perms import LOCK_PERM_BASE, LOCK_SHARED_BASE, PERM_NAMES, Perm, bits

F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
# struct flock on Linux x86_64: short l_type, short l_whence, off_t l_start,
# off_t l_len, pid_t l_pid (+ padding).
FLOCK = struct.Struct("hhqqi4x")


def _lock(fd: int, start: int, kind: int) -> bool:
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, FLOCK.pack(kind, os.SEEK_SET, start, 1, 0))
        return True
    except OSError:
        return False


def _conflicts(fd: int, start: int) -> bool:
    """True if another open file description holds a lock on byte `start`."""
    answer = fcntl.fcntl(fd, F_OFD_GETLK, FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0))
    return FLOCK.unpack(answer)[0] != fcntl.F_UNLCK


class ImageLock:
    """The lock bytes one open file description holds for its users."""

    def __init__(self, fd: int, path: str):
        self.fd = fd
        self.path = path
        self.perm = Perm(0)
        self.unshared = Perm(0)

    def _hint(self) -> str:
        return f"Is another process using the image [{self.path}]?"

    def check(self, perm: Perm, unshared: Perm) -> None:
        for bit, p in bits(perm):
            if _conflicts(self.fd, LOCK_SHARED_BASE + bit):
                raise PermissionConflict(f'Failed to get "{PERM_NAMES[p]}" lock\n{self._hint()}')
        for bit, p in bits(unshared):
            if _conflicts(self.fd, LOCK_PERM_BASE + bit):
                raise PermissionConflict(f'Failed to get shared "{PERM_NAMES[p]}" lock\n{self._hint()}')

    def apply(self, perm: Perm, shared_perms: Perm) -> None:
        """Take the locks for (perm, shared); raise if another process conflicts."""
        unshared = Perm(~shared_perms & 0xF)
        # Take new locks first, then test: the test must see the others'
        # locks, and ours being in place already closes the race window.
        for bit, p in bits(perm & ~self.perm):
            if not _lock(self.fd, LOCK_PERM_BASE + bit, fcntl.F_RDLCK):
                raise PermissionConflict(f'Failed to lock byte {LOCK_PERM_BASE + bit}')
        for bit, p in bits(unshared & ~self.unshared):
            if not _lock(self.fd, LOCK_SHARED_BASE + bit, fcntl.F_RDLCK):
                raise PermissionConflict(f'Failed to lock byte {LOCK_SHARED_BASE + bit}')
        try:
            self.check(perm, unshared)
        except PermissionConflict:
            self._release(perm & ~self.perm, unshared & ~self.unshared)
            raise
        self._release(self.perm & ~perm, self.unshared & ~unshared)
        self.perm, self.unshared = perm, unshared

    def _release(self, perm: Perm, unshared: Perm) -> None:
        for bit, _ in bits(perm):
            _lock(self.fd, LOCK_PERM_BASE + bit, fcntl.F_UNLCK)
        for bit, _ in bits(unshared):
            _lock(self.fd, LOCK_SHARED_BASE + bit, fcntl.F_UNLCK)

    def release_all(self) -> None:
        self._release(self.perm, self.unshared)
        self.perm = self.unshared = Perm(0)
