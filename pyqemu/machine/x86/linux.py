"""Choosing the boot protocol for `-kernel`, and Linux's two direct-boot
protocols:

- bzImage, 64-bit entry (Documentation/arch/x86/boot.rst, "64-bit BOOT
  PROTOCOL"; boot_params as Documentation/arch/x86/zero-page.rst): the
  protected-mode kernel at its preferred address, entered at +0x200 in long
  mode with RSI = boot_params, __BOOT_CS 0x10 / __BOOT_DS 0x18, an e820 map,
  the command line and the initrd.
- PVH (xen/include/public/arch-x86/hvm/start_info.h): an uncompressed ELF
  vmlinux whose XEN_ELFNOTE_PHYS32_ENTRY note names a 32-bit entry, entered
  in flat protected mode with EBX = hvm_start_info.

Anything else goes to boot.py (multiboot, plain ELF).
"""

from __future__ import annotations

import struct

from ..loader import LoadError, read_file
from . import boot, elf

# setup header (boot.rst, "THE REAL-MODE KERNEL HEADER"): offsets in the file and in boot_params
HDR_SETUP_SECTS = 0x1F1
HDR_BOOT_FLAG = 0x1FE
HDR_JUMP = 0x200
HDR_MAGIC = 0x202
HDR_VERSION = 0x206
HDR_TYPE_OF_LOADER = 0x210
HDR_LOADFLAGS = 0x211
HDR_CODE32_START = 0x214
HDR_RAMDISK_IMAGE = 0x218
HDR_RAMDISK_SIZE = 0x21C
HDR_CMD_LINE_PTR = 0x228
HDR_INITRD_ADDR_MAX = 0x22C
HDR_RELOCATABLE = 0x234
HDR_XLOADFLAGS = 0x236
HDR_CMDLINE_SIZE = 0x238
HDR_PAYLOAD_OFFSET = 0x248
HDR_PREF_ADDRESS = 0x258
HDR_INIT_SIZE = 0x260
LOADFLAG_LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x01
MIN_VERSION = 0x020C                 # xloadflags (the 64-bit entry) exist from 2.12
ENTRY64_OFFSET = 0x200
LOADER_UNDEFINED = 0xFF

# boot_params (zero-page.rst)
BP_ACPI_RSDP_ADDR = 0x070
RSDP_ADDR_VERSION = 0x020E           # acpi_rsdp_addr is read from protocol 2.14
BP_EXT_RAMDISK_IMAGE = 0x0C0
BP_EXT_RAMDISK_SIZE = 0x0C4
BP_EXT_CMD_LINE_PTR = 0x0C8
BP_E820_ENTRIES = 0x1E8
BP_E820_TABLE = 0x2D0
BP_E820_MAX = 128
E820_ENTRY = struct.Struct("<QQI")
BOOT_PARAMS_SIZE = 4096

# PVH
XEN_ELFNOTE_PHYS32_ENTRY = 18
HVM_START_MAGIC = 0x336EC578
HVM_START_INFO = struct.Struct("<IIIIQQQQII")    # magic version flags nr_modules modlist cmdline rsdp memmap entries reserved
HVM_MEMMAP_ENTRY = struct.Struct("<QQII")        # addr size type reserved
HVM_MODLIST_ENTRY = struct.Struct("<QQQQ")       # paddr size cmdline reserved
MODLIST_ADDR = boot.BOOT_INFO_ADDR + 0x100


def is_bzimage(data: bytes) -> bool:
    return len(data) > 0x260 and data[HDR_MAGIC:HDR_MAGIC + 4] == b"HdrS"


def pvh_entry(image: elf.ElfImage) -> int | None:
    for name, ntype, desc in image.notes:
        if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY and len(desc) >= 4:
            return struct.unpack_from("<I", desc)[0]
    return None


def _ram_top_below_4g(machine) -> int:
    return machine.ram_regions[0][1].size


def _load_initrd(machine, path: str, limit: int) -> tuple[int, int]:
    data = read_file(path, "initrd")
    top = min(limit + 1, _ram_top_below_4g(machine))
    addr = (top - len(data)) & ~0xFFF
    if addr < 0x1000000:
        raise LoadError(f"could not load initrd '{path}': too big for RAM ({len(data)} bytes)")
    machine.bus.load_image(addr, data)
    return addr, len(data)


def decompress_payload(path: str, data: bytes) -> bytes:
    """The bzImage's compressed vmlinux (payload_offset/payload_length,
    protocol 2.08+), decompressed: what the kernel's own decompressor makes."""
    setup_sects = data[HDR_SETUP_SECTS] or 4
    offset, length = struct.unpack_from("<II", data, HDR_PAYLOAD_OFFSET)
    start = (setup_sects + 1) * 512 + offset
    payload = data[start:start + length]
    try:
        if payload[:4] == b"\x28\xb5\x2f\xfd":
            import zstandard
            return zstandard.ZstdDecompressor().decompressobj().decompress(payload)
        if payload[:6] == b"\xfd7zXZ\x00":
            import lzma
            return lzma.LZMADecompressor().decompress(payload)
        if payload[:2] == b"\x1f\x8b":
            import gzip
            return gzip.decompress(payload)
    except Exception as e:
        raise LoadError(f"could not load kernel '{path}': payload does not decompress: {e}") from None
    raise LoadError(f"could not load kernel '{path}': payload compression {payload[:4].hex()} "
                    "not supported for host-side decompression (zstd, xz, gzip)")


