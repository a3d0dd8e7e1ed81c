"""On-disk structures of qcow2, named after docs/interop/qcow2.rst sections."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"QFI\xfb"

# "Header": fields common to versions 2 and 3 (72 bytes), then the v3 part.
HEADER_V2 = struct.Struct(">4sIQIIQIIQQIIQ")
HEADER_V3_EXTRA = struct.Struct(">QQQII")
HEADER_V2_LENGTH = 72
HEADER_V3_LENGTH = 104            # without the compression type byte
HEADER_V3_LENGTH_COMPRESSION = 112

# Offsets of header fields written on their own (each group is contiguous).
OFF_SIZE = 24
OFF_L1 = 36                       # l1_size (u32) then l1_table_offset (u64)
OFF_REFCOUNT_TABLE = 48           # refcount_table_offset (u64) then clusters (u32)
OFF_SNAPSHOTS = 60                # nb_snapshots (u32) then snapshots_offset (u64)
OFF_INCOMPATIBLE = 72

# "Header" incompatible / compatible / autoclear feature bits.
INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTL2 = 1 << 4
INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION
COMPAT_LAZY_REFCOUNTS = 1 << 0
AUTOCLEAR_BITMAPS = 1 << 0
AUTOCLEAR_DATA_FILE_RAW = 1 << 1

COMPRESSION_ZLIB = 0
COMPRESSION_ZSTD = 1
COMPRESSION_NAMES = {COMPRESSION_ZLIB: "zlib", COMPRESSION_ZSTD: "zstd"}

# "Header extensions"
EXT_END = 0
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857
EXT_BITMAPS = 0x23852875
EXT_CRYPTO = 0x0537BE77
EXT_DATA_FILE = 0x44415441
EXT_HEADER = struct.Struct(">II")
FEATURE_ENTRY = struct.Struct(">BB46s")

FEATURE_TABLE = [  # (type, bit, name) as QEMU writes it
    (0, 0, "dirty bit"), (0, 1, "corrupt bit"), (0, 2, "external data file"),
    (0, 3, "compression type"), (0, 4, "extended L2 entries"),
    (1, 0, "lazy refcounts"), (2, 0, "bitmaps"), (2, 1, "raw external data"),
]

# "Cluster mapping": L1 and L2 entries.
L1E_OFFSET_MASK = 0x00FFFFFFFFFFFE00
L2E_OFFSET_MASK = 0x00FFFFFFFFFFFE00
REFT_OFFSET_MASK = 0xFFFFFFFFFFFFFE00
OFLAG_COPIED = 1 << 63
OFLAG_COMPRESSED = 1 << 62
OFLAG_ZERO = 1 << 0
L1E_RESERVED = 0x7F000000000001FF
L2E_STD_RESERVED = 0x3F000000000001FE

MIN_CLUSTER_BITS = 9
MAX_CLUSTER_BITS = 21
MAX_L1_BYTES = 32 << 20         # as QEMU: refuse absurd L1 tables
MAX_REFTABLE_BYTES = 8 << 20

# "Snapshots": fixed part of a snapshot table entry.
SNAPSHOT_ENTRY = struct.Struct(">QIHHIIQII")
SNAPSHOT_EXTRA = struct.Struct(">QQQ")   # vm_state_size_large, disk_size, icount


@dataclass
class Header:
    version: int = 3
    backing_file_offset: int = 0
    backing_file_size: int = 0
    cluster_bits: int = 16
    size: int = 0
    crypt_method: int = 0
    l1_size: int = 0
    l1_table_offset: int = 0
    refcount_table_offset: int = 0
    refcount_table_clusters: int = 0
    nb_snapshots: int = 0
    snapshots_offset: int = 0
    incompatible_features: int = 0
    compatible_features: int = 0
    autoclear_features: int = 0
    refcount_order: int = 4
    header_length: int = HEADER_V3_LENGTH_COMPRESSION
    compression_type: int = COMPRESSION_ZLIB
    # header extensions
    backing_format: str | None = None
    backing_file: str | None = None
    feature_names: dict = field(default_factory=dict)
    unknown_extensions: list = field(default_factory=list)

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    def pack_fixed(self) -> bytes:
        head = HEADER_V2.pack(MAGIC, self.version, self.backing_file_offset, self.backing_file_size,
                              self.cluster_bits, self.size, self.crypt_method, self.l1_size,
                              self.l1_table_offset, self.refcount_table_offset,
                              self.refcount_table_clusters, self.nb_snapshots, self.snapshots_offset)
        if self.version == 2:
            return head
        head += HEADER_V3_EXTRA.pack(self.incompatible_features, self.compatible_features,
                                     self.autoclear_features, self.refcount_order, self.header_length)
        if self.header_length > HEADER_V3_LENGTH:
            head += bytes([self.compression_type]) + bytes(self.header_length - HEADER_V3_LENGTH - 1)
        return head

    def pack_extensions(self, with_feature_table: bool = True) -> bytes:
        # The feature name table is optional: small clusters may not hold it.
        out = bytearray()

        def ext(kind: int, payload: bytes) -> None:
            out.extend(EXT_HEADER.pack(kind, len(payload)))
            out.extend(payload)
            out.extend(bytes(-len(payload) % 8))

        if self.backing_format:
            ext(EXT_BACKING_FORMAT, self.backing_format.encode())
        for kind, payload in self.unknown_extensions:
            ext(kind, payload)
        if self.version >= 3 and with_feature_table:
            ext(EXT_FEATURE_TABLE, b"".join(FEATURE_ENTRY.pack(t, b, n.encode()) for t, b, n in FEATURE_TABLE))
        out.extend(EXT_HEADER.pack(EXT_END, 0))
        return bytes(out)

    def pack_cluster0(self) -> bytes:
        """Header, extensions and backing file name, laid out as QEMU does."""
        fixed = self.pack_fixed()
        exts = self.pack_extensions()
        name_len = len(self.backing_file.encode()) if self.backing_file else 0
        if len(fixed) + len(exts) + name_len > self.cluster_size:
            exts = self.pack_extensions(with_feature_table=False)
        body = fixed + exts
        if self.backing_file:
            name = self.backing_file.encode()
            self.backing_file_offset = len(body)
            self.backing_file_size = len(name)
            fixed = self.pack_fixed()
            body = fixed + exts + name
        else:
            self.backing_file_offset = self.backing_file_size = 0
            body = self.pack_fixed() + exts
        return body


@dataclass
class Snapshot:
    l1_table_offset: int
    l1_size: int
    id_str: str
    name: str
    date_sec: int
    date_nsec: int
    vm_clock_nsec: int
    vm_state_size: int
    disk_size: int
    icount: int = -1
    extra: bytes = b""

    def pack(self) -> bytes:
        # Extra data this version does not know is kept as it was.
        extra = SNAPSHOT_EXTRA.pack(self.vm_state_size, self.disk_size, self.icount & (2**64 - 1)) + self.extra
        ident, name = self.id_str.encode(), self.name.encode()
        entry = SNAPSHOT_ENTRY.pack(self.l1_table_offset, self.l1_size, len(ident), len(name),
                                    self.date_sec, self.date_nsec, self.vm_clock_nsec,
                                    min(self.vm_state_size, 0xFFFFFFFF), len(extra)) + extra + ident + name
        return entry + bytes(-len(entry) % 8)
