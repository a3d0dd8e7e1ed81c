"""Just enough of the ELF format (System V gABI, ch. 4-5) to load an x86
kernel: the header, the PT_LOAD segments and the notes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

EM_386, EM_X86_64 = 3, 62
PT_LOAD, PT_NOTE = 1, 4
ELFCLASS32, ELFCLASS64 = 1, 2

ELF32_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")   # Elf32_Ehdr
ELF64_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")   # Elf64_Ehdr
ELF32_PHDR = struct.Struct("<IIIIIIII")           # type offset vaddr paddr filesz memsz flags align
ELF64_PHDR = struct.Struct("<IIQQQQQQ")           # type flags offset vaddr paddr filesz memsz align
NOTE_HDR = struct.Struct("<III")                  # namesz descsz type


class ElfError(Exception):
    pass


@dataclass
class Segment:
    paddr: int
    vaddr: int
    data: bytes
    memsz: int


@dataclass
class ElfImage:
    elfclass: int          # 32 or 64
    machine: int
    entry: int
    segments: list[Segment]
    notes: list[tuple[bytes, int, bytes]]   # (name, type, desc)


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def parse(data: bytes) -> ElfImage:
    if len(data) < 64 or not is_elf(data):
        raise ElfError("not an ELF file")
    cls = data[4]
    if data[5] != 1:
        raise ElfError("not a little-endian ELF file")
    if cls == ELFCLASS32:
        ident, _type, machine, _v, entry, phoff, _sh, _fl, _eh, phentsize, phnum, *_ = ELF32_EHDR.unpack_from(data)
    elif cls == ELFCLASS64:
        ident, _type, machine, _v, entry, phoff, _sh, _fl, _eh, phentsize, phnum, *_ = ELF64_EHDR.unpack_from(data)
    else:
        raise ElfError(f"unknown ELF class {cls}")
    segments, notes = [], []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + phentsize > len(data):
            raise ElfError("program header table past the end of the file")
        if cls == ELFCLASS32:
            p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _f, _a = ELF32_PHDR.unpack_from(data, off)
        else:
            p_type, _f, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _a = ELF64_PHDR.unpack_from(data, off)
        if p_offset + p_filesz > len(data):
            raise ElfError(f"segment {i} past the end of the file")
        body = data[p_offset:p_offset + p_filesz]
        if p_type == PT_LOAD and p_memsz:
            segments.append(Segment(p_paddr, p_vaddr, body, p_memsz))
        elif p_type == PT_NOTE:
            notes.extend(_notes(body))
    return ElfImage(32 if cls == ELFCLASS32 else 64, machine, entry, segments, notes)


def _notes(body: bytes) -> list[tuple[bytes, int, bytes]]:
    out, pos = [], 0
    while pos + NOTE_HDR.size <= len(body):
        namesz, descsz, ntype = NOTE_HDR.unpack_from(body, pos)
        pos += NOTE_HDR.size
        name = body[pos:pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        desc = body[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        out.append((name, ntype, desc))
    return out
