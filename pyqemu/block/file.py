"""The `file` protocol driver: a host file or block device."""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import stat

from .errors import BlockError
from .locking import ImageLock
from .node import BlockNode, Extent, Status
from .perms import Perm

# The C library is already loaded into the process: no find_library() (it
# runs ldconfig in a subprocess).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

CACHE_MODES = ("writeback", "none", "unsafe", "directsync", "writethrough")
DIRECT_ALIGN = 4096


def fallocate(fd: int, mode: int, offset: int, length: int) -> bool:
    if length <= 0:
        return True
    if _libc.fallocate(fd, mode, offset, length) != 0:
        return False
    return True


class FileNode(BlockNode):
    driver = "file"

    def __init__(self, path: str, read_only: bool = False, cache: str = "writeback",
                 locking: str = "auto", node_name: str | None = None, create: bool = False):
        super().__init__(node_name, read_only)
        if cache not in CACHE_MODES:
            raise BlockError(f"Invalid cache mode '{cache}'")
        self.path = path
        self.cache = cache
        self.direct = cache in ("none", "directsync")
        flags = os.O_RDONLY if read_only else os.O_RDWR
        if create:
            flags |= os.O_CREAT
        if cache in ("directsync", "writethrough"):
            flags |= os.O_DSYNC
        flags |= os.O_CLOEXEC
        try:
            self.fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o644)
        except OSError as exc:
            if self.direct and exc.errno == errno.EINVAL:
                raise BlockError(f"Could not open '{path}': filesystem does not support O_DIRECT") from None
            raise BlockError(f"Could not open '{path}': {os.strerror(exc.errno)}") from None
        st = os.fstat(self.fd)
        self.is_block_device = stat.S_ISBLK(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.close(self.fd)
            raise BlockError(f"Could not open '{path}': Is a directory")
        self.locking = locking != "off"
        self.lock = ImageLock(self.fd, path)
        self._wanted: tuple[Perm, Perm] | None = None

    @property
    def filename(self) -> str:
        return self.path

    @property
    def length(self) -> int:
        if self.is_block_device:
            return os.lseek(self.fd, 0, os.SEEK_END)
        return os.fstat(self.fd).st_size

    def allocated_size(self) -> int:
        return os.fstat(self.fd).st_blocks * 512

    # -- permissions ------------------------------------------------------
    def set_perm(self, perm: Perm, shared: Perm) -> None:
        if perm & Perm.WRITE and self.read_only:
            raise BlockError(f"Block node is read-only: '{self.path}'")
        self._wanted = (perm, shared)
        if self.locking and self.active:
            self.lock.apply(perm, shared)

    def inactivate(self) -> None:
        if not self.active:
            return
        self.flush()
        self.active = False
        if self.locking and self._wanted:
            # An inactive user reads only, and lets the new owner write.
            from .perms import ALL_PERMS
            self.lock.apply(self._wanted[0] & Perm.CONSISTENT_READ, ALL_PERMS)

    def activate(self) -> None:
        if self.active:
            return
        if self.locking and self._wanted:
            self.lock.apply(*self._wanted)
        self.active = True

    # -- data path ----------------------------------------------------------
    def pread(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if self.direct:
            return self._direct_read(offset, length)
        data = os.pread(self.fd, length, offset)
        if len(data) < length:
            # Reads past the end of a file return zeroes, as QEMU's do.
            parts = [data]
            got = len(data)
            while got < length:
                more = os.pread(self.fd, length - got, offset + got)
                if not more:
                    parts.append(bytes(length - got))
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data

    def preadv_into(self, offset: int, buffer) -> None:
        """Read into a writable buffer (memoryview) without an extra copy."""
        view = memoryview(buffer)
        done = 0
        while done < len(view):
            if self.direct:
                chunk = self._direct_read(offset + done, len(view) - done)
                view[done:] = chunk
                return
            got = os.preadv(self.fd, [view[done:]], offset + done)
            if got <= 0:
                view[done:] = bytes(len(view) - done)
                return
            done += got

    def pwrite(self, offset: int, data) -> None:
        self.check_writable()
        if self.direct:
            self._direct_write(offset, data)
            return
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                done += os.pwrite(self.fd, view[done:], offset + done)
            except OSError as exc:
                raise BlockError(f"Could not write to '{self.path}': {os.strerror(exc.errno)}") from None

    def pwritev(self, offset: int, buffers) -> None:
        """Gathered write of several buffers at one offset (one syscall)."""
        self.check_writable()
        views = [memoryview(b).cast("B") for b in buffers]
        total = sum(len(v) for v in views)
        if self.direct:
            self._direct_write(offset, b"".join(views))
            return
        try:
            done = os.pwritev(self.fd, views, offset)
        except OSError as exc:
            raise BlockError(f"Could not write to '{self.path}': {os.strerror(exc.errno)}") from None
        if done < total:
            self.pwrite(offset + done, b"".join(views)[done:])

    def _direct_read(self, offset: int, length: int) -> bytes:
        start = offset & ~(DIRECT_ALIGN - 1)
        end = (offset + length + DIRECT_ALIGN - 1) & ~(DIRECT_ALIGN - 1)
        buf = mmap.mmap(-1, end - start)
        try:
            got = os.preadv(self.fd, [buf], start)
            data = bytes(buf[offset - start:offset - start + length])
            if got < offset - start + length:
                valid = max(0, got - (offset - start))
                data = data[:valid] + bytes(length - valid)
            return data
        finally:
            buf.close()

    def _direct_write(self, offset: int, data) -> None:
        data = bytes(data)
        start = offset & ~(DIRECT_ALIGN - 1)
        end = (offset + len(data) + DIRECT_ALIGN - 1) & ~(DIRECT_ALIGN - 1)
        buf = mmap.mmap(-1, end - start)
        try:
            if start != offset or end != offset + len(data):
                os.preadv(self.fd, [buf], start)
            buf[offset - start:offset - start + len(data)] = data
            os.pwritev(self.fd, [buf], start)
            size = os.fstat(self.fd).st_size
            if end > size and offset + len(data) < end:
                # Do not grow the file past what was written.
                os.ftruncate(self.fd, max(size, offset + len(data)))
        finally:
            buf.close()

    def write_zeroes(self, offset: int, length: int, may_unmap: bool = False) -> None:
        self.check_writable()
        end = self.length
        if offset >= end and not self.is_block_device:
            os.ftruncate(self.fd, offset + length)
            return
        mode = (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) if may_unmap else FALLOC_FL_ZERO_RANGE
        if not fallocate(self.fd, mode, offset, length) and not (
                fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)):
            step = 1 << 20
            for pos in range(offset, offset + length, step):
                self.pwrite(pos, bytes(min(step, offset + length - pos)))
        if offset + length > end and not self.is_block_device:
            os.ftruncate(self.fd, offset + length)

    def discard(self, offset: int, length: int) -> None:
        self.check_writable()
        fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)

    def flush(self) -> None:
        if self.cache == "unsafe" or self.read_only or self.closed:
            return
        os.fdatasync(self.fd)

    def truncate(self, size: int, shrink: bool = False, prealloc: str = "off") -> None:
        self.check_writable()
        if self.is_block_device:
            if size > self.length:
                raise BlockError(f"Cannot grow device files: '{self.path}'")
            return
        old = self.length
        os.ftruncate(self.fd, size)
        if prealloc == "falloc" and size > old:
            os.posix_fallocate(self.fd, old, size - old)
        elif prealloc == "full" and size > old:
            step = 1 << 20
            for pos in range(old, size, step):
                os.pwrite(self.fd, bytes(min(step, size - pos)), pos)

    def block_status(self, offset: int, length: int) -> Extent:
        end = self.length
        length = min(length, end - offset)
        if length <= 0:
            return Extent(Status.ZERO, 0)
        try:
            data = os.lseek(self.fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:   # only a hole up to the end
                return Extent(Status.ZERO | Status.OFFSET_VALID, length, offset, self)
            return Extent(Status.DATA | Status.OFFSET_VALID, length, offset, self)
        if data > offset:
            return Extent(Status.ZERO | Status.OFFSET_VALID, min(length, data - offset), offset, self)
        hole = os.lseek(self.fd, offset, os.SEEK_HOLE)
        return Extent(Status.DATA | Status.OFFSET_VALID, min(length, hole - offset), offset, self)

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()
        finally:
            if self.locking:
                try:
                    self.lock.release_all()
                except OSError:
                    pass
            os.close(self.fd)
