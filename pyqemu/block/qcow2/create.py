"""Creating qcow2 images, laid out as QEMU lays them out: header cluster,
refcount table, refcount block(s), L1 table."""
from __future__ import annotations

import os
from array import array
from dataclasses import dataclass

from ..errors import BlockError
from . import format as F
from .refcount import encode_entries


@dataclass
class Qcow2CreateOptions:
    size: int
    version: int = 3
    cluster_size: int = 65536
    refcount_bits: int = 16
    lazy_refcounts: bool = False
    compression_type: int = F.COMPRESSION_ZLIB
    backing_file: str | None = None
    backing_format: str | None = None
    preallocation: str = "off"


def validate(opts: Qcow2CreateOptions) -> None:
    cs = opts.cluster_size
    if cs < 512 or cs > 2 << 20 or cs & (cs - 1):
        raise BlockError("Cluster size must be a power of two between 512 and 2048k")
    if opts.refcount_bits not in (1, 2, 4, 8, 16, 32, 64):
        raise BlockError("Refcount width must be a power of two and may not exceed 64 bits")
    if opts.version == 2 and opts.refcount_bits != 16:
        raise BlockError("Different refcount widths than 16 bits require compatibility level 1.1 or above "
                         "(use compat=1.1 or greater)")
    if opts.version == 2 and opts.lazy_refcounts:
        raise BlockError("Lazy refcounts only supported with compatibility level 1.1 and above "
                         "(use compat=1.1 or greater)")
    if opts.version == 2 and opts.compression_type != F.COMPRESSION_ZLIB:
        raise BlockError("Non-zlib compression type is only supported with compatibility level 1.1 and above "
                         "(use compat=1.1 or greater)")
    if opts.preallocation not in ("off", "metadata", "falloc", "full"):
        raise BlockError(f"Parameter 'preallocation' does not accept value '{opts.preallocation}'")
    if opts.backing_file and opts.preallocation != "off":
        raise BlockError("Backing file and preallocation can only be used at the same time if extended_l2 is on")
    if opts.size < 0 or opts.size >= 1 << 62:
        raise BlockError("Image size too large")
    if opts.size % 512:
        raise BlockError("Image size must be a multiple of 512 bytes")
    if opts.backing_file and len(opts.backing_file.encode()) > 1023:
        raise BlockError("Backing file name too long")


def create_qcow2(path: str, opts: Qcow2CreateOptions) -> None:
    validate(opts)
    cs = opts.cluster_size
    cluster_bits = cs.bit_length() - 1
    refcount_order = opts.refcount_bits.bit_length() - 1
    l2_entries = cs // 8
    l1_size = -(-opts.size // (cs * l2_entries))
    if l1_size * 8 > F.MAX_L1_BYTES:
        raise BlockError(f"Could not create '{path}': image size too large for cluster size {cs}")
    l1_clusters = max(1, -(-l1_size * 8 // cs))
    block_entries = cs * 8 // opts.refcount_bits
    blocks = 1
    while True:
        table_clusters = -(-blocks * 8 // cs)
        total = 1 + table_clusters + blocks + l1_clusters
        need = -(-total // block_entries)
        if need <= blocks:
            break
        blocks = need
    h = F.Header(version=opts.version, cluster_bits=cluster_bits, size=opts.size, l1_size=l1_size,
                 refcount_table_offset=cs, refcount_table_clusters=table_clusters,
                 l1_table_offset=(1 + table_clusters + blocks) * cs, refcount_order=refcount_order,
                 compression_type=opts.compression_type, backing_file=opts.backing_file,
                 backing_format=opts.backing_format if opts.backing_file else None)
    if opts.version == 2:
        h.header_length = F.HEADER_V2_LENGTH
    if opts.lazy_refcounts:
        h.compatible_features |= F.COMPAT_LAZY_REFCOUNTS
    if opts.compression_type != F.COMPRESSION_ZLIB:
        h.incompatible_features |= F.INCOMPAT_COMPRESSION
    cluster0 = h.pack_cluster0()
    if len(cluster0) > cs:
        raise BlockError(f"Could not create '{path}': header does not fit in one cluster")
    table = array("Q", [(1 + table_clusters + b) * cs for b in range(blocks)])
    table = array("Q", table) + array("Q", bytes(8 * (table_clusters * cs // 8 - blocks)))
    table.byteswap()
    from .refcount import decode_block
    refblocks = bytearray()
    for b in range(blocks):
        block = decode_block(bytes(cs), opts.refcount_bits)
        for i in range(block_entries):
            cluster = b * block_entries + i
            if cluster >= total:
                break
            block[i] = 1
        refblocks += encode_entries(block, opts.refcount_bits, 0, block_entries)[1]
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise BlockError(f"Could not create '{path}': {os.strerror(exc.errno)}") from None
    try:
        os.pwrite(fd, cluster0 + bytes(cs - len(cluster0)) + table.tobytes() + bytes(refblocks), 0)
        os.ftruncate(fd, h.l1_table_offset + 8 * l1_size)
    finally:
        os.close(fd)
    if opts.preallocation != "off":
        _preallocate(path, opts.preallocation)


def _preallocate(path: str, mode: str) -> None:
    """Allocate every L2 table and data cluster (metadata), and reserve or
    write the data area (falloc, full)."""
    from ..file import FileNode
    from .driver import Qcow2Node
    node = Qcow2Node(FileNode(path, locking="off"))
    try:
        node.preallocate(0, node.header.size, mode)
    finally:
        node.close()
