"""The riscv64 Linux system call layer (asm-generic numbers,
include/uapi/asm-generic/unistd.h). Calls whose structures have the same
layout on riscv64 and x86_64 go to the host with guest pointers turned into
host addresses (`PASSTHROUGH`); the others are translated here.

Argument kinds, used both to convert arguments and to print them for
-strace: i integer, d directory fd (AT_FDCWD), u unsigned, p guest pointer (its first byte must be
mapped), r/w guest buffer the host reads/writes, its length the next
argument, s guest path (looked up in the -L sysroot first), S other guest
string, o open flags, m mode.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from .hostcall import hostcall
from .memory import PROT_READ, PROT_WRITE, GuestFault

MASK64 = 0xFFFFFFFFFFFFFFFF
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000


def s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


# riscv64 number -> (name, host call name or None, argument kinds)
PASSTHROUGH = {
    17: ("getcwd", "getcwd", "wu"),
    19: ("eventfd2", "eventfd2", "ui"),
    20: ("epoll_create1", "epoll_create1", "i"),
    23: ("dup", "dup", "i"),
    24: ("dup3", "dup3", "iii"),
    32: ("flock", "flock", "ii"),
    33: ("mknodat", "mknodat", "dsuu"),
    34: ("mkdirat", "mkdirat", "dsm"),
    35: ("unlinkat", "unlinkat", "dsi"),
    36: ("symlinkat", "symlinkat", "Sis"),
    37: ("linkat", "linkat", "dsdsi"),
    43: ("statfs", "statfs", "sp"),
    44: ("fstatfs", "fstatfs", "ip"),
    46: ("ftruncate", "ftruncate", "ii"),
    47: ("fallocate", "fallocate", "iiii"),
    48: ("faccessat", "faccessat", "dsi"),
    49: ("chdir", "chdir", "s"),
    50: ("fchdir", "fchdir", "i"),
    52: ("fchmod", "fchmod", "im"),
    53: ("fchmodat", "fchmodat", "dsmi"),
    54: ("fchownat", "fchownat", "dsiii"),
    55: ("fchown", "fchown", "iii"),
    57: ("close", "close", "i"),
    59: ("pipe2", "pipe2", "pi"),
    61: ("getdents64", "getdents64", "iwu"),
    62: ("lseek", "lseek", "iii"),
    63: ("read", "read", "iwu"),
    64: ("write", "write", "iru"),
    67: ("pread64", "pread64", "iwui"),
    68: ("pwrite64", "pwrite64", "irui"),
    71: ("sendfile", "sendfile", "iipu"),
    73: ("ppoll", "ppoll", "puppu"),
    76: ("splice", "splice", "ipipuu"),
    81: ("sync", "sync", ""),
    82: ("fsync", "fsync", "i"),
    83: ("fdatasync", "fdatasync", "i"),
    88: ("utimensat", "utimensat", "dspi"),
    90: ("capget", "capget", "pp"),
    101: ("nanosleep", "nanosleep", "pp"),
    102: ("getitimer", "getitimer", "ip"),
    103: ("setitimer", "setitimer", "ipp"),
    113: ("clock_gettime", "clock_gettime", "ip"),
    114: ("clock_getres", "clock_getres", "ip"),
    115: ("clock_nanosleep", "clock_nanosleep", "iipp"),
    118: ("sched_setparam", "sched_setparam", "ip"),
    119: ("sched_setscheduler", "sched_setscheduler", "iip"),
    120: ("sched_getscheduler", "sched_getscheduler", "i"),
    121: ("sched_getparam", "sched_getparam", "ip"),
    122: ("sched_setaffinity", "sched_setaffinity", "iup"),
    123: ("sched_getaffinity", "sched_getaffinity", "iup"),
    124: ("sched_yield", "sched_yield", ""),
    125: ("sched_get_priority_max", "sched_get_priority_max", "i"),
    126: ("sched_get_priority_min", "sched_get_priority_min", "i"),
    140: ("setpriority", "setpriority", "iii"),
    141: ("getpriority", "getpriority", "ii"),
    143: ("setregid", "setregid", "ii"),
    144: ("setgid", "setgid", "i"),
    145: ("setreuid", "setreuid", "ii"),
    146: ("setuid", "setuid", "i"),
    147: ("setresuid", "setresuid", "iii"),
    148: ("getresuid", "getresuid", "ppp"),
    149: ("setresgid", "setresgid", "iii"),
    150: ("getresgid", "getresgid", "ppp"),
    153: ("times", "times", "p"),
    154: ("setpgid", "setpgid", "ii"),
    155: ("getpgid", "getpgid", "i"),
    156: ("getsid", "getsid", "i"),
    157: ("setsid", "setsid", ""),
    158: ("getgroups", "getgroups", "ip"),
    159: ("setgroups", "setgroups", "ip"),
    161: ("sethostname", "sethostname", "Su"),
    162: ("setdomainname", "setdomainname", "Su"),
    163: ("getrlimit", "getrlimit", "ip"),
    164: ("setrlimit", "setrlimit", "ip"),
    165: ("getrusage", "getrusage", "ip"),
    166: ("umask", "umask", "m"),
    169: ("gettimeofday", "gettimeofday", "pp"),
    174: ("getuid", "getuid", ""),
    175: ("geteuid", "geteuid", ""),
    176: ("getgid", "getgid", ""),
    177: ("getegid", "getegid", ""),
    179: ("sysinfo", "sysinfo", "p"),
    198: ("socket", "socket", "iii"),
    199: ("socketpair", "socketpair", "iiip"),
    200: ("bind", "bind", "ipu"),
    201: ("listen", "listen", "ii"),
    202: ("accept", "accept", "ipp"),
    203: ("connect", "connect", "ipu"),
    204: ("getsockname", "getsockname", "ipp"),
    205: ("getpeername", "getpeername", "ipp"),
    206: ("sendto", "sendto", "iruipu"),
    207: ("recvfrom", "recvfrom", "iwuipp"),
    208: ("setsockopt", "setsockopt", "iiipu"),
    209: ("getsockopt", "getsockopt", "iiipp"),
    210: ("shutdown", "shutdown", "ii"),
    213: ("readahead", None, "iiu"),
    227: ("msync", "msync", "puu"),
    228: ("mlock", "mlock", "pu"),
    229: ("munlock", "munlock", "pu"),
    232: ("mincore", "mincore", "pup"),
    242: ("accept4", "accept4", "ippi"),
    261: ("prlimit64", "prlimit64", "iipp"),
    264: ("name_to_handle_at", None, "isppi"),
    267: ("syncfs", "syncfs", "i"),
    276: ("renameat2", "renameat2", "dsdsu"),
    278: ("getrandom", "getrandom", "wui"),
    279: ("memfd_create", "memfd_create", "Su"),
    285: ("copy_file_range", "copy_file_range", "ipipuu"),
    291: ("statx", "statx", "dsiup"),
    434: ("pidfd_open", "pidfd_open", "iu"),
    436: ("close_range", "close_range", "uuu"),
    439: ("faccessat2", "faccessat2", "dsii"),
    # renameat (38) is renameat2 with no flags on the host.
    38: ("renameat", "renameat2", "dsds"),
    # epoll_ctl: the event is 16 bytes on riscv64 and packed 12 on x86_64;
    # handled in SPECIAL; listed here for the name only.
}


class Syscalls:
    """System calls of one process; `call` runs the one a thread asked for."""

    def __init__(self, proc):
        self.proc = proc
        self.mem = proc.mem
        self.special = {}
        for name in dir(self):
            if name.startswith("sys_"):
                fn = getattr(self, name)
                self.special[fn.nr] = (name[4:], fn, fn.kinds)

    # -- argument conversion --------------------------------------------------
    def host_ptr(self, p: int) -> int:
        if p == 0:
            return 0
        if p >= self.mem.size:
            raise GuestFault(p)
        return self.mem.host_base + p

    def path(self, p: int) -> bytes:
        return self.proc.resolve_path(self.mem.read_cstr(p))

    def convert(self, kinds: str, args) -> list:
        out = []
        for i, (k, a) in enumerate(zip(kinds, args)):
            if k == "p":
                if a:
                    self.mem.check(a, 1, 0)
                out.append(self.host_ptr(a))
            elif k in "rw":
                # The host reads all of an 'r' buffer; a 'w' buffer may be
                # filled only partly, so only its start must be writable.
                n = (args[i + 1] if i + 1 < len(args) else 1) if k == "r" else 1
                if n:
                    self.mem.check(a, n, PROT_READ if k == "r" else PROT_WRITE)
                out.append(self.host_ptr(a))
            elif k == "s":
                out.append(self.path(a) if a else None)
            elif k == "S":
                out.append(self.mem.read_cstr(a) if a else None)
            else:
                out.append(a)
        return out

    def call(self, thread, nr: int, args) -> int:
        entry = self.special.get(nr)
        try:
            if entry is not None:
                return entry[1](thread, *args[:len(entry[2])])
            p = PASSTHROUGH.get(nr)
            if p is None or p[1] is None:
                return -errno.ENOSYS
            name, host, kinds = p
            return self.blocking(hostcall, host, *self.convert(kinds, args[:len(kinds)]))
        except GuestFault:
            return -errno.EFAULT
        except OSError as e:
            return -(e.errno or errno.EIO)
        except (ValueError, OverflowError, struct.error, UnicodeError, MemoryError):
            # Arguments no host call can take (sizes out of range, bad
            # encodings): the guest gets an error, never the emulator.
            return -errno.EINVAL

    def blocking(self, fn, *a):
        return fn(*a)

    def name_of(self, nr: int):
        e = self.special.get(nr)
        if e:
            return e[0], e[2]
        p = PASSTHROUGH.get(nr)
        if p:
            return p[0], p[2]
        return None, ""


def syscall(nr: int, kinds: str):
    """Mark a Syscalls method as the handler of riscv64 system call `nr`."""
    def deco(fn):
        fn.nr = nr
        fn.kinds = kinds
        return fn
    return deco


# -- struct stat (asm-generic, 128 bytes) --------------------------------------
STAT_GENERIC = struct.Struct("<QQIIIIQQqiiqqQqQqQII")


def pack_stat(st: os.stat_result) -> bytes:
    def ns(t_ns):
        return t_ns // 1_000_000_000, t_ns % 1_000_000_000
    a, an = ns(st.st_atime_ns)
    m, mn = ns(st.st_mtime_ns)
    c, cn = ns(st.st_ctime_ns)
    return STAT_GENERIC.pack(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                             st.st_gid, st.st_rdev, 0, st.st_size, st.st_blksize, 0,
                             st.st_blocks, a, an, m, mn, c, cn, 0, 0)


class LinuxSyscalls(Syscalls):
    # -- files -------------------------------------------------------------------
    @syscall(56, "dsom")
    def sys_openat(self, t, dirfd, path, flags, mode):
        raw = self.mem.read_cstr(path)
        special = self.proc.proc_file(raw)
        if special is not None:
            return special
        return self.blocking(hostcall, "openat", s32(dirfd), self.proc.resolve_path(raw),
                             s32(flags), mode & 0o7777)

    @syscall(79, "dsp")
    def sys_newfstatat(self, t, dirfd, path, buf, flags=0):
        raw = self.mem.read_cstr(path) if path else b""
        dirfd = s32(dirfd)
        try:
            if raw == b"" and (flags & AT_EMPTY_PATH):
                st = os.fstat(dirfd) if dirfd != AT_FDCWD else os.stat(".")
            else:
                p = self.proc.resolve_path(raw)
                if raw == b"/proc/self/exe":
                    p = self.proc.exe_host_path.encode()
                st = os.stat(p, dir_fd=None if dirfd == AT_FDCWD or p.startswith(b"/") else dirfd,
                             follow_symlinks=not (flags & 0x100))
        except OSError as e:
            return -e.errno
        self.mem.write_bytes(buf, pack_stat(st))
        return 0
    sys_newfstatat.kinds = "dspi"

    @syscall(80, "ip")
    def sys_fstat(self, t, fd, buf):
        try:
            st = os.fstat(s32(fd))
        except OSError as e:
            return -e.errno
        self.mem.write_bytes(buf, pack_stat(st))
        return 0

    @syscall(78, "dspu")
    def sys_readlinkat(self, t, dirfd, path, buf, size):
        raw = self.mem.read_cstr(path)
        if raw in (b"/proc/self/exe", f"/proc/{os.getpid()}/exe".encode()):
            target = self.proc.exe_path.encode()
            n = min(len(target), size)
            self.mem.write_bytes(buf, target[:n])
            return n
        return hostcall("readlinkat", s32(dirfd), self.proc.resolve_path(raw),
                        self.host_ptr(buf), size)

    def _iov(self, iov, cnt):
        data = self.mem.read_bytes(iov, 16 * cnt)
        out = (ctypes.c_uint64 * (2 * cnt))()
        for i in range(cnt):
            base, ln = struct.unpack_from("<QQ", data, 16 * i)
            out[2 * i] = self.host_ptr(base) if base else 0
            out[2 * i + 1] = ln
        return out

    @syscall(65, "ipi")
    def sys_readv(self, t, fd, iov, cnt):
        return self.blocking(hostcall, "readv", s32(fd), self._iov(iov, cnt), cnt)

    @syscall(66, "ipi")
    def sys_writev(self, t, fd, iov, cnt):
        return self.blocking(hostcall, "writev", s32(fd), self._iov(iov, cnt), cnt)

    @syscall(69, "ipii")
    def sys_preadv(self, t, fd, iov, cnt, off):
        return self.blocking(hostcall, "preadv", s32(fd), self._iov(iov, cnt), cnt, off, 0)

    @syscall(70, "ipii")
    def sys_pwritev(self, t, fd, iov, cnt, off):
        return self.blocking(hostcall, "pwritev", s32(fd), self._iov(iov, cnt), cnt, off, 0)

    def _msghdr(self, msg):
        # struct msghdr: name, namelen(+pad), iov, iovlen, control, controllen, flags
        raw = self.mem.read_bytes(msg, 56)
        name, namelen, iov, iovlen, ctl, ctllen, flags = struct.unpack("<QI4xQQQQi4x", raw)
        buf = (ctypes.c_uint64 * 7)()
        host = struct.pack("<QI4xQQQQi4x", self.host_ptr(name), namelen,
                           ctypes.addressof(iovs := self._iov(iov, iovlen)), iovlen,
                           self.host_ptr(ctl), ctllen, flags)
        ctypes.memmove(buf, host, 56)
        return buf, iovs

    @syscall(211, "ipi")
    def sys_sendmsg(self, t, fd, msg, flags):
        h, _keep = self._msghdr(msg)
        return self.blocking(hostcall, "sendmsg", s32(fd), h, flags)

    @syscall(212, "ipi")
    def sys_recvmsg(self, t, fd, msg, flags):
        h, _keep = self._msghdr(msg)
        r = self.blocking(hostcall, "recvmsg", s32(fd), h, flags)
        if r >= 0:
            raw = bytes(h)
            namelen = struct.unpack_from("<I", raw, 8)[0]
            ctllen, mflags = struct.unpack_from("<Qi", raw, 40)
            self.mem.write_u32(msg + 8, namelen)
            self.mem.write_u64(msg + 40, ctllen)
            self.mem.write_u32(msg + 48, mflags)
        return r

    @syscall(25, "iiu")
    def sys_fcntl(self, t, fd, cmd, arg):
        # F_GETLK/SETLK/SETLKW (5-7) and OFD locks take struct flock: same layout.
        if cmd in (5, 6, 7, 36, 37, 38):
            arg = self.host_ptr(arg)
        return self.blocking(hostcall, "fcntl", s32(fd), cmd, arg)

    @syscall(29, "iup")
    def sys_ioctl(self, t, fd, req, arg):
        # TCGETS/TCSETS*/TIOCGWINSZ/TIOCSWINSZ/FIONREAD/TIOCGPGRP/TIOCSPGRP...:
        # the generic termios and winsize layouts equal x86_64's.
        req &= 0xFFFFFFFF
        known = {0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x5414, 0x541B, 0x540F, 0x5410,
                 0x5421, 0x5451, 0x5450, 0x540E, 0x5429}
        if req not in known:
            return -errno.ENOTTY if req >> 8 == 0x54 else -errno.EINVAL
        if req in (0x5451, 0x5450):
            return hostcall("ioctl", s32(fd), req, 0)
        return self.blocking(hostcall, "ioctl", s32(fd), req, self.host_ptr(arg))

    @syscall(72, "iuppp")
    def sys_pselect6(self, t, n, r, w, e, tmo, sig=0):
        return self.blocking(hostcall, "pselect6", s32(n), self.host_ptr(r), self.host_ptr(w),
                             self.host_ptr(e), self.host_ptr(tmo), 0)
    sys_pselect6.kinds = "iupppp"

    @syscall(21, "iiip")
    def sys_epoll_ctl(self, t, epfd, op, fd, ev):
        host = None
        if ev:
            events, data = struct.unpack("<I4xQ", self.mem.read_bytes(ev, 16))
            host = ctypes.create_string_buffer(struct.pack("<IQ", events, data), 12)
        return hostcall("epoll_ctl", s32(epfd), s32(op), s32(fd), host)

    @syscall(22, "ipiip")
    def sys_epoll_pwait(self, t, epfd, events, maxev, timeout, sigmask):
        maxev = s32(maxev)
        if maxev <= 0 or maxev > 4096:
            return -errno.EINVAL
        host = ctypes.create_string_buffer(12 * maxev)
        r = self.blocking(hostcall, "epoll_pwait", s32(epfd), host, maxev, s32(timeout), None, 8)
        if r > 0:
            out = b"".join(struct.pack("<I4xQ", *struct.unpack_from("<IQ", host.raw, 12 * i))
                           for i in range(r))
            self.mem.write_bytes(events, out)
        return r

    # -- identity and system -------------------------------------------------------
    @syscall(160, "p")
    def sys_uname(self, t, buf):
        u = os.uname()
        fields = [u.sysname, u.nodename, u.release, u.version, "riscv64", "(none)"]
        data = b"".join(f.encode()[:64].ljust(65, b"\x00") for f in fields)
        self.mem.write_bytes(buf, data)
        return 0

    @syscall(172, "")
    def sys_getpid(self, t):
        return os.getpid()

    @syscall(173, "")
    def sys_getppid(self, t):
        return os.getppid()

    @syscall(178, "")
    def sys_gettid(self, t):
        return t.tid

    @syscall(96, "p")
    def sys_set_tid_address(self, t, ptr):
        t.clear_child_tid = ptr
        return t.tid

    @syscall(99, "pu")
    def sys_set_robust_list(self, t, head, ln):
        t.robust_list = head
        return 0

    @syscall(293, "puip")
    def sys_rseq(self, t, *a):
        return -errno.ENOSYS

    @syscall(258, "puupu")
    def sys_riscv_hwprobe(self, t, pairs, count, cpusetsize, cpus, flags):
        # Keys: 0 mvendorid, 1 marchid, 2 mimpid, 3 base behavior (IMA), 4 ima_ext_0.
        for i in range(count):
            key = struct.unpack("<q", self.mem.read_bytes(pairs + 16 * i, 8))[0]
            val = {0: 0, 1: 0, 2: 0, 3: 1, 4: 1 | 2 | 8 | 16 | 32, 5: 0}.get(key)
            if val is None:
                key, val = -1, 0
            self.mem.write_bytes(pairs + 16 * i, struct.pack("<qQ", key, val))
        return 0

    @syscall(259, "uuu")
    def sys_riscv_flush_icache(self, t, start, end, flags):
        for c in self.proc.cpus():
            c.flush_translations()
        return 0

    @syscall(167, "iuuuu")
    def sys_prctl(self, t, op, a2, a3, a4, a5):
        if op == 15:          # PR_SET_NAME
            return 0
        if op == 16:          # PR_GET_NAME
            self.mem.write_bytes(a2, b"pyqemu-guest\x00\x00\x00\x00")
            return 0
        return -errno.EINVAL

    # -- memory ------------------------------------------------------------------------
    @syscall(214, "p")
    def sys_brk(self, t, addr):
        return self.proc.do_brk(addr)

    @syscall(222, "puuuii")
    def sys_mmap(self, t, addr, length, prot, flags, fd, off):
        return self.proc.do_mmap(addr, length, prot, flags, s32(fd), off)

    @syscall(215, "pu")
    def sys_munmap(self, t, addr, length):
        return self.proc.do_munmap(addr, length)

    @syscall(226, "puu")
    def sys_mprotect(self, t, addr, length, prot):
        return self.proc.do_mprotect(addr, length, prot)

    @syscall(216, "puuup")
    def sys_mremap(self, t, old, old_len, new_len, flags, new_addr):
        return self.proc.do_mremap(old, old_len, new_len, flags, new_addr)

    @syscall(233, "pui")
    def sys_madvise(self, t, addr, length, advice):
        if addr & 0xFFF:
            return -errno.EINVAL
        if advice == 4 and length:             # MADV_DONTNEED: drop to zero / file pages
            with self.mem.lock:
                if not self.mem.is_mapped(addr, addr + length):
                    return -errno.ENOMEM
                return hostcall("madvise", self.host_ptr(addr), length, advice)
        return 0

    # -- processes ----------------------------------------------------------------------
    @syscall(93, "i")
    def sys_exit(self, t, code):
        self.proc.thread_exit(t, code & 0xFF)

    @syscall(94, "i")
    def sys_exit_group(self, t, code):
        self.proc.exit_group(code & 0xFF)

    @syscall(220, "upppp")
    def sys_clone(self, t, flags, stack, ptid, tls, ctid):
        return self.proc.do_clone(t, flags, stack, ptid, tls, ctid)

    @syscall(435, "pu")
    def sys_clone3(self, t, args, size):
        return -errno.ENOSYS           # glibc falls back to clone

    @syscall(221, "spp")
    def sys_execve(self, t, path, argv, envp):
        return self.proc.do_execve(t, path, argv, envp)

    @syscall(260, "ipip")
    def sys_wait4(self, t, pid, status, options, rusage):
        return self.blocking(hostcall, "wait4", s32(pid), self.host_ptr(status), s32(options),
                             self.host_ptr(rusage))

    @syscall(95, "iipip")
    def sys_waitid(self, t, idtype, id_, info, options, rusage):
        return self.blocking(hostcall, "waitid", s32(idtype), s32(id_), self.host_ptr(info),
                             s32(options), self.host_ptr(rusage))

    @syscall(98, "piuppu")
    def sys_futex(self, t, uaddr, op, val, timeout, uaddr2, val3):
        cmd = op & 0x7F
        # For the wake/requeue family the 4th argument is a count, not a pointer.
        if cmd in (3, 4, 5, 11, 12):
            tmo = timeout
        else:
            tmo = self.host_ptr(timeout)
        return self.blocking(hostcall, "futex", self.host_ptr(uaddr), op, val, tmo,
                             self.host_ptr(uaddr2), val3)

    # -- signals ------------------------------------------------------------------------
    @syscall(129, "ii")
    def sys_kill(self, t, pid, sig):
        return self.proc.do_kill(t, s32(pid), s32(sig))

    @syscall(130, "ii")
    def sys_tkill(self, t, tid, sig):
        return self.proc.do_tgkill(t, os.getpid(), s32(tid), s32(sig))

    @syscall(131, "iii")
    def sys_tgkill(self, t, tgid, tid, sig):
        return self.proc.do_tgkill(t, s32(tgid), s32(tid), s32(sig))

    @syscall(134, "ippu")
    def sys_rt_sigaction(self, t, sig, act, old, size):
        return self.proc.do_sigaction(s32(sig), act, old)

    @syscall(135, "ippu")
    def sys_rt_sigprocmask(self, t, how, set_, old, size):
        return self.proc.do_sigprocmask(t, how, set_, old)

    @syscall(136, "pu")
    def sys_rt_sigpending(self, t, set_, size):
        self.mem.write_u64(set_, t.pending_mask() & t.sigmask)
        return 0

    @syscall(133, "pu")
    def sys_rt_sigsuspend(self, t, set_, size):
        return self.proc.do_sigsuspend(t, self.mem.read_u64(set_))

    @syscall(137, "pppu")
    def sys_rt_sigtimedwait(self, t, set_, info, tmo, size):
        return self.proc.do_sigtimedwait(t, self.mem.read_u64(set_), info, tmo)

    @syscall(132, "pp")
    def sys_sigaltstack(self, t, ss, old):
        return self.proc.do_sigaltstack(t, ss, old)

    @syscall(139, "")
    def sys_rt_sigreturn(self, t):
        return self.proc.do_sigreturn(t)

