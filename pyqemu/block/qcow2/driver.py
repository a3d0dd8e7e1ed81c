"""The qcow2 format driver: header, L1/L2 mapping with an L2 cache,
copy-on-write, zero and compressed clusters, backing files."""
from __future__ import annotations

import os
import sys
from array import array
from collections import OrderedDict

from ..errors import BlockError, ImageCorrupt
from ..node import BlockNode, Extent, Status
from . import format as F
from .compress import compress, decompress
from .refcount import Refcounts

_NATIVE_LITTLE = sys.byteorder == "little"
L2_CACHE_TABLES = 64

# Kinds of guest clusters ("Cluster mapping").
UNALLOCATED, NORMAL, ZERO, COMPRESSED = range(4)


def _be_array(data) -> array:
    arr = array("Q", data)
    if _NATIVE_LITTLE:
        arr.byteswap()
    return arr


def _be_bytes(arr) -> bytes:
    out = array("Q", arr)
    if _NATIVE_LITTLE:
        out.byteswap()
    return out.tobytes()


def read_header(file: BlockNode, name: str) -> F.Header:
    raw = file.pread(0, 4096 if file.length >= 4096 else max(file.length, F.HEADER_V2_LENGTH))
    if len(raw) < F.HEADER_V2_LENGTH or raw[:4] != F.MAGIC:
        raise BlockError(f"Image is not in qcow2 format: '{name}'")
    (_, version, bf_off, bf_size, cluster_bits, size, crypt, l1_size, l1_off, rt_off, rt_clusters,
     nb_snap, snap_off) = F.HEADER_V2.unpack_from(raw)
    if version not in (2, 3):
        raise BlockError(f"Unsupported qcow2 version {version} in '{name}'")
    h = F.Header(version, bf_off, bf_size, cluster_bits, size, crypt, l1_size, l1_off, rt_off, rt_clusters,
                 nb_snap, snap_off)
    if not F.MIN_CLUSTER_BITS <= cluster_bits <= F.MAX_CLUSTER_BITS:
        raise ImageCorrupt(f"Unsupported cluster size: 2^{cluster_bits} in '{name}'")
    if version == 3:
        (h.incompatible_features, h.compatible_features, h.autoclear_features, h.refcount_order,
         h.header_length) = F.HEADER_V3_EXTRA.unpack_from(raw, F.HEADER_V2_LENGTH)
        if h.header_length < F.HEADER_V3_LENGTH or h.header_length > h.cluster_size:
            raise ImageCorrupt(f"qcow2 header length {h.header_length} invalid in '{name}'")
        if h.header_length > F.HEADER_V3_LENGTH:
            h.compression_type = raw[F.HEADER_V3_LENGTH]
    else:
        h.refcount_order, h.header_length = 4, F.HEADER_V2_LENGTH
        h.compression_type = F.COMPRESSION_ZLIB
    if h.refcount_order > 6:
        raise ImageCorrupt(f"Reference count entry width too large in '{name}'")
    if crypt:
        raise BlockError(f"Encrypted qcow2 images are not supported: '{name}'")
    cs = h.cluster_size
    file_len = file.length
    for what, off in (("L1 table", l1_off), ("refcount table", rt_off)):
        if off & (cs - 1) or off >= max(file_len, 1) + cs:
            raise ImageCorrupt(f"{what} offset {off:#x} invalid in '{name}'")
    if rt_off == 0 or rt_clusters == 0:
        raise ImageCorrupt(f"Image '{name}' has no refcount table")
    if rt_clusters * cs > F.MAX_REFTABLE_BYTES * 8:
        raise ImageCorrupt(f"Reference count table too large in '{name}'")
    if l1_size * 8 > F.MAX_L1_BYTES:
        raise ImageCorrupt(f"Active L1 table too large in '{name}'")
    if size >= 1 << 63:
        raise ImageCorrupt(f"Image size too large in '{name}'")
    entries_per_l2 = cs // 8
    if size > l1_size * entries_per_l2 * cs:
        raise ImageCorrupt(f"L1 table too small for the image size of '{name}'")
    # Header extensions (v3: after header_length; v2: after 72 bytes).
    pos = h.header_length
    ext_end = bf_off if bf_off else cs
    data = file.pread(0, min(cs, max(file_len, pos)))
    while pos + 8 <= min(len(data), ext_end):
        kind, length = F.EXT_HEADER.unpack_from(data, pos)
        pos += 8
        if kind == F.EXT_END:
            break
        if pos + length > len(data):
            raise ImageCorrupt(f"Header extension of '{name}' runs past the first cluster")
        payload = data[pos:pos + length]
        if kind == F.EXT_BACKING_FORMAT:
            h.backing_format = payload.decode(errors="replace")
        elif kind == F.EXT_FEATURE_TABLE:
            for i in range(0, length - length % 48, 48):
                t, b, n = F.FEATURE_ENTRY.unpack_from(payload, i)
                h.feature_names[(t, b)] = n.rstrip(b"\0").decode(errors="replace")
        elif kind == F.EXT_DATA_FILE:
            raise BlockError(f"External data files are not supported: '{name}'")
        else:
            h.unknown_extensions.append((kind, bytes(payload)))
        pos += (length + 7) & ~7
    if bf_off:
        if bf_size > 1023 or bf_off + bf_size > cs:
            raise ImageCorrupt(f"Backing file name too long in '{name}'")
        h.backing_file = file.pread(bf_off, bf_size).decode(errors="replace")
    unknown = h.incompatible_features & ~F.INCOMPAT_KNOWN
    if unknown:
        names = []
        for bit in range(64):
            if unknown >> bit & 1:
                names.append(h.feature_names.get((0, bit), f"Unknown incompatible feature: {1 << bit:x}"))
        raise BlockError(f"Unsupported qcow2 feature(s) in '{name}': {', '.join(names)}")
    if h.compression_type not in F.COMPRESSION_NAMES:
        raise BlockError(f"Unknown compression type {h.compression_type} in '{name}'")
    if h.compression_type != F.COMPRESSION_ZLIB and not h.incompatible_features & F.INCOMPAT_COMPRESSION:
        raise ImageCorrupt(f"Compression type set without the incompatible feature bit in '{name}'")
    return h


