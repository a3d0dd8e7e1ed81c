"""A guest Linux process: its address space, threads (one host thread and
one CPU each), signal state, and the kernel-side operations the system
call layer needs (memory mapping, clone, execve, signal delivery).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import resource
import signal
import struct
import sys
import threading

from ..target.riscv.trap import Cause, GuestTrap
from . import signals as S
from ..accel.tcg.backends import DEFAULT_BACKEND, make_backend
from .cpu import UserCPU
from .hostcall import hostcall
from .loader import (AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS,
                     AT_GID, AT_HWCAP, AT_MINSIGSTKSZ, AT_PAGESZ, AT_PHDR, AT_PHENT,
                     AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_SECURE, AT_UID, ElfError,
                     build_stack, load_elf)
from .memory import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_SHARED, MAPPED, PAGE,
                     PROT_EXEC, PROT_READ, PROT_WRITE, GuestFault, GuestMemory, page_up)
from .strace import format_call, format_result
from .syscalls import LinuxSyscalls

MASK64 = 0xFFFFFFFFFFFFFFFF
HWCAP = sum(1 << (ord(c) - ord("A")) for c in "IMAFDC")
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_PARENT, CLONE_THREAD, CLONE_SETTLS = 0x4000, 0x8000, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
SYNC_SIGNALS = {S.SIGSEGV, S.SIGBUS, S.SIGILL, S.SIGFPE, S.SIGTRAP}
# A host signal the emulator sends to one of its own threads so that a host
# call it is blocked in returns EINTR and the thread looks at its guest signals.
KICK_SIGNAL = signal.SIGRTMAX - 1
_NO_RESULT = object()         # rt_sigreturn: registers already restored


@dataclasses.dataclass
class Options:
    sysroot: str = ""
    strace: bool = False
    stack_size: int = 8 << 20
    backend: str = DEFAULT_BACKEND
    cpu_model: str = ""
    log_items: str = ""
    log_file: str = ""
    argv0: str | None = None
    stats_file: str = ""          # PYQEMU_STATS_FILE: instruction count at exit

    def emulator_args(self) -> list[str]:
        """The options an execve'd riscv64 program runs with again."""
        out = []
        if self.sysroot:
            out += ["-L", self.sysroot]
        if self.strace:
            out.append("-strace")
        if self.stack_size != 8 << 20:
            out += ["-s", str(self.stack_size)]
        if self.backend != DEFAULT_BACKEND:
            out += ["-tcg-backend", self.backend]
        return out


class ThreadExit(Exception):
    def __init__(self, code):
        self.code = code


class GuestThread:
    def __init__(self, proc, cpu: UserCPU, tid: int):
        self.proc = proc
        self.cpu = cpu
        self.tid = tid
        self.sigmask = 0
        self.pending: list[S.SigInfo] = []
        self.altstack = (0, S.SS_DISABLE, 0)
        self.clear_child_tid = 0
        self.robust_list = 0
        self.saved_mask = None        # sigsuspend: the mask to restore after the handler
        self.ident = threading.get_ident()

    def pending_mask(self) -> int:
        m = 0
        for i in self.pending + self.proc.pending:
            m |= S.bit(i.signo)
        return m



