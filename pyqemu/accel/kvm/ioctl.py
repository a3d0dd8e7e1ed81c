"""ioctl through libc with ctypes: the call releases the GIL (KVM_RUN blocks
for as long as the guest runs) and takes a structure by address, no copy."""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_ioctl = _libc.ioctl
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_ioctl.restype = ctypes.c_int


def ioctl(fd: int, request: int, arg=None) -> int:
    """The ioctl's non-negative result; OSError (with errno) on failure.
    `arg` is a ctypes object (passed by address), an int, or None."""
    if arg is None:
        ptr = None
    elif isinstance(arg, int):
        ptr = arg
    else:
        ptr = ctypes.addressof(arg)
    result = _ioctl(fd, request, ptr)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result