def load_bzimage(machine, path: str, data: bytes, cmdline: str, initrd: str | None,
                 decompress: bool = False) -> boot.BootState:
    version = struct.unpack_from("<H", data, HDR_VERSION)[0]
    xloadflags = struct.unpack_from("<H", data, HDR_XLOADFLAGS)[0] if version >= MIN_VERSION else 0
    if version < MIN_VERSION or not xloadflags & XLF_KERNEL_64:
        raise LoadError(f"could not load kernel '{path}': boot protocol {version >> 8}.{version & 0xFF} "
                        "without a 64-bit entry (needs 2.12+, XLF_KERNEL_64)")
    setup_sects = data[HDR_SETUP_SECTS] or 4
    kernel = data[(setup_sects + 1) * 512:]
    pref = struct.unpack_from("<Q", data, HDR_PREF_ADDRESS)[0] or 0x100000
    init_size = struct.unpack_from("<I", data, HDR_INIT_SIZE)[0]
    if pref + max(init_size, len(kernel)) > _ram_top_below_4g(machine):
        raise LoadError(f"could not load kernel '{path}': it needs {(pref + init_size) >> 20} MiB of RAM")
    entry = pref + ENTRY64_OFFSET
    if decompress:
        # What the kernel's decompressor would do (without KASLR): the vmlinux
        # ELF at its physical addresses, entered at startup_64 with the same
        # boot_params. Saves running the decompressor, which on a host whose
        # KVM emulates kernel mode (PVM) takes many minutes.
        image = elf.parse(decompress_payload(path, data))
        for seg in image.segments:
            boot._load(machine.bus, path, seg.paddr, seg.data, seg.memsz, "kernel")
        entry = image.entry
    else:
        machine.bus.load_image(pref, kernel)

    params = bytearray(BOOT_PARAMS_SIZE)
    header_end = HDR_MAGIC + data[HDR_JUMP + 1]      # the jump's offset byte gives the header's length
    params[HDR_SETUP_SECTS:header_end] = data[HDR_SETUP_SECTS:header_end]
    params[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED
    params[HDR_LOADFLAGS] |= LOADFLAG_LOADED_HIGH
    struct.pack_into("<I", params, HDR_CODE32_START, pref)
    cmdline_max = struct.unpack_from("<I", data, HDR_CMDLINE_SIZE)[0] or 255
    if len(cmdline) > cmdline_max:
        raise LoadError(f"kernel command line too long for '{path}' ({len(cmdline)} > {cmdline_max})")
    struct.pack_into("<I", params, HDR_CMD_LINE_PTR, boot.write_cmdline(machine.bus, cmdline))
    if initrd:
        limit = struct.unpack_from("<I", data, HDR_INITRD_ADDR_MAX)[0] or 0x37FFFFFF
        addr, size = _load_initrd(machine, initrd, limit)
        struct.pack_into("<II", params, HDR_RAMDISK_IMAGE, addr, size)
    if version >= RSDP_ADDR_VERSION and getattr(machine, "acpi_addr", None):
        struct.pack_into("<Q", params, BP_ACPI_RSDP_ADDR, machine.acpi_addr)
    ranges = machine.memory_map().ranges[:BP_E820_MAX]
    params[BP_E820_ENTRIES] = len(ranges)
    for i, (base, length, kind) in enumerate(ranges):
        E820_ENTRY.pack_into(params, BP_E820_TABLE + i * E820_ENTRY.size, base, length, kind)
    machine.bus.load_image(boot.BOOT_INFO_ADDR, bytes(params))
    return boot.BootState(boot.EntryMode.LONG64, entry, {"rsi": boot.BOOT_INFO_ADDR},
                          kind="bzImage, decompressed by the VMM" if decompress else "bzImage")


def load_pvh(machine, path: str, image: elf.ElfImage, entry: int, cmdline: str,
             initrd: str | None) -> boot.BootState:
    for seg in image.segments:
        boot._load(machine.bus, path, seg.paddr, seg.data, seg.memsz, "kernel")
    ranges = machine.memory_map().ranges
    memmap = b"".join(HVM_MEMMAP_ENTRY.pack(b, n, t, 0) for b, n, t in ranges)
    machine.bus.load_image(boot.MEMMAP_ADDR, memmap)
    nr_modules = modlist = 0
    if initrd:
        addr, size = _load_initrd(machine, initrd, 0xFFFFFFFF)
        machine.bus.load_image(MODLIST_ADDR, HVM_MODLIST_ENTRY.pack(addr, size, 0, 0))
        nr_modules, modlist = 1, MODLIST_ADDR
    info = HVM_START_INFO.pack(HVM_START_MAGIC, 1, 0, nr_modules, modlist,
                               boot.write_cmdline(machine.bus, cmdline),
                               getattr(machine, "acpi_addr", 0) or 0, boot.MEMMAP_ADDR,
                               len(ranges), 0)
    machine.bus.load_image(boot.BOOT_INFO_ADDR, info)
    return boot.BootState(boot.EntryMode.PROTECTED32, entry, {"rbx": boot.BOOT_INFO_ADDR}, kind="pvh")


def load_any(machine, path: str, append: str, initrd: str | None,
             decompress_bzimage: bool = False) -> boot.BootState:
    data = read_file(path, "kernel")
    if is_bzimage(data):
        return load_bzimage(machine, path, data, append, initrd, decompress_bzimage)
    if elf.is_elf(data):
        try:
            image = elf.parse(data)
        except elf.ElfError as e:
            raise LoadError(f"could not load kernel '{path}': {e}") from None
        entry = pvh_entry(image)
        if entry is not None:
            return load_pvh(machine, path, image, entry, append, initrd)
    if initrd:
        raise LoadError("-initrd needs a Linux kernel (bzImage or PVH vmlinux)")
    # Multiboot loaders pass the kernel's path first on the command line, as QEMU's.
    return boot.load_kernel(machine.bus, path, f"{path} {append}".rstrip(), machine.memory_map())
