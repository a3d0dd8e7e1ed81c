"""The on-disk cache of native code: LLVM object files keyed by what made them.

Compiling a region costs 10-15 ms of CPU, most of it LLVM's code
generator, and a program compiles the same regions every time it runs (a
Linux boot several thousand). The lowered text of a region holds nothing
that differs between processes (llvm_lower.py: callbacks and host
addresses are external symbols), so its machine code can be kept: the key
is a SHA-256 of the text, of its call sites (the helpers by qualified
name, with the constants bound to them), of the optimisation pipeline and
of the LLVM build, and the object file is stored under it. In one process
the key also names the function, so a region met again (translated anew
after a flush) is not compiled or loaded twice.

The directory is `$PYQEMU_JIT_CACHE`, else `$XDG_CACHE_HOME/pyqemu/jit`
(`~/.cache/pyqemu/jit`); `PYQEMU_JIT_CACHE=off` turns the cache off.

A file is `MAGIC`, the SHA-256 of the object, the object. One that does not
check out (truncated, corrupted, another format) is a miss and is removed:
LLVM never sees bytes this process did not write or verify. Writes go to a
temporary file renamed into place, so concurrent runs never read half an
object. The cache is best effort: a directory that cannot be written just
means compiles are not kept. It holds at most `LIMIT` bytes: every
`TRIM_EVERY` stores the least recently used files go until it is down to
three quarters of that (a hit touches its file). Like Python's
`__pycache__`, it trusts what the user's own cache directory holds.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

MAGIC = b"PQJIT\x01\n\x00"
_HASH = 32
# Larger objects are not kept (a region is a few kilobytes of code).
MAX_OBJECT = 4 << 20
# A Linux boot compiles a few thousand regions, some tens of MiB.
LIMIT = 512 << 20
TRIM_EVERY = 500


def default_dir() -> Path | None:
    """Where the cache lives, or None when it is turned off."""
    env = os.environ.get("PYQEMU_JIT_CACHE")
    if env is not None:
        return None if env in ("", "off", "0") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyqemu" / "jit"


class ObjectCache:
    """Object files by key (hex SHA-256) in one directory."""

    def __init__(self, root: Path, limit: int = LIMIT):
        self.root = root
        self.limit = limit
        self.hits = 0
        self.stores = 0
        self.rejected = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str) -> bytes | None:
        """The object stored under key, if there is a sound one."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read(len(MAGIC) + _HASH + MAX_OBJECT + 1)
        except OSError:
            return None
        head = len(MAGIC) + _HASH
        obj = data[head:]
        if (len(data) <= head or len(obj) > MAX_OBJECT or not data.startswith(MAGIC)
                or hashlib.sha256(obj).digest() != data[len(MAGIC):head]):
            self.rejected += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        try:
            os.utime(path)                  # recently used: trimmed last
        except OSError:
            pass
        return obj

    def store(self, key: str, obj: bytes) -> None:
        if not obj or len(obj) > MAX_OBJECT:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC + hashlib.sha256(obj).digest() + obj)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return                       # read-only, full, gone: compiles are not kept
        self.stores += 1
        if self.stores % TRIM_EVERY == 0:
            self.trim()

    def trim(self) -> None:
        """Remove the least recently used files while the cache is over its
        limit, down to three quarters of it."""
        files = []
        try:
            for sub in os.scandir(self.root):
                if sub.is_dir(follow_symlinks=False):
                    for e in os.scandir(sub.path):
                        st = e.stat(follow_symlinks=False)
                        files.append((st.st_mtime, st.st_size, e.path))
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        if total <= self.limit:
            return
        for _, size, path in sorted(files):
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            if total <= self.limit * 3 // 4:
                break


def helper_name(helper) -> str | None:
    """A name that identifies a helper in any process (module and qualified
    name of a plain module-level function, or the `jit_name` a helper made
    at run time gives itself), or None when there is none (a closure, a
    partial, a lambda): a region calling such a helper is not cached, since
    its text does not say which helper it calls."""
    named = getattr(helper, "jit_name", None)
    if isinstance(named, str):
        return named
    module = getattr(helper, "__module__", None)
    qual = getattr(helper, "__qualname__", None)
    if not module or not qual or "<" in qual or getattr(helper, "__closure__", None):
        return None
    obj = sys.modules.get(module)
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    return f"{module}.{qual}" if obj is helper else None


def region_key(text: str, sites: list[str], build: str) -> str:
    """The key of a region: its text, its call sites (helper names and
    bound arguments) and the LLVM build and settings that compile it."""
    h = hashlib.sha256()
    h.update(build.encode())
    h.update(b"\0")
    h.update("\n".join(sites).encode())
    h.update(b"\0")
    h.update(text.encode())
    return h.hexdigest()
