"""The real peers: RISC-V F/D/Zfh instructions run under qemu-riscv64, and
the host's own x86-64 FPU.

Each peer is a small C program, compiled once (cached under
~/.cache/pyqemu/fpu, keyed by the source's hash) and fed a batch of requests
on stdin.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

CACHE_DIR = Path.home() / ".cache" / "pyqemu" / "fpu"

# Must match struct request / struct reply in the peers' C sources.
REQUEST = struct.Struct("<BBB5xQQQ")
REPLY = struct.Struct("<QQ")


class Op(enum.IntEnum):
    """Must match enum op in riscv_fpu_peer.c."""
    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    SQRT = 4
    MADD = 5
    MSUB = 6
    NMSUB = 7
    NMADD = 8
    MIN = 9
    MAX = 10
    EQ = 11
    LT = 12
    LE = 13
    CLASS = 14
    CVT_W = 15
    CVT_WU = 16
    CVT_L = 17
    CVT_LU = 18
    CVT_FROM_W = 19
    CVT_FROM_WU = 20
    CVT_FROM_L = 21
    CVT_FROM_LU = 22
    CVT_FROM_S = 23
    CVT_FROM_D = 24
    CVT_FROM_H = 25


class PeerFmt(enum.IntEnum):
    """Must match enum fmt in riscv_fpu_peer.c."""
    S = 0
    D = 1
    H = 2


class PeerUnavailable(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class PeerProgram:
    """A C test peer: how to build it and how to run it."""
    source: Path
    compiler: str
    compiler_package: str
    cflags: tuple[str, ...]
    runner: tuple[str, ...] = ()  # e.g. the user-mode emulator that runs it
    runner_package: str = ""

    def build(self) -> Path:
        tools = [(self.compiler, self.compiler_package)]
        if self.runner:
            tools.append((self.runner[0], self.runner_package))
        for tool, package in tools:
            if shutil.which(tool) is None:
                raise PeerUnavailable(f"{tool} not found: install the Debian package {package} "
                                      f"(scripts/bootstrap.sh should)")
        text = self.source.read_bytes()
        digest = hashlib.sha256(text + " ".join((self.compiler, *self.cflags)).encode()).hexdigest()[:16]
        binary = CACHE_DIR / f"{self.source.stem}-{digest}"
        if binary.exists():
            return binary
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
        done = subprocess.run([self.compiler, *self.cflags, "-o", str(partial), str(self.source), "-lm"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerUnavailable(f"compiling {self.source.name} failed:\n{done.stderr}")
        partial.replace(binary)
        return binary


RISCV_PEER = PeerProgram(
    source=Path(__file__).with_name("riscv_fpu_peer.c"),
    compiler="riscv64-linux-gnu-gcc", compiler_package="gcc-riscv64-linux-gnu",
    cflags=("-static", "-O2", "-march=rv64gc_zfh"),
    runner=("qemu-riscv64", "-cpu", "rv64,Zfh=true"), runner_package="qemu-user")

HOST_PEER = PeerProgram(
    source=Path(__file__).with_name("host_fpu_peer.c"),
    compiler="gcc", compiler_package="gcc",
    # Keep every operation at run time, in the rounding mode set by fesetround.
    cflags=("-O1", "-frounding-math", "-fsignaling-nans", "-ffp-contract=off"))


class Peer:
    def __init__(self, program: PeerProgram):
        self.program = program
        self.binary = program.build()

    def run(self, requests: list[tuple[int, int, int, int, int, int]]) -> list[tuple[int, int]]:
        """requests: (op, fmt, rm, a, b, c) -> [(result, fflags)] from the peer."""
        data = b"".join(REQUEST.pack(*r) for r in requests)
        command = [*self.program.runner, str(self.binary)]
        done = subprocess.run(command, input=data, capture_output=True, timeout=300)
        if done.returncode != 0 or len(done.stdout) != REPLY.size * len(requests):
            raise PeerUnavailable(f"{' '.join(command)} failed (exit {done.returncode}): "
                                  f"{done.stderr.decode(errors='replace')}")
        return list(REPLY.iter_unpack(done.stdout))
