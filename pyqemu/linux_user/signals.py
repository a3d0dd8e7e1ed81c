"""Guest signals: the riscv64 kernel structures (asm-generic
`struct sigaction`, `stack_t`, `siginfo_t`, and the signal frame of
arch/riscv/kernel/signal.c: `struct rt_sigframe { siginfo; ucontext }`).
"""

from __future__ import annotations

import dataclasses
import struct

NSIG = 64
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = range(1, 10)
SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD = range(10, 18)
SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ = range(18, 26)
SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS = range(26, 32)

SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO = 1, 2, 4
SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND = 0x08000000, 0x10000000, 0x40000000, 0x80000000
SS_ONSTACK, SS_DISABLE = 1, 2
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2

# si_code values
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPC, TRAP_BRKPT, BUS_ADRALN = 1, 1, 1

# Signals whose default action is to ignore; the rest (but stop/cont) terminate.
DEFAULT_IGNORE = {SIGCHLD, SIGURG, SIGWINCH, SIGCONT}
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))

KERNEL_SIGACTION = struct.Struct("<QQQ")      # sa_handler, sa_flags, sa_mask
STACK_T = struct.Struct("<QiiQ")               # ss_sp, ss_flags, pad, ss_size

# struct rt_sigframe layout (measured against glibc's ucontext_t for riscv64)
SIGINFO_SIZE = 128
UC_OFFSET = SIGINFO_SIZE
UC_FLAGS, UC_LINK, UC_STACK, UC_SIGMASK, UC_MCONTEXT = 0, 8, 16, 40, 176
MC_GREGS, MC_FPREGS, MC_FCSR = 0, 256, 256 + 32 * 8
UCONTEXT_SIZE = 960
FRAME_SIZE = SIGINFO_SIZE + UCONTEXT_SIZE

# The return trampoline Linux keeps in the vDSO: li a7, 139 (rt_sigreturn); ecall.
SIGTRAMP_CODE = struct.pack("<II", 0x08B00893, 0x00000073)


@dataclasses.dataclass
class SigAction:
    handler: int = SIG_DFL
    flags: int = 0
    mask: int = 0


@dataclasses.dataclass
class SigInfo:
    signo: int
    code: int = SI_USER
    addr: int | None = None       # fault address (SIGSEGV, SIGBUS, SIGILL, SIGTRAP)
    pid: int = 0
    uid: int = 0
    status: int = 0

    def pack(self) -> bytes:
        head = struct.pack("<iii", self.signo, 0, self.code) + b"\x00" * 4
        if self.addr is not None:
            body = struct.pack("<Q", self.addr & 0xFFFFFFFFFFFFFFFF)
        elif self.signo == SIGCHLD:
            body = struct.pack("<iIi", self.pid, self.uid, self.status)
        else:
            body = struct.pack("<iI", self.pid, self.uid)
        return (head + body).ljust(SIGINFO_SIZE, b"\x00")


def bit(sig: int) -> int:
    return 1 << (sig - 1)


def default_terminates(sig: int) -> bool:
    return sig not in DEFAULT_IGNORE and sig not in (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
