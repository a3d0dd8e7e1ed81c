"""The real peer: RISC-V F/D/Zfh instructions run under qemu-riscv64.

`riscv_fpu_peer.c` is cross-compiled once (cached under ~/.cache/pyqemu/fpu,
keyed by the source's hash) and fed a batch of requests on stdin.
"""

from __future__ import annotations

import enum
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("riscv_fpu_peer.c")
CACHE_DIR = Path.home() / ".cache" / "pyqemu" / "fpu"
CROSS_CC = "riscv64-linux-gnu-gcc"
CC_FLAGS = ["-static", "-O2", "-march=rv64gc_zfh"]
QEMU_USER = "qemu-riscv64"
QEMU_FLAGS = ["-cpu", "rv64,Zfh=true"]

# Must match struct request / struct reply in riscv_fpu_peer.c.
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


def build_peer() -> Path:
    for tool, package in ((CROSS_CC, "gcc-riscv64-linux-gnu"), (QEMU_USER, "qemu-user")):
        if shutil.which(tool) is None:
            raise PeerUnavailable(f"{tool} not found: install the Debian package {package} "
                                  f"(scripts/bootstrap.sh should)")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(CC_FLAGS).encode()).hexdigest()[:16]
    binary = CACHE_DIR / f"riscv_fpu_peer-{digest}"
    if binary.exists():
        return binary
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    done = subprocess.run([CROSS_CC, *CC_FLAGS, "-o", str(partial), str(SOURCE)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerUnavailable(f"compiling {SOURCE.name} failed:\n{done.stderr}")
    partial.replace(binary)
    return binary


class Peer:
    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, requests: list[tuple[int, int, int, int, int, int]]) -> list[tuple[int, int]]:
        """requests: (op, fmt, rm, a, b, c) -> [(result, fflags)] from real RISC-V."""
        data = b"".join(REQUEST.pack(*r) for r in requests)
        done = subprocess.run([QEMU_USER, *QEMU_FLAGS, str(self.binary)], input=data,
                              capture_output=True, timeout=120)
        if done.returncode != 0 or len(done.stdout) != REPLY.size * len(requests):
            raise PeerUnavailable(f"{QEMU_USER} {self.binary.name} failed "
                                  f"(exit {done.returncode}): {done.stderr.decode(errors='replace')}")
        return list(REPLY.iter_unpack(done.stdout))
