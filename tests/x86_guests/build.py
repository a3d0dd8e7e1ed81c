"""Build the x86_64 test guests with Debian's gcc/binutils.

Each guest is one or more sources in this directory linked by guest.ld
from 1 MiB and converted to a 32-bit ELF (so any multiboot loader, QEMU's
included, takes it; the code switches to long mode itself). Results are
cached in ~/.cache/pyqemu/x86-guests/<hash of the sources>/<name>.elf.

    python tests/x86_guests/build.py [name...]   # prints the built paths
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyqemu" / "x86-guests"

# name: sources (assembly .S, freestanding C .c)
GUESTS: dict[str, list[str]] = {
    "modes": ["modes.S"],
    "elf64": ["elf64.S"],
    "fault": ["fault.S"],
    "blk": ["start64.S", "lib.c", "virtio.c", "blk.c"],
    "hostile": ["start64.S", "lib.c", "virtio.c", "hostile.c"],
    "smp": ["start64.S", "smp_tramp.S", "lib.c", "smp.c"],
    "compute": ["start64.S", "lib.c", "compute.c"],
    "pio": ["pio.S"],
    "mmioloop": ["mmioloop.S"],
    "acpipm": ["start64.S", "lib.c", "acpipm.c"],
}
# Flat binaries (objcopy -O binary of the assembled .text, no linking).
FLAT: dict[str, list[str]] = {
    "minibz": ["minibz.S"],
}
# Host programs (the same code run natively, for comparison).
NATIVE: dict[str, list[str]] = {
    "native_compute": ["native_compute.c"],
}
CFLAGS = ["-m64", "-O2", "-ffreestanding", "-fno-pic", "-fno-pie", "-fno-stack-protector",
          "-mno-red-zone", "-mgeneral-regs-only", "-fno-asynchronous-unwind-tables",
          "-mcmodel=small", "-nostdinc", "-Wall", "-Werror"]


class BuildError(Exception):
    pass


def _digest(name: str) -> str:
    h = hashlib.sha256()
    sources = GUESTS.get(name) or FLAT.get(name) or NATIVE[name]
    for src in sorted(set(sources + ["guest.ld", "build.py"] + _headers())):
        h.update(src.encode())
        h.update((HERE / src).read_bytes())
    return h.hexdigest()[:16]


def _headers() -> list[str]:
    return sorted(p.name for p in HERE.glob("*.h"))


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{' '.join(cmd)}:\n{r.stderr}")


def build(name: str) -> Path:
    """The built guest's path (building it if the cache lacks it)."""
    if name not in GUESTS:
        raise BuildError(f"unknown guest {name!r} (have: {', '.join(GUESTS)})")
    out = CACHE / _digest(name) / f"{name}.elf"
    if out.exists():
        return out
    for tool in ("gcc", "ld", "objcopy"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found: install Debian's gcc and binutils")
    with tempfile.TemporaryDirectory() as tmp:
        objs = []
        for src in GUESTS[name]:
            obj = os.path.join(tmp, src + ".o")
            _run(["gcc", "-c", *CFLAGS, "-I", str(HERE), "-o", obj, str(HERE / src)])
            objs.append(obj)
        elf64 = os.path.join(tmp, name + ".elf64")
        _run(["ld", "-m", "elf_x86_64", "-nostdlib", "--no-warn-rwx-segments", "-T",
              str(HERE / "guest.ld"), "-o", elf64, *objs])
        out.parent.mkdir(parents=True, exist_ok=True)
        # The 64-bit link too (a plain ELF64 entered in long mode by our
        # loader); written before the .elf, whose presence means "built".
        shutil.copy(elf64, out.with_suffix(".elf64"))
        tmp_out = out.with_suffix(f".tmp{os.getpid()}")
        _run(["objcopy", "-O", "elf32-i386", elf64, str(tmp_out)])
        os.replace(tmp_out, out)
    return out


def build_flat(name: str) -> Path:
    """A flat binary image (e.g. a bzImage-shaped test kernel)."""
    out = CACHE / _digest(name) / f"{name}.bin"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, name + ".o")
        _run(["gcc", "-c", "-m64", "-o", obj, *[str(HERE / s) for s in FLAT[name]]])
        tmp_out = out.with_suffix(f".tmp{os.getpid()}")
        _run(["objcopy", "-O", "binary", "-j", ".text", obj, str(tmp_out)])
        os.replace(tmp_out, out)
    return out


def build_native(name: str) -> Path:
    """A host executable built from NATIVE[name] (cached like the guests)."""
    out = CACHE / _digest(name) / name
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(f".tmp{os.getpid()}")
    _run(["gcc", "-O2", "-I", str(HERE), "-o", str(tmp_out), *[str(HERE / s) for s in NATIVE[name]]])
    os.replace(tmp_out, out)
    return out


def main(argv: list[str]) -> int:
    try:
        for name in argv or list(GUESTS) + list(FLAT) + list(NATIVE):
            builder = build_native if name in NATIVE else build_flat if name in FLAT else build
            print(builder(name))
    except BuildError as e:
        sys.stderr.write(f"build.py: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
