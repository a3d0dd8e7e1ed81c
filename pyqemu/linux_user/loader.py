"""ELF loading for a Linux process (System V gABI, "Program Header";
Linux fs/binfmt_elf.c behaviour): PT_LOAD segments, PT_INTERP, and the
initial stack with argv, envp and the auxiliary vector.
"""

from __future__ import annotations

import dataclasses
import os
import struct

from .memory import MAPPED, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, GuestMemory, page_up

EM_RISCV = 243
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

# Where Linux puts a PIE main program (ELF_ET_DYN_BASE = 2/3 of TASK_SIZE).
ELF_ET_DYN_BASE = 0x2AAAAAA000

# Auxiliary vector types (include/uapi/linux/auxvec.h).
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_MINSIGSTKSZ = 23, 25, 26, 31, 51

ELF64_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
ELF64_PHDR = struct.Struct("<IIQQQQQQ")


class ElfError(Exception):
    """The file cannot be loaded; the message is QEMU's wording."""


@dataclasses.dataclass
class ProgramHeader:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclasses.dataclass
class LoadedImage:
    path: str
    load_bias: int
    entry: int
    phdr_addr: int
    phnum: int
    interp: str | None
    lo: int
    hi: int


def read_headers(path: str, data: bytes):
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ElfError("Invalid ELF image for this architecture")
    (ident, etype, machine, _ver, entry, phoff, _sh, _fl, _ehs, phentsize, phnum,
     *_rest) = ELF64_EHDR.unpack_from(data)
    if ident[4] != 2 or ident[5] != 1 or machine != EM_RISCV or etype not in (ET_EXEC, ET_DYN):
        raise ElfError("Invalid ELF image for this architecture")
    if phentsize != ELF64_PHDR.size or phoff + phnum * phentsize > len(data):
        raise ElfError("Invalid ELF image for this architecture")
    phdrs = [ProgramHeader(*(lambda t: (t[0], t[1], t[2], t[3], t[5], t[6]))(
        ELF64_PHDR.unpack_from(data, phoff + i * phentsize))) for i in range(phnum)]
    return etype, entry, phoff, phdrs


def _prot(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


def load_elf(mem: GuestMemory, path: str, host_path: str, is_interp: bool = False) -> LoadedImage:
    try:
        with open(host_path, "rb") as f:
            data = f.read(1 << 16)
            fd = os.dup(f.fileno())
    except OSError as e:
        raise ElfError(os.strerror(e.errno)) from None
    try:
        etype, entry, phoff, phdrs = read_headers(path, data)
        loads = [p for p in phdrs if p.type == PT_LOAD]
        if not loads:
            raise ElfError("Invalid ELF image for this architecture")
        lo = min(p.vaddr for p in loads) & ~(PAGE - 1)
        hi = page_up(max(p.vaddr + p.memsz for p in loads))
        bias = 0
        if etype == ET_DYN:
            if is_interp:
                base = mem.find_free(hi - lo)
            else:
                base = ELF_ET_DYN_BASE
            bias = base - lo
        elif not mem.is_free(lo, hi):
            raise ElfError("Invalid ELF image for this architecture")
        interp = None
        for p in phdrs:
            if p.type == PT_INTERP:
                with open(host_path, "rb") as f:
                    f.seek(p.offset)
                    interp = f.read(p.filesz).rstrip(b"\x00").decode()
        # Reserve the whole span first, as Linux does, so gaps stay unusable.
        mem.map_anon(lo + bias, hi - lo, 0)
        mem.set_prot(lo + bias, hi + bias, MAPPED)
        for p in loads:
            prot = _prot(p.flags)
            va = p.vaddr + bias
            page = va & ~(PAGE - 1)
            delta = va - page
            file_end = va + p.filesz
            if p.filesz:
                mem.map_file(page, delta + p.filesz, prot, fd, p.offset - delta, False, path)
                # The rest of the last file page is bss: zero it.
                tail = page_up(file_end)
                if p.memsz > p.filesz and tail > file_end:
                    mem.poke(file_end, bytes(tail - file_end))
            else:
                tail = page
            mem_end = page_up(va + p.memsz)
            if mem_end > tail:
                mem.map_anon(tail, mem_end - tail, prot)
        phdr_addr = 0
        for p in phdrs:
            if p.type == PT_PHDR:
                phdr_addr = p.vaddr + bias
        if not phdr_addr:
            for p in loads:
                if p.offset <= phoff < p.offset + p.filesz:
                    phdr_addr = p.vaddr + (phoff - p.offset) + bias
        return LoadedImage(path, bias, entry + bias, phdr_addr, len(phdrs), interp,
                           lo + bias, hi + bias)
    finally:
        os.close(fd)


def build_stack(mem: GuestMemory, top: int, argv: list[bytes], envp: list[bytes],
                auxv: list[tuple[int, int]], execfn: bytes, random16: bytes,
                platform: bytes = b"riscv64") -> tuple[int, dict]:
    """Lay out the initial stack below `top` the way Linux does (strings at
    the top, then AT_RANDOM bytes, then auxv/envp/argv/argc, 16-aligned);
    return the initial sp and the addresses filled into auxv."""
    sp = top - 8
    sp -= len(execfn) + 1
    execfn_addr = sp
    mem.poke(sp, execfn + b"\x00")

    def push_str(s: bytes) -> int:
        nonlocal sp
        sp -= len(s) + 1
        mem.poke(sp, s + b"\x00")
        return sp

    env_addrs = [push_str(s) for s in reversed(envp)][::-1]
    arg_addrs = [push_str(s) for s in reversed(argv)][::-1]
    platform_addr = push_str(platform)
    sp &= ~15
    sp -= 16
    random_addr = sp
    mem.poke(sp, random16)
    filled = {AT_RANDOM: random_addr, AT_EXECFN: execfn_addr, AT_PLATFORM: platform_addr}
    vec = [(k, filled.get(k, v)) for k, v in auxv] + [(AT_NULL, 0)]
    words = [len(argv)] + arg_addrs + [0] + env_addrs + [0]
    for k, v in vec:
        words += [k, v]
    sp -= 8 * len(words)
    sp &= ~15
    mem.poke(sp, b"".join(struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF) for w in words))
    auxv_addr = sp + 8 * (len(argv) + len(envp) + 3)
    return sp, {"auxv_addr": auxv_addr, "auxv": vec}