class Qcow2Node(BlockNode):
    driver = "qcow2"

    def __init__(self, file: BlockNode, node_name: str | None = None, read_only: bool = False):
        super().__init__(node_name, read_only)
        self.file = file
        # An inactive file (incoming migration) makes an inactive image: no
        # repair, no header update until activation.
        self.active = file.active
        self.l2_cache: OrderedDict[int, array] = OrderedDict()
        self._decompressed: tuple[int, bytes] | None = None
        self._compressed_cursor = 0          # byte offset where the next compressed cluster may go
        self._meta: set[int] | None = None  # clusters holding metadata (overlap check)
        self._load_metadata()

    # -- metadata ------------------------------------------------------------
    def _load_metadata(self) -> None:
        h = read_header(self.file, self.filename)
        self.header = h
        self.cluster_bits = h.cluster_bits
        self.cluster_size = h.cluster_size
        self.l2_bits = h.cluster_bits - 3
        self.l2_entries = 1 << self.l2_bits
        self.v3 = h.version >= 3
        self.l2_cache.clear()
        self._decompressed = None
        self._compressed_cursor = 0
        self._meta = None
        if h.incompatible_features & F.INCOMPAT_CORRUPT and not self.read_only:
            raise ImageCorrupt(f"qcow2: Image '{self.filename}' is corrupt; cannot be opened read/write")
        if h.incompatible_features & F.INCOMPAT_DIRTY and not self.read_only and self.active:
            # Lazy refcounts left stale refcounts: rebuild them before writing.
            self.l1 = _be_array(self.file.pread(h.l1_table_offset, 8 * h.l1_size) if h.l1_size else b"")
            self.refcounts = Refcounts(self)
            from .snapshot import read_snapshots
            self.snapshots = read_snapshots(self)
            from .check import check_image
            check_image(self, repair="all", quiet=True)
            h.incompatible_features &= ~F.INCOMPAT_DIRTY
            self.file.flush()
            self.file.pwrite(F.OFF_INCOMPATIBLE, h.incompatible_features.to_bytes(8, "big"))
            self.file.flush()
        l1 = self.file.pread(h.l1_table_offset, 8 * h.l1_size) if h.l1_size else b""
        self.l1 = _be_array(l1)
        flen = self.file.length
        for i, entry in enumerate(self.l1):
            off = entry & F.L1E_OFFSET_MASK
            if off and (off & (self.cluster_size - 1) or off >= flen):
                raise ImageCorrupt(f"L2 table offset {off:#x} of '{self.filename}' (L1 index {i}) is invalid")
        self.refcounts = Refcounts(self)
        from .snapshot import read_snapshots
        self.snapshots = read_snapshots(self)

    def _reload(self) -> None:
        self._load_metadata()

    def _drop_caches(self) -> None:
        self.l2_cache.clear()
        self._decompressed = None

    @property
    def length(self) -> int:
        return self.header.size

    def mark_corrupt(self, why: str) -> None:
        """An inconsistency was found: flag the image so nobody writes it again."""
        if not self.read_only and self.active:
            self.header.incompatible_features |= F.INCOMPAT_CORRUPT
            if self.v3:
                try:
                    self.file.pwrite(F.OFF_INCOMPATIBLE, self.header.incompatible_features.to_bytes(8, "big"))
                    self.file.flush()
                except BlockError:
                    pass
            self.read_only = True
        raise ImageCorrupt(f"qcow2: Marking image as corrupt: {why}; further corruption events will be suppressed"
                           f" ('{self.filename}')")

    # -- metadata overlap check ------------------------------------------------
    def metadata_changed(self) -> None:
        self._meta = None

    def _metadata_clusters(self) -> set[int]:
        if self._meta is None:
            h, cb = self.header, self.cluster_bits

            def span(offset: int, length: int):
                return range(offset >> cb, ((offset + max(length, 1) - 1) >> cb) + 1)

            meta = {0}
            meta.update(span(h.refcount_table_offset, h.refcount_table_clusters << cb))
            meta.update(span(h.l1_table_offset, 8 * h.l1_size))
            meta.update((e & F.REFT_OFFSET_MASK) >> cb for e in self.refcounts.table if e & F.REFT_OFFSET_MASK)
            meta.update((e & F.L1E_OFFSET_MASK) >> cb for e in self.l1 if e & F.L1E_OFFSET_MASK)
            if h.nb_snapshots:
                meta.update(span(h.snapshots_offset, sum(len(s.pack()) for s in self.snapshots)))
                for snap in self.snapshots:
                    meta.update(span(snap.l1_table_offset, 8 * snap.l1_size))
            self._meta = meta
        return self._meta

    def _check_overlap(self, host: int, length: int) -> None:
        """Refuse a data write that would land on metadata (a corrupt L2
        entry or refcount would otherwise make us destroy the image)."""
        meta = self._metadata_clusters()
        cb = self.cluster_bits
        for cluster in range(host >> cb, ((host + length - 1) >> cb) + 1):
            if cluster in meta:
                self.mark_corrupt(f"Preventing invalid write on metadata (cluster {cluster:#x}, "
                                  f"host offset {cluster << cb:#x})")

    # -- L2 tables -------------------------------------------------------------
    def _load_l2(self, offset: int) -> array:
        table = self.l2_cache.get(offset)
        if table is not None:
            self.l2_cache.move_to_end(offset)
            return table
        if offset + self.cluster_size > self.file.length:
            self.mark_corrupt(f"L2 table offset {offset:#x} points past the end of the file")
        table = _be_array(self.file.pread(offset, self.cluster_size))
        self.l2_cache[offset] = table
        if len(self.l2_cache) > L2_CACHE_TABLES:
            self.l2_cache.popitem(last=False)
        return table

    def _l2_for_read(self, l1_index: int) -> array | None:
        if l1_index >= len(self.l1):
            return None
        off = self.l1[l1_index] & F.L1E_OFFSET_MASK
        return self._load_l2(off) if off else None

    def _write_l1_entry(self, index: int) -> None:
        self.file.pwrite(self.header.l1_table_offset + 8 * index, self.l1[index].to_bytes(8, "big"))

    def _write_l2_entries(self, l2_offset: int, table: array, first: int, last: int) -> None:
        self.file.pwrite(l2_offset + 8 * first, _be_bytes(table[first:last]))

    def _l2_for_write(self, l1_index: int) -> tuple[int, array]:
        """The L2 table for l1_index, owned by the active image only (COW'd
        from a snapshot or freshly allocated as needed)."""
        if l1_index >= len(self.l1):
            raise BlockError(f"Offset beyond the L1 table of '{self.filename}'")
        entry = self.l1[l1_index]
        old = entry & F.L1E_OFFSET_MASK
        if old and entry & F.OFLAG_COPIED:
            return old, self._load_l2(old)
        new = self.refcounts.alloc(1) << self.cluster_bits
        if old:
            table = array("Q", self._load_l2(old))
        else:
            table = array("Q", bytes(self.cluster_size))
        # New table's contents on disk before the L1 entry points at it.
        self.file.pwrite(new, _be_bytes(table))
        self.l1[l1_index] = new | F.OFLAG_COPIED
        self._write_l1_entry(l1_index)
        self._meta = None
        if old:
            self.l2_cache.pop(old, None)
            self.refcounts.update([(old >> self.cluster_bits, 1)], -1)
        self.l2_cache[new] = table
        return new, table

    # -- cluster classification ------------------------------------------------
    def _kind(self, entry: int) -> int:
        if entry & F.OFLAG_COMPRESSED:
            return COMPRESSED
        if self.v3 and entry & F.OFLAG_ZERO:
            return ZERO
        return NORMAL if entry & F.L2E_OFFSET_MASK else UNALLOCATED

    def _compressed_location(self, entry: int) -> tuple[int, int]:
        """(host offset, bytes to read) of a compressed cluster descriptor."""
        x = 62 - (self.cluster_bits - 8)
        offset = entry & ((1 << x) - 1)
        sectors = ((entry & ((1 << 62) - 1)) >> x) + 1
        return offset, sectors * 512 - (offset & 511)

    def _compressed_host_clusters(self, entry: int) -> tuple[int, int]:
        offset, length = self._compressed_location(entry)
        first = offset >> self.cluster_bits
        last = (offset + length - 1) >> self.cluster_bits
        return first, last - first + 1

    def _read_compressed(self, entry: int) -> bytes:
        if self._decompressed and self._decompressed[0] == entry:
            return self._decompressed[1]
        offset, length = self._compressed_location(entry)
        flen = self.file.length
        if offset >= flen:
            self.mark_corrupt(f"Compressed cluster at {offset:#x} points past the end of the file")
        data = self.file.pread(offset, min(length, flen - offset))
        out = decompress(data, self.cluster_size, self.header.compression_type, f"'{self.filename}'")
        self._decompressed = (entry, out)
        return out

    # -- the VM-state area (qcow2.rst "Snapshots": vm_state_size) ------------
    # savevm stores the machine state in the image's own address space, past
    # the guest-visible end, from the first L1 entry the disk does not use.
    # While `_vmstate_end` is set (a snapshot being saved or loaded, the
    # machine stopped), reads and writes may reach that far.
    _vmstate_end = 0

    def _io_end(self) -> int:
        return self._vmstate_end or self.header.size

    def vm_state_offset(self) -> int:
        return self.l1_entries_for(self.header.size) << (self.cluster_bits + self.l2_bits)

    def write_vm_state(self, data: bytes) -> None:
        """Write `data` at the start of the VM-state area (whole clusters)."""
        start = self.vm_state_offset()
        padded = bytes(data) + bytes(-len(data) % self.cluster_size)
        self.grow_l1(self.l1_entries_for(start + len(padded)))
        self._vmstate_end = start + len(padded)
        try:
            self.pwrite(start, padded)
        finally:
            self._vmstate_end = 0
        self.flush()

    def read_vm_state(self, length: int) -> bytes:
        start = self.vm_state_offset()
        self._vmstate_end = start + length
        try:
            return self.pread(start, length)
        finally:
            self._vmstate_end = 0

    def discard_vm_state(self, length: int) -> None:
        """Drop the active image's references to a VM-state area that a
        snapshot now holds (its clusters stay, owned by the snapshot)."""
        start = self.vm_state_offset()
        end = start + length + (-length % self.cluster_size)
        if self.l1_entries_for(end) > len(self.l1):
            return
        self._vmstate_end = end
        try:
            self._set_cluster_entries(start, end, 0)
        finally:
            self._vmstate_end = 0

    # -- reads ---------------------------------------------------------------
    def pread(self, offset: int, length: int) -> bytes:
        buf = bytearray(length)
        self.preadv_into(offset, buf)
        return bytes(buf)

    def preadv_into(self, offset: int, buffer) -> None:
        view = memoryview(buffer).cast("B")
        length = len(view)
        if offset < 0 or offset + length > self._io_end():
            raise BlockError(f"Request out of range ({offset}+{length} > {self.header.size}) on '{self.filename}'")
        cb, cs = self.cluster_bits, self.cluster_size
        table_shift = cb + self.l2_bits
        pos = 0
        while pos < length:
            guest = offset + pos
            l1_index = guest >> table_shift
            table = self._l2_for_read(l1_index)
            chunk_end = min(offset + length, (l1_index + 1) << table_shift)
            if table is None:
                self._read_unallocated(guest, view[pos:pos + chunk_end - guest])
                pos += chunk_end - guest
                continue
            # Walk the clusters of this table, merging runs of one kind.
            while guest < chunk_end:
                index = (guest >> cb) & (self.l2_entries - 1)
                entry = table[index]
                kind = self._kind(entry)
                host = entry & F.L2E_OFFSET_MASK
                run_end = min(chunk_end, ((guest >> cb) + 1) << cb)
                if kind in (NORMAL, UNALLOCATED, ZERO):
                    next_host = host + cs
                    while run_end < chunk_end:
                        index += 1
                        e = table[index]
                        k = self._kind(e)
                        if k != kind or (kind == NORMAL and e & F.L2E_OFFSET_MASK != next_host):
                            break
                        next_host += cs
                        run_end = min(chunk_end, run_end + cs)
                n = run_end - guest
                dst = view[guest - offset:guest - offset + n]
                if kind == NORMAL:
                    start = host + (guest & (cs - 1))
                    if start + n > self.file.length + cs:
                        self.mark_corrupt(f"Data cluster at {host:#x} points past the end of the file")
                    self.file.preadv_into(start, dst)
                elif kind == UNALLOCATED:
                    self._read_unallocated(guest, dst)
                elif kind == ZERO:
                    dst[:] = bytes(n)
                else:
                    within = guest & (cs - 1)
                    dst[:] = self._read_compressed(entry)[within:within + n]
                guest = run_end
            pos = chunk_end - offset

    def _read_unallocated(self, guest: int, dst: memoryview) -> None:
        n = len(dst)
        backing = self.backing
        if backing is None:
            dst[:] = bytes(n)
            return
        blen = backing.length
        inside = max(0, min(n, blen - guest))
        if inside:
            backing.preadv_into(guest, dst[:inside])
        if inside < n:
            dst[inside:] = bytes(n - inside)

    def _guest_cluster_content(self, guest_cluster: int, entry: int) -> bytearray:
        """Current guest content of one cluster (for copy-on-write)."""
        cs = self.cluster_size
        guest = guest_cluster << self.cluster_bits
        buf = bytearray(cs)
        n = max(0, min(cs, self._io_end() - guest))
        kind = self._kind(entry)
        if kind == NORMAL:
            self.file.preadv_into(entry & F.L2E_OFFSET_MASK, memoryview(buf)[:n])
        elif kind == COMPRESSED:
            buf[:] = self._read_compressed(entry)
        elif kind == UNALLOCATED:
            self._read_unallocated(guest, memoryview(buf)[:n])
        return buf

    # -- writes ----------------------------------------------------------------
    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._io_end():
            raise BlockError(f"Request out of range ({offset}+{length} > {self.header.size}) on '{self.filename}'")

    def _owned(self, entry: int) -> bool:
        return self._kind(entry) == NORMAL and bool(entry & F.OFLAG_COPIED)

    def pwrite(self, offset: int, data) -> None:
        self.check_writable()
        view = memoryview(data).cast("B")
        self._check_range(offset, len(view))
        cb, cs = self.cluster_bits, self.cluster_size
        table_shift = cb + self.l2_bits
        end = offset + len(view)
        guest = offset
        while guest < end:
            l1_index = guest >> table_shift
            chunk_end = min(end, (l1_index + 1) << table_shift)
            l2_offset, table = self._l2_for_write(l1_index)
            while guest < chunk_end:
                index = (guest >> cb) & (self.l2_entries - 1)
                owned = self._owned(table[index])
                run_end = min(chunk_end, ((guest >> cb) + 1) << cb)
                # Extend the run over clusters of the same treatment.
                if owned:
                    next_host = (table[index] & F.L2E_OFFSET_MASK) + cs
                    i = index + 1
                    while run_end < chunk_end and self._owned(table[i]) and \
                            table[i] & F.L2E_OFFSET_MASK == next_host:
                        next_host += cs
                        run_end = min(chunk_end, run_end + cs)
                        i += 1
                    host = (table[index] & F.L2E_OFFSET_MASK) + (guest & (cs - 1))
                    self._check_overlap(host, run_end - guest)
                    self.file.pwrite(host, view[guest - offset:run_end - offset])
                else:
                    i = index + 1
                    while run_end < chunk_end and not self._owned(table[i]):
                        run_end = min(chunk_end, run_end + cs)
                        i += 1
                    self._write_new_clusters(l2_offset, table, guest, view[guest - offset:run_end - offset])
                guest = run_end

    def pwrite_runs(self, offset: int, view: memoryview, runs) -> None:
        """Write the (start, end) runs of `view` (the rest is left alone).
        Runs of whole clusters that are not allocated yet (a fresh convert
        target) are written per L2 table with one allocation, one gathered
        data write and one L2 write; anything else takes the pwrite path."""
        self.check_writable()
        cb, cs = self.cluster_bits, self.cluster_size
        table_shift = cb + self.l2_bits
        size = self.header.size
        groups: dict[int, list] = {}
        for start, end in runs:
            guest, guest_end = offset + start, offset + end
            if guest % cs or (guest_end % cs and guest_end != size):
                self.pwrite(guest, view[start:end])
                continue
            while guest < guest_end:     # split at L2 table boundaries
                piece_end = min(guest_end, ((guest >> table_shift) + 1) << table_shift)
                groups.setdefault(guest >> table_shift, []).append((guest, piece_end))
                guest = piece_end
        for l1_index, pieces in groups.items():
            table = self._l2_for_read(l1_index)
            fresh = True
            if table is not None:
                mask = self.l2_entries - 1
                for guest, guest_end in pieces:
                    for c in range(guest >> cb, (guest_end + cs - 1) >> cb):
                        entry = table[c & mask]
                        if entry & (F.L2E_OFFSET_MASK | F.OFLAG_COMPRESSED):
                            fresh = False
                            break
                    if not fresh:
                        break
            if not fresh:
                for guest, guest_end in pieces:
                    self.pwrite(guest, view[guest - offset:guest_end - offset])
                continue
            l2_offset, table = self._l2_for_write(l1_index)
            count = sum(((e + cs - 1) >> cb) - (g >> cb) for g, e in pieces)
            host = self.refcounts.alloc(count) << cb
            self._check_overlap(host, count * cs)
            buffers = []
            next_host = host
            first_index = last_index = None
            for guest, guest_end in pieces:
                buffers.append(view[guest - offset:guest_end - offset])
                if guest_end % cs:
                    buffers.append(bytes(cs - guest_end % cs))
                for c in range(guest >> cb, (guest_end + cs - 1) >> cb):
                    index = c & (self.l2_entries - 1)
                    table[index] = next_host | F.OFLAG_COPIED
                    next_host += cs
                    first_index = index if first_index is None else first_index
                    last_index = index
            self.file.pwritev(host, buffers)
            self._write_l2_entries(l2_offset, table, first_index, last_index + 1)

    def _write_new_clusters(self, l2_offset: int, table: array, guest: int, data: memoryview) -> None:
        """Write `data` at `guest` into freshly allocated clusters: refcounts,
        then data, then L2 entries, then release of the old clusters."""
        cb, cs = self.cluster_bits, self.cluster_size
        first_cluster = guest >> cb
        last_cluster = (guest + len(data) - 1) >> cb
        count = last_cluster - first_cluster + 1
        first_index = first_cluster & (self.l2_entries - 1)
        old_entries = [table[first_index + k] for k in range(count)]
        host = self.refcounts.alloc(count) << cb
        self._check_overlap(host, count * cs)
        head = guest & (cs - 1)
        tail_end = (guest + len(data)) - (last_cluster << cb)
        if head == 0 and (tail_end == cs or (last_cluster << cb) + tail_end >= self.header.size):
            self.file.pwrite(host, data)
            if tail_end != cs:
                # Last cluster of an image whose size is not cluster aligned.
                self.file.pwrite(host + (count - 1) * cs + tail_end, bytes(cs - tail_end))
        else:
            first_buf = self._guest_cluster_content(first_cluster, old_entries[0])
            if count == 1:
                first_buf[head:head + len(data)] = data
                self.file.pwrite(host, first_buf)
            else:
                first_buf[head:] = data[:cs - head]
                last_buf = self._guest_cluster_content(last_cluster, old_entries[-1])
                last_buf[:tail_end] = data[len(data) - tail_end:]
                self.file.pwrite(host, first_buf)
                if count > 2:
                    self.file.pwrite(host + cs, data[cs - head:len(data) - tail_end])
                self.file.pwrite(host + (count - 1) * cs, last_buf)
        for k in range(count):
            table[first_index + k] = (host + k * cs) | F.OFLAG_COPIED
        self._write_l2_entries(l2_offset, table, first_index, first_index + count)
        self._release_entries(old_entries)

    def _release_entries(self, entries) -> None:
        """Drop one reference to each host cluster the old entries used."""
        runs = []
        for entry in entries:
            kind = self._kind(entry)
            if kind == COMPRESSED:
                runs.append(self._compressed_host_clusters(entry))
            elif entry & F.L2E_OFFSET_MASK and kind in (NORMAL, ZERO):
                runs.append(((entry & F.L2E_OFFSET_MASK) >> self.cluster_bits, 1))
        if runs:
            self.refcounts.update(runs, -1)
            cursor = self._compressed_cursor
            if cursor and self.refcounts.get(cursor >> self.cluster_bits) == 0:
                # Its cluster was freed and may be reused for anything: start afresh.
                self._compressed_cursor = 0

    def write_compressed(self, offset: int, data) -> None:
        """Write one whole cluster compressed (qemu-img convert -c); stored
        plainly if it does not shrink, as QEMU does."""
        self.check_writable()
        cs = self.cluster_size
        if offset & (cs - 1) or (len(data) != cs and offset + len(data) != self.header.size):
            raise BlockError(f"Compressed writes must cover a whole cluster ('{self.filename}')")
        if len(data) < cs:
            data = bytes(data) + bytes(cs - len(data))
        packed = compress(bytes(data), self.header.compression_type)
        if len(packed) >= cs - 512:
            self.pwrite(offset, data[:min(cs, self.header.size - offset)])
            return
        self._store_compressed(offset, packed)

    def _store_compressed(self, offset: int, packed: bytes) -> None:
        cb, cs = self.cluster_bits, self.cluster_size
        l1_index = offset >> (cb + self.l2_bits)
        l2_offset, table = self._l2_for_write(l1_index)
        index = (offset >> cb) & (self.l2_entries - 1)
        old = table[index]
        cursor = self._compressed_cursor
        if cursor and (cursor & (cs - 1)) and (cursor & (cs - 1)) + len(packed) <= cs \
                and 1 <= self.refcounts.get(cursor >> cb) < self.refcounts.max_refcount:
            host = cursor
            self.refcounts.update([(host >> cb, 1)], 1)
        else:
            host = self.refcounts.alloc(1) << cb
        self.file.pwrite(host, packed)
        # Compressed data starts anywhere in a sector; the next one follows it.
        self._compressed_cursor = host + len(packed)
        x = 62 - (cb - 8)
        extra_sectors = ((host + len(packed) - 1) >> 9) - (host >> 9)
        table[index] = F.OFLAG_COMPRESSED | (extra_sectors << x) | host
        self._write_l2_entries(l2_offset, table, index, index + 1)
        self._release_entries([old])

    def write_zeroes(self, offset: int, length: int, may_unmap: bool = False) -> None:
        self.check_writable()
        self._check_range(offset, length)
        cs = self.cluster_size
        end = offset + length
        first_full = (offset + cs - 1) & ~(cs - 1)
        last_full = end & ~(cs - 1)
        if end == self.header.size:
            last_full = (end + cs - 1) & ~(cs - 1)
        if first_full >= last_full or (not self.v3 and self.backing is not None):
            self._write_zero_data(offset, length)
            return
        if offset < first_full:
            self._write_zero_data(offset, first_full - offset)
        self._set_cluster_entries(first_full, min(last_full, self.header.size),
                                  F.OFLAG_ZERO if self.v3 else 0)
        if last_full < end:
            self._write_zero_data(last_full, end - last_full)

    def _write_zero_data(self, offset: int, length: int) -> None:
        step = 1 << 20
        for pos in range(offset, offset + length, step):
            self.pwrite(pos, bytes(min(step, offset + length - pos)))

    def discard(self, offset: int, length: int) -> None:
        self.check_writable()
        self._check_range(offset, length)
        cs = self.cluster_size
        first = (offset + cs - 1) & ~(cs - 1)
        last = (offset + length) & ~(cs - 1)
        if offset + length == self.header.size:
            last = offset + length
        if first < last:
            value = F.OFLAG_ZERO if (self.backing is not None and self.v3) else 0
            self._set_cluster_entries(first, last, value)

    def _set_cluster_entries(self, start: int, end: int, value: int) -> None:
        """Point whole clusters [start, end) at `value` (0 or the zero flag)."""
        cb = self.cluster_bits
        table_shift = cb + self.l2_bits
        guest = start
        while guest < end:
            l1_index = guest >> table_shift
            chunk_end = min(end, (l1_index + 1) << table_shift)
            if value == 0 and self._l2_for_read(l1_index) is None:
                guest = chunk_end
                continue
            l2_offset, table = self._l2_for_write(l1_index)
            first = (guest >> cb) & (self.l2_entries - 1)
            count = ((chunk_end - guest) + (1 << cb) - 1) >> cb
            old = [table[first + k] for k in range(count)]
            for k in range(count):
                table[first + k] = value
            self._write_l2_entries(l2_offset, table, first, first + count)
            self._release_entries(old)
            guest = chunk_end

    # -- status --------------------------------------------------------------
    def block_status(self, offset: int, length: int) -> Extent:
        """Status of this layer only: unallocated ranges come back without
        Status.ALLOCATED so that the caller may ask the backing node."""
        cb, cs = self.cluster_bits, self.cluster_size
        length = min(length, self.header.size - offset)
        table_shift = cb + self.l2_bits
        l1_index = offset >> table_shift
        chunk_end = min(offset + length, (l1_index + 1) << table_shift)
        table = self._l2_for_read(l1_index)
        if table is None:
            return Extent(0, chunk_end - offset)
        index = (offset >> cb) & (self.l2_entries - 1)
        entry = table[index]
        kind = self._kind(entry)
        host = entry & F.L2E_OFFSET_MASK
        run_end = min(chunk_end, ((offset >> cb) + 1) << cb)
        next_host = host + cs
        while run_end < chunk_end:
            index += 1
            e = table[index]
            if self._kind(e) != kind or (kind == NORMAL and e & F.L2E_OFFSET_MASK != next_host):
                break
            next_host += cs
            run_end = min(chunk_end, run_end + cs)
        n = run_end - offset
        if kind == NORMAL:
            return Extent(Status.DATA | Status.ALLOCATED | Status.OFFSET_VALID, n,
                          host + (offset & (cs - 1)), self.file)
        if kind == ZERO:
            return Extent(Status.ZERO | Status.ALLOCATED, n)
        if kind == COMPRESSED:
            return Extent(Status.DATA | Status.ALLOCATED, n)
        return Extent(0, n)

    # -- resize ----------------------------------------------------------------
    def truncate(self, size: int, shrink: bool = False, prealloc: str = "off") -> None:
        self.check_writable()
        h = self.header
        if self.snapshots and size < h.size:
            raise BlockError(f"Can't resize an image which has snapshots: '{self.filename}'")
        if size < h.size:
            if not shrink:
                raise BlockError("Use the --shrink option to perform a shrink operation.")
            self._set_cluster_entries(size & ~(self.cluster_size - 1) if size % self.cluster_size == 0
                                      else ((size + self.cluster_size - 1) & ~(self.cluster_size - 1)),
                                      (h.size + self.cluster_size - 1) & ~(self.cluster_size - 1), 0)
            if size % self.cluster_size:
                tail = size
                end = min(h.size, (size + self.cluster_size - 1) & ~(self.cluster_size - 1))
                self.write_zeroes(tail, end - tail)
        else:
            self.grow_l1(self.l1_entries_for(size))
        old_size = h.size
        h.size = size
        self.file.pwrite(F.OFF_SIZE, size.to_bytes(8, "big"))
        self.file.flush()
        if prealloc != "off" and size > old_size:
            self.preallocate(old_size, size, prealloc)

    def preallocate(self, start: int, end: int, mode: str) -> None:
        """Give every unallocated cluster of [start, end) a host cluster
        (metadata), reserved (falloc) or written with zeroes (full)."""
        if mode not in ("metadata", "falloc", "full"):
            raise BlockError(f"Unsupported preallocation mode '{mode}'")
        cb, cs = self.cluster_bits, self.cluster_size
        first, last = start >> cb, (end + cs - 1) >> cb
        cluster = first
        while cluster < last:
            l1_index = cluster >> self.l2_bits
            table_end = min(last, (l1_index + 1) << self.l2_bits)
            l2_offset, table = self._l2_for_write(l1_index)
            mask = self.l2_entries - 1
            todo = [c for c in range(cluster, table_end) if not table[c & mask] & F.L2E_OFFSET_MASK
                    and not table[c & mask] & F.OFLAG_COMPRESSED]
            if todo:
                host = self.refcounts.alloc(len(todo)) << cb
                self._check_overlap(host, len(todo) * cs)
                stop = host + len(todo) * cs
                if mode == "full":
                    for pos in range(host, stop, 1 << 20):
                        self.file.pwrite(pos, bytes(min(1 << 20, stop - pos)))
                elif mode == "falloc":
                    os.posix_fallocate(self.file.fd, host, stop - host)
                elif self.file.length < stop:
                    os.ftruncate(self.file.fd, stop)
                old = [table[c & mask] for c in todo]
                for k, c in enumerate(todo):
                    # A zero flag stays: preallocated clusters still read as zeroes.
                    table[c & mask] = (host + k * cs) | F.OFLAG_COPIED | (table[c & mask] & F.OFLAG_ZERO)
                self._write_l2_entries(l2_offset, table, todo[0] & mask, (todo[-1] & mask) + 1)
            cluster = table_end
        self.file.flush()

    def l1_entries_for(self, size: int) -> int:
        span = self.cluster_size * self.l2_entries
        return (size + span - 1) // span

    def grow_l1(self, entries: int) -> None:
        h = self.header
        if entries <= h.l1_size:
            return
        if entries * 8 > F.MAX_L1_BYTES:
            raise BlockError(f"Image size too large for '{self.filename}'")
        clusters = (entries * 8 + self.cluster_size - 1) >> self.cluster_bits
        new = self.refcounts.alloc(clusters) << self.cluster_bits
        table = array("Q", self.l1) + array("Q", bytes(8 * (entries - len(self.l1))))
        self.file.pwrite(new, _be_bytes(table) + bytes((clusters << self.cluster_bits) - 8 * entries))
        self.file.flush()
        old_off, old_size = h.l1_table_offset, h.l1_size
        h.l1_table_offset, h.l1_size = new, entries
        self.file.pwrite(F.OFF_L1, entries.to_bytes(4, "big") + new.to_bytes(8, "big"))
        self.file.flush()
        self.l1 = table
        self._meta = None
        if old_size:
            self.refcounts.update([(old_off >> self.cluster_bits,
                                    (old_size * 8 + self.cluster_size - 1) >> self.cluster_bits)], -1)

    # -- header updates ------------------------------------------------------
    def rewrite_header(self) -> None:
        """Rewrite cluster 0's header, extensions and backing name in place."""
        body = self.header.pack_cluster0()
        if len(body) > self.cluster_size:
            raise BlockError(f"Header extensions do not fit in the first cluster of '{self.filename}'")
        self.file.pwrite(0, body)
        self.file.flush()

    def flush(self) -> None:
        if self.active and not self.read_only:
            self.file.flush()
