"""Builds the bare-metal test guests with Debian's riscv64-unknown-elf-gcc.

Each guest is one or more sources from src/ linked with the small runtime in
runtime/ by link.ld.  Builds are cached in ~/.cache/pyqemu/guests/<hash>/,
where the hash covers the compiler, the flags and every input file, so a
rerun with nothing changed costs only the hashing.

    python tests/guests/build.py [NAME...]    # build and print ELF paths
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GUESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = GUESTS_DIR / "src"
RUNTIME_DIR = GUESTS_DIR / "runtime"
LINKER_SCRIPT = GUESTS_DIR / "link.ld"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyqemu" / "guests"
COMPILER = "riscv64-unknown-elf-gcc"

RUNTIME_SOURCES = ("start.S", "trap.S", "runtime.c")

# -march strings.  Only the bit-manipulation guests add Zba/Zbb/Zbs, so the
# compiler never slips those instructions into the other guests.
MARCH = {
    64: "rv64imafdc_zicsr_zifencei",
    32: "rv32imafdc_zicsr_zifencei",
}
BITMANIP = "_zba_zbb_zbs"
MABI = {64: "lp64d", 32: "ilp32d"}
COMMON_FLAGS = (
    "-nostdlib", "-nostartfiles", "-ffreestanding", "-fno-builtin",
    "-fno-pic", "-mcmodel=medany", "-O2", "-g", "-Wall", "-Werror",
    "-Wno-unused-function",
)


class BuildError(Exception):
    """A guest failed to compile; the message carries the compiler output."""


@dataclass(frozen=True)
class Guest:
    """One test guest: its sources (in src/) and the width it is built for."""

    name: str
    sources: tuple[str, ...]
    xlen: int = 64
    # Exit status the guest must end with on the real QEMU (0 = all checks passed).
    expected_exit: int = 0
    # Machine options besides -M virt -bios none -nographic -kernel.
    extra_args: tuple[str, ...] = ()
    bitmanip: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        march = MARCH[self.xlen] + (BITMANIP if self.bitmanip else "")
        return (f"-march={march}", f"-mabi={MABI[self.xlen]}", *COMMON_FLAGS)

    @property
    def emulator(self) -> str:
        return f"riscv{self.xlen}"


def _g(name: str, *sources: str, xlen: int = 64, **kw) -> Guest:
    return Guest(name, sources or (f"{name}.c",), xlen=xlen, **kw)


GUESTS: dict[str, Guest] = {g.name: g for g in (
    _g("hello"),
    _g("exit_code", expected_exit=3),
    _g("rv64i", "rv_int.c"),
    _g("rv64m", "rv_mul.c"),
    _g("rv64a", "rv_atomic.c"),
    _g("rv64c", "rv_compressed.c", "compressed_ops.S"),
    _g("rv64zb", "rv_bitmanip.c", bitmanip=True),
    _g("zicsr", "rv_zicsr.c"),
    _g("zifencei", "rv_zifencei.c"),
    _g("zicntr", "rv_zicntr.c"),
    _g("traps", "rv_traps.c", "vectors.S"),
    _g("misaligned", "rv_misaligned.c"),
    _g("sv39", "rv_mmu.c", "mmu_sv39.c"),
    _g("sv48", "rv_mmu.c", "mmu_sv48.c"),
    _g("sv57", "rv_mmu.c", "mmu_sv57.c"),
    _g("pmp", "rv_pmp.c"),
    _g("triggers", "rv_triggers.c"),
    _g("timer", "rv_timer.c"),
    _g("fp_f", "rv_fp_f.c"),
    _g("fp_d", "rv_fp_d.c"),
    _g("rv32i", "rv_int.c", xlen=32),
    _g("rv32m", "rv_mul.c", xlen=32),
    _g("rv32a", "rv_atomic.c", xlen=32),
    _g("rv32c", "rv_compressed.c", "compressed_ops.S", xlen=32),
    _g("rv32zb", "rv_bitmanip.c", xlen=32, bitmanip=True),
    _g("rv32zicsr", "rv_zicsr.c", xlen=32),
    _g("rv32traps", "rv_traps.c", "vectors.S", xlen=32),
    _g("sv32", "rv_mmu.c", "mmu_sv32.c", xlen=32),
    _g("rv32pmp", "rv_pmp.c", xlen=32),
    _g("rv32timer", "rv_timer.c", xlen=32),
    _g("rv32fp_f", "rv_fp_f.c", xlen=32),
    _g("rv32fp_d", "rv_fp_d.c", xlen=32),
    _g("rv32zicntr", "rv_zicntr.c", xlen=32),
    _g("rv32misaligned", "rv_misaligned.c", xlen=32),
    _g("rv32triggers", "rv_triggers.c", xlen=32),
    _g("rv32zifencei", "rv_zifencei.c", xlen=32),
)}


def _compiler_identity() -> str:
    try:
        out = subprocess.run([COMPILER, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{COMPILER} is not usable: {exc}") from exc
    return out.stdout.splitlines()[0]


def _inputs(guest: Guest) -> list[Path]:
    files = [LINKER_SCRIPT, *sorted(RUNTIME_DIR.iterdir())]
    files += [SRC_DIR / s for s in guest.sources]
    headers = sorted(SRC_DIR.glob("*.h"))
    return files + headers


def build_key(guest: Guest) -> str:
    digest = hashlib.sha256()
    digest.update(_compiler_identity().encode())
    digest.update(repr((guest.sources, guest.flags)).encode())
    for path in _inputs(guest):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def build(guest: Guest) -> Path:
    """Returns the guest's ELF, compiling it unless the cache already has it."""
    for source in guest.sources:
        if not (SRC_DIR / source).is_file():
            raise BuildError(f"guest {guest.name}: no source {SRC_DIR / source}")
    out_dir = CACHE_ROOT / build_key(guest)
    elf = out_dir / f"{guest.name}.elf"
    if elf.is_file():
        return elf
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [RUNTIME_DIR / s for s in RUNTIME_SOURCES] + [SRC_DIR / s for s in guest.sources]
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_elf = Path(tmp) / elf.name
        cmd = [COMPILER, *guest.flags, f"-I{RUNTIME_DIR}", f"-I{SRC_DIR}",
               "-T", str(LINKER_SCRIPT), "-o", str(tmp_elf), *map(str, sources)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"guest {guest.name} failed to build:\n{result.stderr.strip()}")
        # rename is atomic, so a concurrent build of the same guest is harmless
        os.replace(tmp_elf, elf)
    return elf


def main(argv: list[str]) -> int:
    names = argv or list(GUESTS)
    unknown = [n for n in names if n not in GUESTS]
    if unknown:
        print(f"build.py: unknown guest {unknown[0]!r}; known: {', '.join(GUESTS)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            print(f"{name} {build(GUESTS[name])}")
        except BuildError as exc:
            print(exc, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
