"""The guest's virtual address space, laid into one host mapping.

One MAP_NORESERVE anonymous host mapping covers the whole riscv64 user
address space (Sv39: 256 GiB); guest address A lives at host offset A, so a
TLB entry is simply (buffer, 0). Host memory is always read/write: the
guest's page protections are enforced in software from a per-page table
(bit 0x80 marks a mapped page, then PROT_READ/WRITE/EXEC bits), and every
access that is not in the TLB checks it. File mappings are real host
mappings placed with MAP_FIXED inside the reservation, so pages come from
the page cache as they do for a native process.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import threading

PAGE = 4096
TASK_SIZE = 1 << 38            # Sv39 user half
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAPPED = 0x80

MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_NORESERVE = 0x4000
MAP_FIXED_NOREPLACE = 0x100000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
MAP_FAILED = ctypes.c_void_p(-1).value


class GuestFault(Exception):
    """A guest pointer handed to a system call is not accessible: EFAULT."""

    def __init__(self, addr: int):
        super().__init__(f"bad guest address 0x{addr:x}")
        self.addr = addr


def page_up(v: int) -> int:
    return (v + PAGE - 1) & ~(PAGE - 1)


class GuestMemory:
    def __init__(self, size: int = TASK_SIZE):
        self.size = size
        self.buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.host_base = ctypes.addressof(ctypes.c_char.from_buffer(self.buf))
        # One byte per guest page; an anonymous mapping so it costs nothing until used.
        self.prot = mmap.mmap(-1, size // PAGE)
        self.lock = threading.RLock()
        self.brk_start = self.brk = 0
        self.mmap_top = 0              # top-down allocation starts below this
        self.listeners = []            # callbacks(start, end) when mappings change
        self.file_maps: dict[int, tuple] = {}   # start page -> (path, offset, length) for /proc/self/maps
        # Pages of MAP_SHARED mappings of files open read-only: the host maps
        # them read-only, so the guest may never make them writable (Linux
        # refuses that mprotect with EACCES too).
        self.ro_shared = bytearray()

    # -- protection table ------------------------------------------------------
    def page_prot(self, addr: int) -> int:
        if addr >= self.size:
            return 0
        return self.prot[addr >> 12]

    def set_prot(self, start: int, end: int, value: int) -> None:
        a, b = start >> 12, page_up(end) >> 12
        self.prot[a:b] = bytes([value]) * (b - a)
        for cb in self.listeners:
            cb(start, end)

    def is_mapped(self, start: int, end: int) -> bool:
        a, b = start >> 12, page_up(end) >> 12
        if b > self.size >> 12:
            return False
        return all(p & MAPPED for p in self.prot[a:b])

    def is_free(self, start: int, end: int) -> bool:
        a, b = start >> 12, page_up(end) >> 12
        if start < 0x10000 or b > self.size >> 12:
            return False
        return not any(self.prot[a:b])

    def check(self, addr: int, length: int, need: int) -> None:
        """Raise GuestFault unless [addr, addr+length) has protection `need`."""
        if length <= 0:
            return
        end = addr + length
        if addr < 0 or end > self.size:
            raise GuestFault(addr)
        a, b = addr >> 12, (end - 1) >> 12
        want = need | MAPPED
        if a == b:
            if self.prot[a] & want != want:
                raise GuestFault(addr)
            return
        chunk = self.prot[a:b + 1]
        for v in set(chunk):
            if v & want != want:
                p = a + chunk.index(v)
                raise GuestFault(p << 12 if p != a else addr)

    # -- placing mappings ------------------------------------------------------------
    def find_free(self, length: int, hint: int = 0) -> int:
        length = page_up(length)
        if hint and self.is_free(hint & ~(PAGE - 1), (hint & ~(PAGE - 1)) + length):
            return hint & ~(PAGE - 1)
        # Top-down first fit over the page table, as Linux's default layout.
        prot = self.prot
        end = self.mmap_top >> 12
        n = length >> 12
        while end - n >= 0x10:
            used = len(prot[end - n:end].rstrip(b"\x00"))
            if used == 0:
                return (end - n) << 12
            end = end - n + used - 1      # continue below the highest used page
        raise MemoryError("guest address space exhausted")

    def map_anon(self, start: int, length: int, prot: int) -> None:
        length = page_up(length)
        self._host_map(start, length, -1, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
        self.set_prot(start, start + length, MAPPED | prot)
        self._mark_ro_shared(start, length, False)
        self.file_maps.pop(start >> 12, None)

    def map_file(self, start: int, length: int, prot: int, fd: int, offset: int,
                 shared: bool, path: str = "") -> None:
        length = page_up(length)
        # A shared mapping is host-writable whenever the file is open for
        # writing, so a later guest mprotect(PROT_WRITE) needs no remap.
        readonly = shared and (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE) != os.O_RDWR
        if readonly and prot & PROT_WRITE:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))   # as Linux's mmap
        self._host_map(start, length, fd, offset, MAP_SHARED if shared else MAP_PRIVATE,
                       readonly=readonly)
        self.set_prot(start, start + length, MAPPED | prot)
        self._mark_ro_shared(start, length, readonly)
        self.file_maps[start >> 12] = (path, offset, length)

    def _mark_ro_shared(self, start: int, length: int, readonly: bool) -> None:
        a, b = start >> 12, (start + length) >> 12
        if readonly and len(self.ro_shared) < b:
            self.ro_shared.extend(bytes(b - len(self.ro_shared)))
        if a < len(self.ro_shared):
            end = min(b, len(self.ro_shared))
            self.ro_shared[a:end] = (b"\x01" if readonly else b"\x00") * (end - a)

    def host_readonly(self, start: int, length: int) -> bool:
        """Whether any page of the range is host-mapped read-only (see ro_shared)."""
        a, b = start >> 12, page_up(start + length) >> 12
        return any(self.ro_shared[a:b])

    def unmap(self, start: int, length: int) -> None:
        length = page_up(length)
        self._host_map(start, length, -1, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
        self.set_prot(start, start + length, 0)
        self._mark_ro_shared(start, length, False)
        for k in [k for k in self.file_maps if start >> 12 <= k < (start + length) >> 12]:
            del self.file_maps[k]

    def protect(self, start: int, length: int, prot: int) -> None:
        a, b = start >> 12, page_up(start + length) >> 12
        self.prot[a:b] = bytes((MAPPED | prot) if p & MAPPED else 0 for p in self.prot[a:b])
        for cb in self.listeners:
            cb(start, start + length)

    def _host_map(self, start, length, fd, offset, flags, readonly=False):
        host_prot = mmap.PROT_READ if readonly else (mmap.PROT_READ | mmap.PROT_WRITE)
        r = _libc.mmap(self.host_base + start, length, host_prot, flags | MAP_FIXED, fd, offset)
        if r == MAP_FAILED or r is None:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    # -- access from the emulator -----------------------------------------------------
    def host_addr(self, addr: int) -> int:
        return self.host_base + addr

    def read(self, addr: int, size: int) -> int:
        return int.from_bytes(self.buf[addr:addr + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        self.buf[addr:addr + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def read_bytes(self, addr: int, length: int) -> bytes:
        self.check(addr, length, PROT_READ)
        return self.buf[addr:addr + length]

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.check(addr, len(data), PROT_WRITE)
        self.buf[addr:addr + len(data)] = data

    def poke(self, addr: int, data: bytes) -> None:
        """Write without a protection check (the loader, the kernel side)."""
        self.buf[addr:addr + len(data)] = data

    def read_cstr(self, addr: int, limit: int = 1 << 16) -> bytes:
        if addr <= 0 or addr >= self.size:
            raise GuestFault(addr)
        self.check(addr, 1, PROT_READ)
        end = self.buf.find(b"\x00", addr, min(self.size, addr + limit))
        if end < 0:
            raise GuestFault(addr)
        self.check(addr, end - addr + 1, PROT_READ)
        return self.buf[addr:end]

    def read_u64(self, addr: int) -> int:
        self.check(addr, 8, PROT_READ)
        return int.from_bytes(self.buf[addr:addr + 8], "little")

    def write_u64(self, addr: int, v: int) -> None:
        self.write_bytes(addr, (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))

    def write_u32(self, addr: int, v: int) -> None:
        self.write_bytes(addr, (v & 0xFFFFFFFF).to_bytes(4, "little"))

    def read_u32(self, addr: int) -> int:
        self.check(addr, 4, PROT_READ)
        return int.from_bytes(self.buf[addr:addr + 4], "little")

