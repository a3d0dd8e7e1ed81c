"""Raw host system calls through libc's syscall(2), for the calls whose
arguments pass straight through (guest pointers become host addresses of
the guest memory). Numbers are the x86_64 host's."""

from __future__ import annotations

import ctypes

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
X86 = dict(
    read=0, write=1, close=3, lseek=8, ioctl=16, pread64=17, pwrite64=18, readv=19, writev=20,
    sched_yield=24, msync=26, madvise=28, dup=32, nanosleep=35, getpid=39, sendfile=40,
    socket=41, connect=42, accept=43, sendto=44, recvfrom=45, sendmsg=46, recvmsg=47,
    shutdown=48, bind=49, listen=50, getsockname=51, getpeername=52, socketpair=53,
    setsockopt=54, getsockopt=55, wait4=61, kill=62, uname=63, fcntl=72, flock=73, fsync=74,
    fdatasync=75, ftruncate=77, getcwd=79, chdir=80, fchdir=81, fchmod=91, fchown=93, umask=95,
    gettimeofday=96, getrlimit=97, getrusage=98, sysinfo=99, times=100, getuid=102, getgid=104,
    setuid=105, setgid=106, geteuid=107, getegid=108, setpgid=109, getppid=110, getpgrp=111,
    setsid=112, setreuid=113, setregid=114, getgroups=115, setgroups=116, setresuid=117,
    getresuid=118, setresgid=119, getresgid=120, getpgid=121, getsid=124, capget=125,
    statfs=137, fstatfs=138, getpriority=140, setpriority=141, prctl=157, setrlimit=160,
    sync=162, gettid=186, tkill=200, futex=202, sched_setaffinity=203, sched_getaffinity=204,
    getdents64=217, fadvise64=221, clock_gettime=228, clock_getres=229, clock_nanosleep=230,
    epoll_ctl=233, tgkill=234, waitid=247, openat=257, mkdirat=258, mknodat=259, fchownat=260,
    unlinkat=263, linkat=265, symlinkat=266, readlinkat=267, fchmodat=268, faccessat=269,
    pselect6=270, ppoll=271, splice=275, tee=276, utimensat=280, epoll_pwait=281,
    timerfd_create=283, eventfd2=290, epoll_create1=291, dup3=292, pipe2=293, preadv=295,
    pwritev=296, prlimit64=302, syncfs=306, getcpu=309, renameat2=316, getrandom=318,
    memfd_create=319, copy_file_range=326, preadv2=327, pwritev2=328, statx=332,
    timerfd_settime=286, timerfd_gettime=287, accept4=288, signalfd4=289, inotify_init1=294,
    inotify_add_watch=254, inotify_rm_watch=255, fallocate=285, close_range=436,
    faccessat2=439, sethostname=170, setdomainname=171, mlock=149, munlock=150, mincore=27,
    sched_getparam=143, sched_getscheduler=145, sched_get_priority_max=146,
    sched_get_priority_min=147, sched_setscheduler=144, sched_setparam=142,
    getitimer=36, setitimer=38, alarm=37, pidfd_open=434, pidfd_send_signal=424,
)


def _arg(a):
    if isinstance(a, (bytes, ctypes.Array)) or a is None:
        return a
    if isinstance(a, ctypes._SimpleCData):
        return a
    return ctypes.c_long(a)


def hostcall(name: str, *args) -> int:
    """Run host system call `name`; return the result or -errno."""
    r = _syscall(ctypes.c_long(X86[name]), *[_arg(a) for a in args])
    if r == -1:
        return -ctypes.get_errno()
    return r
