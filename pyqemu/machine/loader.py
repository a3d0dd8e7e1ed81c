"""Loading guest images into guest-physical memory: ELF files (with
pyelftools), raw binaries, and RISC-V Linux Images (boot-image-header.rst).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ..memory.address_space import AddressSpace, GuestMemoryError

EM_RISCV = 243


class LoadError(Exception):
    """An image could not be loaded; the message names the file and why."""


@dataclass
class Loaded:
    entry: int
    low: int
    high: int          # one past the last byte loaded


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise LoadError(f"could not load {what} '{path}': {e.strerror}") from None


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def load_elf(bus: AddressSpace, path: str, data: bytes, xlen: int, what: str) -> Loaded:
    import io

    # pyelftools is imported at the point of use: the x86 board reads its
    # kernels with machine/x86/elf.py and needs only LoadError/read_file here.
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_RISCV":
            raise LoadError(f"could not load {what} '{path}': ELF machine is "
                            f"{elf['e_machine']}, not RISC-V")
        if elf.elfclass != xlen:
            raise LoadError(f"could not load {what} '{path}': {elf.elfclass}-bit ELF on a "
                            f"{xlen}-bit machine")
        low, high = None, 0
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            addr = seg["p_paddr"]
            body = seg.data()
            image = body + bytes(seg["p_memsz"] - len(body))
            if not _load_clipped(bus, addr, image):
                raise LoadError(f"could not load {what} '{path}': segment at 0x{addr:x} "
                                f"(0x{len(image):x} bytes) is outside RAM/ROM")
            low = addr if low is None else min(low, addr)
            high = max(high, addr + len(image))
        if low is None:
            raise LoadError(f"could not load {what} '{path}': no loadable segments")
        return Loaded(elf["e_entry"], low, high)
    except (ELFError, struct.error, ValueError) as e:
        raise LoadError(f"could not load {what} '{path}': malformed ELF ({e})") from None


def _load_clipped(bus: AddressSpace, addr: int, image: bytes) -> bool:
    """Load the parts of [addr, addr+len) that fall in RAM or ROM.

    Like QEMU, bytes of a segment outside memory are dropped (toolchains put
    the ELF headers in a PT_LOAD just below the text); a segment with no
    byte in memory at all is an error, reported by the caller.
    """
    loaded = False
    end = addr + len(image)
    for m in bus.mappings:
        if m.region.kind not in ("ram", "rom"):
            continue
        lo, hi = max(addr, m.base), min(end, m.end)
        if lo < hi:
            bus.load_image(lo, image[lo - addr:hi - addr])
            loaded = True
    return loaded or not image


def load_raw(bus: AddressSpace, path: str, data: bytes, addr: int, what: str) -> Loaded:
    try:
        bus.load_image(addr, data)
    except GuestMemoryError:
        raise LoadError(f"could not load {what} '{path}': {len(data)} bytes at 0x{addr:x} "
                        "do not fit in RAM") from None
    return Loaded(addr, addr, addr + len(data))


# RISC-V Linux Image header (Documentation/arch/riscv/boot-image-header.rst):
# code0, code1, text_offset, image_size, flags, version, res1, res2,
# magic ("RISCV\0\0\0", deprecated), magic2 ("RSC\x05"), res3.
_IMAGE_HEADER = struct.Struct("<IIQQQIIQ8sII")


def riscv_image_header(data: bytes):
    if len(data) < _IMAGE_HEADER.size:
        return None
    f = _IMAGE_HEADER.unpack_from(data)
    if f[8] == b"RISCV\x00\x00\x00" or f[9] == 0x05435352:
        return {"text_offset": f[2], "image_size": f[3]}
    return None


def describe(path: str) -> str:
    return os.path.basename(path)
