"""-strace output in QEMU's shape: `PID name(arg,arg,...) = result`, with
strings quoted, pointers in hex, and errors as `-1 errno=N (message)`."""

from __future__ import annotations

import os

_POINTER_RESULT = {"brk", "mmap", "mremap"}


def format_arg(mem, kind: str, v: int) -> str:
    if kind in "sS":
        if v == 0:
            return "NULL"
        try:
            s = mem.buf[v:mem.buf.find(b"\x00", v, v + 256)]
        except (ValueError, IndexError):
            return f"0x{v:x}"
        return '"' + s.decode("utf-8", "backslashreplace") + '"'
    if kind in "purw":
        if kind == "u":
            return str(v)
        return "NULL" if v == 0 else f"0x{v:x}"
    if kind == "o":
        return f"{v & 0xFFFFFFFF:#o}"
    if kind == "m":
        return f"0{v & 0o7777:o}"
    v &= 0xFFFFFFFFFFFFFFFF
    v = v - (1 << 64) if v >> 63 else v
    return "AT_FDCWD" if kind == "d" and v == -100 else str(v)


def format_call(mem, pid: int, nr: int, name: str | None, kinds: str, args) -> str:
    if name is None:
        return f"{pid} Unknown syscall {nr}"
    text = ",".join(format_arg(mem, k, a) for k, a in zip(kinds, args))
    return f"{pid} {name}({text})"


def format_result(name: str | None, res: int) -> str:
    if -4096 < res < 0:
        return f" = -1 errno={-res} ({os.strerror(-res)})"
    if name in _POINTER_RESULT:
        return f" = 0x{res & 0xFFFFFFFFFFFFFFFF:x}"
    return f" = {res}"