class Process:
    def __init__(self, opts: Options):
        self.opts = opts
        self.mem = GuestMemory()
        self.mem.listeners.append(self._mappings_changed)
        self.sys = LinuxSyscalls(self)
        self.actions = [S.SigAction() for _ in range(S.NSIG + 1)]
        self.pending: list[S.SigInfo] = []     # process-directed signals
        self.threads: list[GuestThread] = []
        self.threads_lock = threading.Lock()
        self.signal_flag = False
        self.exe_path = ""
        self.exe_host_path = ""
        self.auxv_bytes = b""
        self.sigtramp = 0
        self.strace_out = sys.stderr

    def cpus(self):
        return [t.cpu for t in self.threads]

    def _mappings_changed(self, start: int, end: int) -> None:
        for t in list(self.threads):
            t.cpu.invalidate_range(start, end)

    # -- paths -------------------------------------------------------------------
    def resolve_path(self, raw: bytes) -> bytes:
        """Absolute guest paths look inside the -L sysroot first, as QEMU does."""
        if raw in (b"/proc/self/exe", b"/proc/%d/exe" % os.getpid()):
            return self.exe_host_path.encode()
        root = self.opts.sysroot
        if root and raw.startswith(b"/") and not raw.startswith((b"/proc/", b"/dev/", b"/sys/")):
            candidate = root.encode() + raw
            if os.path.lexists(candidate):
                return candidate
        return raw

    def proc_file(self, raw: bytes):
        """Open /proc files that must show the guest's view; None for the rest."""
        pid = str(os.getpid()).encode()
        m = re.fullmatch(rb"/proc/(self|" + pid + rb")/(exe|maps|auxv)", raw)
        if raw == b"/proc/cpuinfo":
            data = self._cpuinfo()
        elif m:
            what = m.group(2)
            if what == b"exe":
                return os.open(self.exe_host_path, os.O_RDONLY)
            data = self._maps() if what == b"maps" else self.auxv_bytes
        else:
            return None
        fd = os.memfd_create("pyqemu-proc")
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def _cpuinfo(self) -> bytes:
        cpu = self.threads[0].cpu
        return (f"processor\t: 0\nhart\t\t: 0\nisa\t\t: {cpu.isa_string}\n"
                f"mmu\t\t: sv39\nuarch\t\t: pyqemu\n\n").encode()

    def _maps(self) -> bytes:
        lines = []
        prot = self.mem.prot
        for m in re.finditer(rb"([\x80-\x87])\1*", prot):
            p = m.group(1)[0]
            start, end = m.start() << 12, m.end() << 12
            perms = ("r" if p & 1 else "-") + ("w" if p & 2 else "-") + ("x" if p & 4 else "-") + "p"
            name = ""
            fm = self.mem.file_maps.get(m.start())
            off = 0
            if fm:
                name, off = fm[0], fm[1]
            if start <= self.stack_lo < end:
                name = "[stack]"
            lines.append(f"{start:08x}-{end:08x} {perms} {off:08x} 00:00 0"
                         + (f"          {name}" if name else ""))
        return ("\n".join(lines) + "\n").encode()

    # -- program loading -------------------------------------------------------------
    @staticmethod
    def install_kick_handler() -> None:
        signal.signal(KICK_SIGNAL, lambda signo, frame: None)
        signal.siginterrupt(KICK_SIGNAL, True)

    def load(self, path: str, argv: list[str], env: list[str]) -> GuestThread:
        host_path = self.resolve_path(path.encode()).decode()
        if not os.path.exists(host_path):
            raise ElfError(f"Could not open '{path}': No such file or directory")
        mem = self.mem
        stack_top = mem.size - PAGE
        self.stack_lo = stack_top - page_up(self.opts.stack_size)
        mem.mmap_top = self.stack_lo - PAGE
        main = load_elf(mem, path, host_path)
        interp = None
        if main.interp:
            ihost = self.resolve_path(main.interp.encode()).decode()
            if not os.path.exists(ihost):
                raise ElfError(f"Could not open '{main.interp}': No such file or directory")
            interp = load_elf(mem, main.interp, ihost, is_interp=True)
        mem.map_anon(self.stack_lo, stack_top - self.stack_lo, PROT_READ | PROT_WRITE)
        mem.brk_start = mem.brk = main.hi
        self.brk_end = main.hi
        self.sigtramp = mem.find_free(PAGE)
        mem.map_anon(self.sigtramp, PAGE, PROT_READ | PROT_EXEC)
        mem.poke(self.sigtramp, S.SIGTRAMP_CODE)
        self.exe_path = os.path.abspath(path) if not path.startswith("/") else path
        self.exe_host_path = os.path.abspath(host_path)
        auxv = [(AT_PHDR, main.phdr_addr), (AT_PHENT, 56), (AT_PHNUM, main.phnum),
                (AT_PAGESZ, PAGE), (AT_BASE, interp.load_bias if interp else 0), (AT_FLAGS, 0),
                (AT_ENTRY, main.entry), (AT_UID, os.getuid()), (AT_EUID, os.geteuid()),
                (AT_GID, os.getgid()), (AT_EGID, os.getegid()), (AT_SECURE, 0),
                (AT_RANDOM, 0), (AT_HWCAP, HWCAP), (AT_CLKTCK, 100), (AT_EXECFN, 0),
                (AT_PLATFORM, 0), (AT_MINSIGSTKSZ, S.FRAME_SIZE + 16)]
        args = [a.encode("utf-8", "surrogateescape") for a in argv]
        envb = [e.encode("utf-8", "surrogateescape") for e in env]
        sp, info = build_stack(mem, stack_top, args, envb, auxv, path.encode(), os.urandom(16))
        self.auxv_bytes = b"".join(struct.pack("<QQ", k, v) for k, v in info["auxv"])
        cpu = UserCPU(mem, make_backend(self.opts.backend))
        cpu.pc = interp.entry if interp else main.entry
        cpu.r[2] = sp
        t = GuestThread(self, cpu, os.getpid())
        self.threads.append(t)
        return t

    # -- running ----------------------------------------------------------------------------
    def run(self, t: GuestThread) -> None:
        """The loop of one guest thread; returns when the thread exits."""
        cpu = t.cpu
        log = cpu.log
        trace = log is not None and (log.enabled("exec") or log.enabled("cpu"))
        try:
            while True:
                try:
                    for _ in range(256):
                        tb = cpu.tb_cur.get(cpu.pc)
                        if tb is None:
                            tb = cpu.lookup_tb()
                        if trace:
                            if log.enabled("cpu"):
                                log.cpu_state(cpu)
                            if log.enabled("exec"):
                                log.exec_tb(cpu)
                        tb.code(cpu)
                except GuestTrap as trap:
                    if trap.cause == Cause.ECALL_U:
                        self.syscall(t)
                    else:
                        self.sync_signal(t, trap)
                if self.signal_flag or t.pending:
                    self.deliver(t)
        except ThreadExit as e:
            self._thread_gone(t, e.code)

    def syscall(self, t: GuestThread) -> None:
        cpu = t.cpu
        r = cpu.r
        nr = r[17]
        args = r[10:16]
        if self.opts.strace:
            name, kinds = self.sys.name_of(nr)
            line = format_call(self.mem, os.getpid(), nr, name, kinds, args)
            # exit and exit_group never return: their line ends here, as QEMU's.
            self.strace_out.write(line + "\n" if nr in (93, 94) or name is None else line)
            self.strace_out.flush()
        res = self.sys.call(t, nr, args)
        if res == -errno.ENOSYS and cpu.log is not None and cpu.log.enabled("unimp"):
            cpu.log.write(f"Unsupported syscall: {nr}\n")
        if self.opts.strace and name is not None:
            self.strace_out.write("\n" if res is _NO_RESULT else format_result(name, res) + "\n")
            self.strace_out.flush()
        if res is _NO_RESULT:
            return
        if res == -errno.EINTR and nr != 133 and self._restartable(t):
            return                      # pc stays on ecall: restarted after the handler
        r[10] = res & MASK64
        cpu.pc = (cpu.pc + 4) & MASK64

    def _restartable(self, t) -> bool:
        """An interrupted call restarts (Linux's -ERESTARTSYS) unless a guest
        handler without SA_RESTART is about to run; an interruption with no
        handler to run (our own thread kick, an ignored signal) is invisible."""
        for info in t.pending + self.pending:
            if not (t.sigmask & S.bit(info.signo)):
                act = self.actions[info.signo]
                return bool(act.flags & S.SA_RESTART) or act.handler <= S.SIG_IGN
        return True

    # -- signals -------------------------------------------------------------------------------
    def _host_handler(self, signo, frame):
        self.pending.append(S.SigInfo(signo, S.SI_USER))
        self.signal_flag = True

    def deliver(self, t: GuestThread) -> None:
        self.signal_flag = False
        while True:
            info = None
            for q in (t.pending, self.pending):
                for i in q:
                    if not (t.sigmask & S.bit(i.signo)):
                        info = i
                        q.remove(i)
                        break
                if info:
                    break
            if info is None:
                if self.pending:
                    self.signal_flag = True
                break
            if self._dispatch(t, info):
                break
        if t.saved_mask is not None:
            t.sigmask, t.saved_mask = t.saved_mask, None

    def _dispatch(self, t: GuestThread, info: S.SigInfo) -> bool:
        """Act on one signal; True when a handler frame was set up."""
        act = self.actions[info.signo]
        if act.handler == S.SIG_IGN:
            return False
        if act.handler == S.SIG_DFL:
            if S.default_terminates(info.signo):
                self.die_by_signal(info.signo)
            return False
        self.setup_frame(t, info, act)
        return True

    def sync_signal(self, t: GuestThread, trap: GuestTrap) -> None:
        cause = trap.cause
        cpu = t.cpu
        if cpu.log is not None and cpu.log.enabled("int"):
            cpu.log.write(f"exception cause {int(cause)} at pc 0x{cpu.pc:x}, tval 0x{trap.tval:x}\n")
        if cause in (Cause.LOAD_PAGE_FAULT, Cause.STORE_PAGE_FAULT, Cause.INSN_PAGE_FAULT):
            mapped = self.mem.page_prot(trap.tval) & MAPPED
            info = S.SigInfo(S.SIGSEGV, S.SEGV_ACCERR if mapped else S.SEGV_MAPERR, trap.tval)
        elif cause == Cause.ILLEGAL_INSN:
            info = S.SigInfo(S.SIGILL, S.ILL_ILLOPC, cpu.pc)
        elif cause == Cause.BREAKPOINT:
            info = S.SigInfo(S.SIGTRAP, S.TRAP_BRKPT, cpu.pc)
        elif cause in (Cause.INSN_MISALIGNED, Cause.LOAD_MISALIGNED, Cause.STORE_MISALIGNED):
            info = S.SigInfo(S.SIGBUS, S.BUS_ADRALN, trap.tval)
        else:
            info = S.SigInfo(S.SIGSEGV, S.SEGV_MAPERR, trap.tval)
        act = self.actions[info.signo]
        if act.handler in (S.SIG_DFL, S.SIG_IGN) or t.sigmask & S.bit(info.signo):
            self.die_by_signal(info.signo)
        self.setup_frame(t, info, act)

    def die_by_signal(self, signo: int) -> None:
        name = signal.strsignal(signo) or str(signo)
        core = signo in (S.SIGSEGV, S.SIGBUS, S.SIGILL, S.SIGFPE, S.SIGTRAP, S.SIGABRT,
                         S.SIGQUIT, S.SIGSYS, S.SIGXCPU, S.SIGXFSZ)
        if core:
            sys.stderr.write(f"qemu: uncaught target signal {signo} ({name}) - core dumped\n")
        sys.stderr.flush()
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError):
            pass
        try:
            signal.signal(signo, signal.SIG_DFL)
        except ValueError:
            pass      # not the main thread: the host disposition is already the default
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signo])
        # Directed at this very thread, so it is taken before the call returns
        # (a process-wide kill could land on another thread after os._exit).
        signal.pthread_kill(threading.get_ident(), signo)
        os._exit(128 + signo)

    def setup_frame(self, t: GuestThread, info: S.SigInfo, act: S.SigAction) -> None:
        cpu = t.cpu
        r = cpu.r
        sp = r[2]
        ss_sp, ss_flags, ss_size = t.altstack
        on_alt = ss_size and ss_sp <= sp < ss_sp + ss_size
        if act.flags & S.SA_ONSTACK and not (ss_flags & S.SS_DISABLE) and not on_alt:
            sp = ss_sp + ss_size
        frame = (sp - S.FRAME_SIZE) & ~15
        mc = frame + S.UC_OFFSET + S.UC_MCONTEXT
        saved = t.sigmask if t.saved_mask is None else t.saved_mask
        t.saved_mask = None
        uc = struct.pack("<QQQiiQQ", 0, 0, ss_sp, S.SS_ONSTACK if on_alt else ss_flags, 0,
                         ss_size, saved)
        gregs = struct.pack("<32Q", cpu.pc, *[r[i] & MASK64 for i in range(1, 32)])
        fregs = struct.pack("<32QI", *[r[32 + i] & MASK64 for i in range(32)],
                            (cpu.frm << 5) | cpu.fflags)
        try:
            self.mem.check(frame, S.FRAME_SIZE, PROT_WRITE)
        except GuestFault:
            self.die_by_signal(S.SIGSEGV)
        self.mem.poke(frame, info.pack())
        self.mem.poke(frame + S.UC_OFFSET, uc.ljust(S.UC_MCONTEXT, b"\x00"))
        self.mem.poke(mc, gregs + fregs)
        t.sigmask |= act.mask | (0 if act.flags & S.SA_NODEFER else S.bit(info.signo))
        t.sigmask &= ~S.UNBLOCKABLE
        if act.flags & S.SA_RESETHAND:
            self.actions[info.signo] = S.SigAction()
        r[10] = info.signo
        r[11] = frame
        r[12] = frame + S.UC_OFFSET
        r[1] = self.sigtramp
        r[2] = frame
        cpu.pc = act.handler
        cpu.lr_value = None

    def do_sigreturn(self, t: GuestThread):
        cpu = t.cpu
        r = cpu.r
        frame = r[2]
        uc = frame + S.UC_OFFSET
        try:
            mask = self.mem.read_u64(uc + S.UC_SIGMASK)
            regs = struct.unpack("<32Q", self.mem.read_bytes(uc + S.UC_MCONTEXT, 256))
            fp = struct.unpack("<32QI", self.mem.read_bytes(uc + S.UC_MCONTEXT + 256, 260))
        except GuestFault:
            self.die_by_signal(S.SIGSEGV)
        cpu.pc = regs[0]
        for i in range(1, 32):
            r[i] = regs[i]
        for i in range(32):
            r[32 + i] = fp[i]
        cpu.fflags, cpu.frm = fp[32] & 0x1F, (fp[32] >> 5) & 7
        t.sigmask = mask & ~S.UNBLOCKABLE
        self.signal_flag = True
        return _NO_RESULT

    def do_sigaction(self, sig: int, act: int, old: int) -> int:
        if sig < 1 or sig > S.NSIG:
            return -errno.EINVAL
        cur = self.actions[sig]
        if old:
            self.mem.write_bytes(old, S.KERNEL_SIGACTION.pack(cur.handler, cur.flags, cur.mask))
        if act:
            if sig in (S.SIGKILL, S.SIGSTOP):
                return -errno.EINVAL
            h, fl, mask = S.KERNEL_SIGACTION.unpack(self.mem.read_bytes(act, 24))
            self.actions[sig] = S.SigAction(h, fl, mask)
            self._mirror_host(sig, h)
        return 0

    def _mirror_host(self, sig: int, handler: int) -> None:
        """The host disposition follows the guest's, so a default action
        kills the emulator the way it would kill the program."""
        # Python sets host handlers from its main thread only.
        if (sig in SYNC_SIGNALS or sig >= signal.SIGRTMIN
                or threading.current_thread() is not threading.main_thread()):
            return
        try:
            if handler == S.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
            elif handler == S.SIG_IGN:
                signal.signal(sig, signal.SIG_IGN)
            else:
                signal.signal(sig, self._host_handler)
                signal.siginterrupt(sig, True)
        except (OSError, ValueError):
            pass

    def do_sigprocmask(self, t, how, set_, old) -> int:
        if old:
            self.mem.write_u64(old, t.sigmask)
        if set_:
            v = self.mem.read_u64(set_)
            if how == S.SIG_BLOCK:
                t.sigmask |= v
            elif how == S.SIG_UNBLOCK:
                t.sigmask &= ~v
            elif how == S.SIG_SETMASK:
                t.sigmask = v
            else:
                return -errno.EINVAL
            t.sigmask &= ~S.UNBLOCKABLE
            self.signal_flag = True
        return 0

    def do_sigaltstack(self, t, ss, old) -> int:
        if old:
            sp = t.cpu.r[2]
            s_sp, s_flags, s_size = t.altstack
            on = s_size and s_sp <= sp < s_sp + s_size
            self.mem.write_bytes(old, S.STACK_T.pack(s_sp, S.SS_ONSTACK if on else s_flags, 0, s_size))
        if ss:
            s_sp, s_flags, _pad, s_size = S.STACK_T.unpack(self.mem.read_bytes(ss, 24))
            if s_flags & S.SS_DISABLE:
                t.altstack = (0, S.SS_DISABLE, 0)
            else:
                t.altstack = (s_sp, 0, s_size)
        return 0

    def do_sigsuspend(self, t, mask) -> int:
        old = t.sigmask
        t.sigmask = mask & ~S.UNBLOCKABLE
        while not (t.pending_mask() & ~t.sigmask):
            # Host signals reach the guest through the main thread's Python
            # handler, which runs between these short waits.
            threading.Event().wait(0.005)
        # The handler runs with the temporary mask; its frame saves `old`.
        t.saved_mask = old
        self.signal_flag = True
        return -errno.EINTR

    def do_sigtimedwait(self, t, mask, info, tmo) -> int:
        """sigwaitinfo/sigtimedwait: take a pending signal of `mask` without
        running its handler (the set is normally blocked by the caller)."""
        import time
        deadline = None
        if tmo:
            sec, nsec = struct.unpack("<qq", self.mem.read_bytes(tmo, 16))
            deadline = time.monotonic() + sec + nsec / 1e9
        while True:
            for q in (t.pending, self.pending):
                for i in q:
                    if mask & S.bit(i.signo):
                        q.remove(i)
                        if info:
                            self.mem.write_bytes(info, i.pack())
                        return i.signo
            if t.pending_mask() & ~t.sigmask & ~mask:
                return -errno.EINTR
            if deadline is not None and time.monotonic() >= deadline:
                return -errno.EAGAIN
            time.sleep(0.005)

    def do_kill(self, t, pid, sig) -> int:
        if sig == 0 or (pid != os.getpid() and pid != 0):
            return hostcall("kill", pid, sig)
        if sig < 1 or sig > S.NSIG:
            return -errno.EINVAL
        return self._queue(t, S.SigInfo(sig, S.SI_USER, None, os.getpid(), os.getuid()))

    def do_tgkill(self, t, tgid, tid, sig) -> int:
        if tgid != os.getpid():
            return hostcall("tgkill", tgid, tid, sig)
        target = next((x for x in self.threads if x.tid == tid), None)
        if target is None:
            return -errno.ESRCH
        if sig == 0:
            return 0
        return self._queue(target, S.SigInfo(sig, S.SI_TKILL, None, os.getpid(), os.getuid()))

    def _queue(self, t, info) -> int:
        act = self.actions[info.signo]
        ignored = act.handler == S.SIG_IGN or (act.handler == S.SIG_DFL
                                               and not S.default_terminates(info.signo))
        if ignored and not t.sigmask & S.bit(info.signo):
            return 0          # discarded at once; a blocked one stays pending (sigwait)
        t.pending.append(info)
        self.signal_flag = True
        if t.ident != threading.get_ident():
            try:
                signal.pthread_kill(t.ident, KICK_SIGNAL)
            except (OSError, ProcessLookupError):
                pass
        return 0

    # -- memory ------------------------------------------------------------------------------
    def do_brk(self, addr: int) -> int:
        mem = self.mem
        with mem.lock:
            if addr < mem.brk_start:
                return mem.brk
            new_end, cur_end = page_up(addr), self.brk_end
            if new_end > cur_end:
                if not mem.is_free(cur_end, new_end):
                    return mem.brk
                mem.map_anon(cur_end, new_end - cur_end, PROT_READ | PROT_WRITE)
            elif new_end < cur_end:
                mem.unmap(new_end, cur_end - new_end)
            self.brk_end = new_end
            mem.brk = addr
            return addr

    def do_mmap(self, addr, length, prot, flags, fd, off) -> int:
        mem = self.mem
        if length == 0 or off & (PAGE - 1) or length > mem.size:
            return -errno.EINVAL
        length = page_up(length)
        prot &= 7
        with mem.lock:
            if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
                if addr & (PAGE - 1):
                    return -errno.EINVAL
                if addr + length > mem.size or addr < PAGE:
                    return -errno.ENOMEM
                if flags & MAP_FIXED_NOREPLACE and not (flags & MAP_FIXED) \
                        and not mem.is_free(addr, addr + length):
                    return -errno.EEXIST
                start = addr
            else:
                try:
                    start = mem.find_free(length, addr)
                except MemoryError:
                    return -errno.ENOMEM
            shared = (flags & 3) == MAP_SHARED
            if flags & MAP_ANONYMOUS:
                if shared:
                    mem._host_map(start, length, -1, 0, MAP_SHARED | MAP_ANONYMOUS)
                    mem.set_prot(start, start + length, MAPPED | prot)
                else:
                    mem.map_anon(start, length, prot)
                return start
            try:
                st = os.fstat(fd)
                name = os.readlink(f"/proc/self/fd/{fd}")
            except OSError as e:
                return -e.errno
            file_len = max(0, min(length, page_up(st.st_size) - off)) if st.st_size else length
            try:
                if file_len:
                    mem.map_file(start, file_len, prot, fd, off, shared, name)
                if file_len < length:
                    mem.map_anon(start + file_len, length - file_len, prot)
            except OSError as e:
                mem.map_anon(start, length, 0)
                mem.set_prot(start, start + length, 0)
                return -e.errno
            return start

    def do_munmap(self, addr, length) -> int:
        if addr & (PAGE - 1) or length == 0:
            return -errno.EINVAL
        with self.mem.lock:
            if addr + length <= self.mem.size:
                self.mem.unmap(addr, length)
        return 0

    def do_mprotect(self, addr, length, prot) -> int:
        if addr & (PAGE - 1):
            return -errno.EINVAL
        with self.mem.lock:
            if not self.mem.is_mapped(addr, addr + length):
                return -errno.ENOMEM
            if prot & PROT_WRITE and self.mem.host_readonly(addr, length):
                return -errno.EACCES          # shared mapping of a read-only file, as Linux
            self.mem.protect(addr, length, prot & 7)
        return 0

    def do_mremap(self, old, old_len, new_len, flags, new_addr) -> int:
        mem = self.mem
        if old & (PAGE - 1) or new_len == 0:
            return -errno.EINVAL
        old_len, new_len = page_up(old_len), page_up(new_len)
        with mem.lock:
            if not mem.is_mapped(old, old + old_len):
                return -errno.EFAULT
            prot = mem.page_prot(old) & 7
            if new_len <= old_len:
                if new_len < old_len:
                    mem.unmap(old + new_len, old_len - new_len)
                return old
            if mem.is_free(old + old_len, old + new_len):
                mem.map_anon(old + old_len, new_len - old_len, prot)
                return old
            if not flags & 1:             # MREMAP_MAYMOVE
                return -errno.ENOMEM
            start = mem.find_free(new_len)
            mem.map_anon(start, new_len, prot)
            mem.poke(start, mem.buf[old:old + old_len])
            mem.unmap(old, old_len)
            return start

    # -- processes -----------------------------------------------------------------------------
    def do_clone(self, t, flags, stack, ptid, tls, ctid) -> int:
        cpu = t.cpu
        if flags & CLONE_VM and not flags & CLONE_VFORK:
            if not flags & CLONE_THREAD:
                return -errno.EINVAL
            return self._new_thread(t, flags, stack, ptid, tls, ctid)
        pid = os.fork()
        if pid == 0:
            # The child carries on in this host thread as its only guest thread.
            t.tid = os.getpid()
            self.threads = [t]
            self.threads_lock = threading.Lock()
            if stack:
                cpu.r[2] = stack
            if flags & CLONE_SETTLS:
                cpu.r[4] = tls
            if flags & CLONE_CHILD_SETTID:
                self.mem.write_u32(ctid, t.tid)
            if flags & CLONE_CHILD_CLEARTID:
                t.clear_child_tid = ctid
            return 0
        if flags & CLONE_PARENT_SETTID:
            self.mem.write_u32(ptid, pid)
        return pid

    def _new_thread(self, t, flags, stack, ptid, tls, ctid) -> int:
        cpu = UserCPU(self.mem, make_backend(self.opts.backend))
        cpu.log = t.cpu.log
        cpu.copy_state_from(t.cpu)
        cpu.pc = (t.cpu.pc + 4) & MASK64
        cpu.r[10] = 0
        if stack:
            cpu.r[2] = stack
        if flags & CLONE_SETTLS:
            cpu.r[4] = tls
        nt = GuestThread(self, cpu, 0)
        nt.sigmask = t.sigmask
        ready = threading.Event()

        def body():
            nt.tid = threading.get_native_id()
            nt.ident = threading.get_ident()
            if flags & CLONE_CHILD_SETTID:
                self.mem.write_u32(ctid, nt.tid)
            if flags & CLONE_CHILD_CLEARTID:
                nt.clear_child_tid = ctid
            if flags & CLONE_PARENT_SETTID:
                self.mem.write_u32(ptid, nt.tid)
            with self.threads_lock:
                self.threads.append(nt)
            ready.set()
            self.run(nt)

        threading.Thread(target=body, daemon=True).start()
        ready.wait()
        return nt.tid

    def wait_for_threads(self) -> None:
        """The main guest thread is gone (SYS_exit): the process lives on
        while other threads run; this host thread keeps taking host signals."""
        import time
        while True:
            with self.threads_lock:
                if not self.threads:
                    break
            time.sleep(0.02)

    def thread_exit(self, t, code):
        raise ThreadExit(code)

    def _thread_gone(self, t, code):
        if t.clear_child_tid:
            try:
                self.mem.write_u32(t.clear_child_tid, 0)
                hostcall("futex", self.mem.host_addr(t.clear_child_tid), 1, 1 << 30, 0, 0, 0)
            except GuestFault:
                pass
        with self.threads_lock:
            if t in self.threads:
                self.threads.remove(t)
            last = not self.threads
        if last:
            self.exit_group(code)

    def exit_group(self, code):
        if self.opts.stats_file:
            # Guest instructions retired by the live threads (the benchmark's
            # MIPS), then what the JIT cost, as key=value lines.
            stats = {"insns": sum(c.instret for c in self.cpus())}
            engine = sys.modules.get("pyqemu.accel.tcg.llvm_engine")
            if engine is not None:
                stats.update(engine.compile_stats())
            with open(self.opts.stats_file, "w") as f:
                f.write("".join(f"{k}={v}\n" for k, v in stats.items()))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def do_execve(self, t, path_ptr, argv_ptr, envp_ptr) -> int:
        mem = self.mem
        path = mem.read_cstr(path_ptr).decode("utf-8", "surrogateescape")

        def strings(p):
            out = []
            while p:
                s = mem.read_u64(p)
                if not s:
                    break
                out.append(mem.read_cstr(s).decode("utf-8", "surrogateescape"))
                p += 8
            return out
        argv = strings(argv_ptr)
        env = strings(envp_ptr)
        if path in ("/proc/self/exe", f"/proc/{os.getpid()}/exe"):
            path = self.exe_path
        host = self.resolve_path(path.encode()).decode("utf-8", "surrogateescape")
        try:
            with open(host, "rb") as f:
                head = f.read(256)
        except OSError as e:
            return -e.errno
        if not os.access(host, os.X_OK):
            return -errno.EACCES
        if head.startswith(b"#!"):
            line = head[2:].split(b"\n")[0].strip().split(None, 1)
            if not line:
                return -errno.ENOEXEC
            interp = line[0].decode()
            argv = [interp] + ([line[1].decode()] if len(line) > 1 else []) + [path] + argv[1:]
            path = interp
            host = self.resolve_path(interp.encode()).decode()
            try:
                with open(host, "rb") as f:
                    head = f.read(64)
            except OSError as e:
                return -e.errno
        if head[:4] == b"\x7fELF" and len(head) >= 20 and struct.unpack_from("<H", head, 18)[0] == 243:
            cmd = [sys.executable, "-I", "-m", "pyqemu.cli.user", *self.opts.emulator_args(),
                   "-0", argv[0] if argv else path, path, *argv[1:]]
            exe, args = sys.executable, cmd
        else:
            exe, args = host, argv
        envd = {}
        for e in env:
            k, _, v = e.partition("=")
            envd[k] = v
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execve(exe, args, envd)
        except OSError as e:
            return -e.errno
