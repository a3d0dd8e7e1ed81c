"""Loading `-kernel` and the CPU state the guest starts in.

Low memory the loader uses (the guest may reuse it once started):

    0x00500  GDT: 0x08 32-bit code, 0x10 64-bit code, 0x18 data (Linux's
             __BOOT_CS/__BOOT_DS are 0x10/0x18)
    0x01000  PML4, 0x2000 PDPT, 0x3000-0x6fff page directories
             (identity map of the first 4 GiB with 2 MiB pages, 64-bit entry)
    0x07000  multiboot information / Linux boot_params / PVH start info
    0x07800  e820-style memory map (multiboot mmap, PVH memmap)
    0x20000  command line
    0x80000  initial stack top (plain ELF entry)
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from ...accel.kvm import api
from ...memory.address_space import AddressSpace, GuestMemoryError
from ..loader import LoadError, read_file
from . import elf

GDT_ADDR = 0x500
PML4_ADDR = 0x1000
BOOT_INFO_ADDR = 0x7000
MEMMAP_ADDR = 0x7800
CMDLINE_ADDR = 0x20000
CMDLINE_MAX = 0x10000
STACK_TOP = 0x80000

SEL_CODE32, SEL_CODE64, SEL_DATA = 0x08, 0x10, 0x18
GDT = struct.pack("<4Q", 0, 0x00CF9A000000FFFF, 0x00AF9A000000FFFF, 0x00CF92000000FFFF)

CR0_PE, CR0_ET, CR0_PG = 1 << 0, 1 << 4, 1 << 31
CR4_PAE = 1 << 5
EFER_LME, EFER_LMA = 1 << 8, 1 << 10

# Multiboot specification 0.6.96, section 3.1 (header) and 3.3 (information)
MULTIBOOT_MAGIC = 0x1BADB002
MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002
MULTIBOOT_SEARCH = 8192
MB_HEADER = struct.Struct("<III")                 # magic flags checksum
MB_AOUT = struct.Struct("<IIIII")                 # header_addr load_addr load_end_addr bss_end_addr entry_addr
MB_FLAG_AOUT_KLUDGE = 1 << 16
MB_INFO_MEMORY, MB_INFO_CMDLINE, MB_INFO_MODS, MB_INFO_MEM_MAP = 1 << 0, 1 << 2, 1 << 3, 1 << 6
MB_MMAP_ENTRY = struct.Struct("<IQQI")            # size base_addr length type
E820_RAM, E820_RESERVED = 1, 2


class EntryMode(enum.Enum):
    PROTECTED32 = "32-bit protected mode, paging off"
    LONG64 = "64-bit long mode, identity mapped"


@dataclass
class BootState:
    """Where and how the boot vCPU starts."""
    mode: EntryMode
    entry: int
    regs: dict[str, int] = field(default_factory=dict)
    kind: str = "elf"


@dataclass
class MemoryMap:
    """(base, length, type) ranges, e820 style."""
    ranges: list[tuple[int, int, int]]

    def below_1m_and_upper_kib(self) -> tuple[int, int]:
        lower = 640
        upper = 0
        for base, length, kind in self.ranges:
            if kind == E820_RAM and base <= 0x100000 < base + length:
                upper = (base + length - 0x100000) // 1024
        return lower, upper


def _load(bus: AddressSpace, path: str, addr: int, data: bytes, memsz: int, what: str) -> None:
    try:
        bus.load_image(addr, data)
        if memsz > len(data):
            bus.load_image(addr + len(data), bytes(memsz - len(data)))
    except GuestMemoryError:
        raise LoadError(f"could not load {what} '{path}': it wants {memsz:#x} bytes at "
                        f"{addr:#x}, outside guest RAM") from None


def find_multiboot(data: bytes) -> tuple[int, int] | None:
    """(offset, flags) of a valid multiboot header in the first 8 KiB."""
    for off in range(0, min(len(data), MULTIBOOT_SEARCH) - 12 + 1, 4):
        magic, flags, checksum = MB_HEADER.unpack_from(data, off)
        if magic == MULTIBOOT_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return off, flags
    return None


def write_cmdline(bus: AddressSpace, cmdline: str) -> int:
    raw = cmdline.encode() + b"\0"
    if len(raw) > CMDLINE_MAX:
        raise LoadError(f"kernel command line too long ({len(raw)} bytes, at most {CMDLINE_MAX})")
    bus.load_image(CMDLINE_ADDR, raw)
    return CMDLINE_ADDR


def load_multiboot(bus: AddressSpace, path: str, data: bytes, header: tuple[int, int],
                   cmdline: str, memmap: MemoryMap) -> BootState:
    off, flags = header
    if flags & MB_FLAG_AOUT_KLUDGE:
        header_addr, load_addr, load_end, bss_end, entry = MB_AOUT.unpack_from(data, off + 12)
        file_start = off - (header_addr - load_addr)
        if file_start < 0:
            raise LoadError(f"could not load kernel '{path}': bad multiboot load address")
        length = (load_end - load_addr) if load_end else len(data) - file_start
        memsz = max(length, (bss_end - load_addr) if bss_end else length)
        _load(bus, path, load_addr, data[file_start:file_start + length], memsz, "kernel")
    else:
        image = _parse_elf(path, data)
        if image.elfclass != 32:
            raise LoadError(f"could not load kernel '{path}': a multiboot ELF must be 32-bit")
        for seg in image.segments:
            _load(bus, path, seg.paddr, seg.data, seg.memsz, "kernel")
        entry = image.entry
    # The information structure (3.3): memory, command line, memory map.
    lower, upper = memmap.below_1m_and_upper_kib()
    mmap = b"".join(MB_MMAP_ENTRY.pack(MB_MMAP_ENTRY.size - 4, b, n, t) for b, n, t in memmap.ranges)
    bus.load_image(MEMMAP_ADDR, mmap)
    info = bytearray(88)
    struct.pack_into("<III", info, 0, MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP, lower, upper)
    struct.pack_into("<I", info, 16, write_cmdline(bus, cmdline))
    struct.pack_into("<II", info, 44, len(mmap), MEMMAP_ADDR)
    bus.load_image(BOOT_INFO_ADDR, bytes(info))
    return BootState(EntryMode.PROTECTED32, entry,
                     {"rax": MULTIBOOT_BOOTLOADER_MAGIC, "rbx": BOOT_INFO_ADDR}, kind="multiboot")


def _parse_elf(path: str, data: bytes) -> elf.ElfImage:
    try:
        image = elf.parse(data)
    except elf.ElfError as e:
        raise LoadError(f"could not load kernel '{path}': {e}") from None
    if image.machine not in (elf.EM_386, elf.EM_X86_64):
        raise LoadError(f"could not load kernel '{path}': ELF machine {image.machine} is not x86")
    return image


def load_plain_elf(bus: AddressSpace, path: str, data: bytes) -> BootState:
    """An ELF without a multiboot header: entered in the mode its class says."""
    image = _parse_elf(path, data)
    for seg in image.segments:
        _load(bus, path, seg.paddr, seg.data, seg.memsz, "kernel")
    mode = EntryMode.LONG64 if image.elfclass == 64 else EntryMode.PROTECTED32
    return BootState(mode, image.entry, {"rsp": STACK_TOP}, kind=f"elf{image.elfclass}")


def install_boot_tables(bus: AddressSpace) -> None:
    """The GDT and the 4 GiB identity map every entry mode may use."""
    bus.load_image(GDT_ADDR, GDT)
    pml4 = struct.pack("<Q", (PML4_ADDR + 0x1000) | 3) + bytes(4096 - 8)
    pdpt = b"".join(struct.pack("<Q", (PML4_ADDR + 0x2000 + i * 0x1000) | 3) for i in range(4))
    pdpt += bytes(4096 - len(pdpt))
    pds = b"".join(struct.pack("<Q", (i << 21) | 0x83) for i in range(4 * 512))
    bus.load_image(PML4_ADDR, pml4 + pdpt + pds)


def _segment(selector: int, code: bool, long_mode: bool = False) -> api.Segment:
    return api.Segment(base=0, limit=0xFFFFFFFF, selector=selector,
                       type=0xB if code else 0x3, present=1, dpl=0,
                       db=0 if long_mode else 1, s=1, l=1 if long_mode else 0, g=1)


def apply_entry_state(sregs: api.Sregs, regs: api.Regs, state: BootState) -> None:
    """Fill the boot vCPU's registers for `state` (flat segments as the GDT
    at GDT_ADDR describes them, so a reload of any selector changes nothing)."""
    long_mode = state.mode is EntryMode.LONG64
    sregs.cs = _segment(SEL_CODE64 if long_mode else SEL_CODE32, True, long_mode)
    data = _segment(SEL_DATA, False)
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data
    sregs.gdt.base, sregs.gdt.limit = GDT_ADDR, len(GDT) - 1
    sregs.idt.base, sregs.idt.limit = 0, 0
    sregs.cr0 = CR0_PE | CR0_ET
    sregs.cr4 = 0
    sregs.efer = 0
    if long_mode:
        sregs.cr0 |= CR0_PG
        sregs.cr3 = PML4_ADDR
        sregs.cr4 = CR4_PAE
        sregs.efer = EFER_LME | EFER_LMA
    for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10",
                 "r11", "r12", "r13", "r14", "r15"):
        setattr(regs, name, state.regs.get(name, 0))
    regs.rip = state.entry
    regs.rflags = 0x2


def load_kernel(bus: AddressSpace, path: str, cmdline: str, memmap: MemoryMap) -> BootState:
    """Multiboot (header in the first 8 KiB) or plain ELF; Linux images are linux.py's."""
    data = read_file(path, "kernel")
    header = find_multiboot(data)
    if header is not None:
        return load_multiboot(bus, path, data, header, cmdline, memmap)
    if elf.is_elf(data):
        return load_plain_elf(bus, path, data)
    raise LoadError(f"could not load kernel '{path}': not a multiboot image, an ELF file or "
                    "a Linux bzImage")
