"""Refcount table and blocks ("Host cluster management" in qcow2.rst),
with an in-memory cache of decoded blocks and the cluster allocator.

Every change is written through at once, and callers order their writes so
that refcounts rise before the L2/L1 entries that use new clusters are
written and fall only after the entries that used old clusters are gone:
a crash then leaves at worst leaked clusters.
"""
from __future__ import annotations

import sys
from array import array

from ..errors import ImageCorrupt, BlockError
from .format import OFF_REFCOUNT_TABLE, REFT_OFFSET_MASK

_TYPECODES = {8: "B", 16: "H", 32: "I", 64: "Q"}
_NATIVE_LITTLE = sys.byteorder == "little"


def decode_block(data: bytes, width: int):
    """Decode one refcount block into a mutable sequence of ints."""
    if width >= 8:
        arr = array(_TYPECODES[width], data)
        if _NATIVE_LITTLE and width > 8:
            arr.byteswap()
        return arr
    per, mask = 8 // width, (1 << width) - 1
    # Sub-byte entries are packed starting at the least significant bits.
    return array("B", [(byte >> (k * width)) & mask for byte in data for k in range(per)])


def encode_entries(block, width: int, first: int, last: int) -> tuple[int, bytes]:
    """Bytes covering entries [first, last) -> (byte offset in block, data)."""
    if width >= 8:
        part = block[first:last]
        if _NATIVE_LITTLE and width > 8:
            part = array(part.typecode, part)
            part.byteswap()
        return first * width // 8, part.tobytes()
    per = 8 // width
    start_byte, end_byte = first // per, (last + per - 1) // per
    out = bytearray(end_byte - start_byte)
    for i in range(start_byte * per, end_byte * per):
        out[i // per - start_byte] |= block[i] << ((i % per) * width)
    return start_byte, bytes(out)


class Refcounts:
    def __init__(self, image):
        self.image = image
        self.file = image.file
        self.cluster_bits = image.header.cluster_bits
        self.cluster_size = 1 << self.cluster_bits
        self.width = 1 << image.header.refcount_order
        self.max_refcount = (1 << self.width) - 1
        self.block_bits = self.cluster_bits + 3 - image.header.refcount_order
        self.block_entries = 1 << self.block_bits
        self.blocks: dict[int, object] = {}
        self.free_hint = 0
        self.load_table()

    # -- table ----------------------------------------------------------------
    def load_table(self) -> None:
        h = self.image.header
        nbytes = h.refcount_table_clusters * self.cluster_size
        data = self.file.pread(h.refcount_table_offset, nbytes)
        table = array("Q", data)
        if _NATIVE_LITTLE:
            table.byteswap()
        self.table = table
        self.blocks.clear()
        end = self.file.length
        for i, entry in enumerate(table):
            off = entry & REFT_OFFSET_MASK
            if off and (off & (self.cluster_size - 1) or off + self.cluster_size > end + self.cluster_size):
                raise ImageCorrupt(f"Refcount block offset {off:#x} of '{self.image.filename}' is invalid"
                                   f" (refcount table entry {i})")

    def capacity_clusters(self) -> int:
        return len(self.table) << self.block_bits

    def _block(self, index: int):
        """Decoded refcount block `index`, or None if not allocated."""
        if index >= len(self.table):
            return None
        off = self.table[index] & REFT_OFFSET_MASK
        if not off:
            return None
        block = self.blocks.get(index)
        if block is None:
            block = decode_block(self.file.pread(off, self.cluster_size), self.width)
            self.blocks[index] = block
        return block

    def get(self, cluster: int) -> int:
        block = self._block(cluster >> self.block_bits)
        return 0 if block is None else block[cluster & (self.block_entries - 1)]

    def _write_block_range(self, index: int, first: int, last: int) -> None:
        byte_off, data = encode_entries(self.blocks[index], self.width, first, last)
        self.file.pwrite((self.table[index] & REFT_OFFSET_MASK) + byte_off, data)

    # -- allocation -----------------------------------------------------------
    def find_free(self, count: int) -> int:
        """First run of `count` free clusters at or after the hint."""
        cluster = self.free_hint
        run = 0
        while run < count:
            if self.get(cluster + run):
                cluster += run + 1
                run = 0
            else:
                run += 1
        return cluster

    def _ensure_block(self, index: int):
        block = self._block(index)
        if block is not None:
            return block
        if index >= len(self.table):
            self._grow_table(index + 1)
            return self._ensure_block(index)
        free = self.find_free(1)
        free_index = free >> self.block_bits
        if free_index != index and self._block(free_index) is None:
            self._ensure_block(free_index)
            return self._ensure_block(index)
        block = decode_block(bytes(self.cluster_size), self.width)
        if free_index == index:
            # The new block describes itself.
            block[free & (self.block_entries - 1)] = 1
        else:
            self.update([(free, 1)], 1)
        self.file.pwrite(free << self.cluster_bits, encode_entries(block, self.width, 0, self.block_entries)[1])
        self.blocks[index] = block
        self.table[index] = free << self.cluster_bits
        self._write_table_entry(index)
        self.image.metadata_changed()
        return block

    def _write_table_entry(self, index: int) -> None:
        h = self.image.header
        self.file.pwrite(h.refcount_table_offset + 8 * index, self.table[index].to_bytes(8, "big"))

    def _grow_table(self, min_entries: int) -> None:
        """Move the refcount table to the end of the image, larger; the new
        table and any new refcount blocks describe themselves."""
        h = self.image.header
        entries_per_cluster = self.cluster_size // 8
        start = max(self.end_cluster(), 1)
        new_blocks: list[int] = []
        while True:
            entries = max(min_entries, len(self.table) * 2, max(new_blocks, default=0) + 1)
            table_clusters = -(-entries // entries_per_cluster)
            total = table_clusters + len(new_blocks)
            needed = sorted({c >> self.block_bits for c in range(start, start + total)
                             if self._block(c >> self.block_bits) is None})
            if needed == new_blocks and (max(needed, default=0) < table_clusters * entries_per_cluster):
                break
            new_blocks = needed
        if table_clusters * self.cluster_size > (64 << 20):
            raise BlockError(f"Refcount table of '{self.image.filename}' would be too large")
        table = array("Q", self.table) + array("Q", bytes(8 * (table_clusters * entries_per_cluster - len(self.table))))
        block_positions = {}
        for n, index in enumerate(new_blocks):
            pos = start + table_clusters + n
            block_positions[index] = pos
            table[index] = pos << self.cluster_bits
            self.blocks[index] = decode_block(bytes(self.cluster_size), self.width)
        old_table = self.table
        self.table = table
        # Refcounts of the new table and blocks, in old blocks or new ones.
        touched: dict[int, list[int]] = {}
        for c in range(start, start + table_clusters + len(new_blocks)):
            index = c >> self.block_bits
            self.blocks_get_or_load(index)[c & (self.block_entries - 1)] += 1
            touched.setdefault(index, []).append(c & (self.block_entries - 1))
        for index, pos in block_positions.items():
            self.file.pwrite(pos << self.cluster_bits,
                             encode_entries(self.blocks[index], self.width, 0, self.block_entries)[1])
        for index, offs in touched.items():
            if index not in block_positions:
                self._write_block_range(index, min(offs), max(offs) + 1)
        packed = array("Q", table)
        if _NATIVE_LITTLE:
            packed.byteswap()
        self.file.pwrite(start << self.cluster_bits, packed.tobytes())
        self.file.flush()
        old_offset, old_clusters = h.refcount_table_offset, h.refcount_table_clusters
        h.refcount_table_offset, h.refcount_table_clusters = start << self.cluster_bits, table_clusters
        self.file.pwrite(OFF_REFCOUNT_TABLE, h.refcount_table_offset.to_bytes(8, "big")
                         + table_clusters.to_bytes(4, "big"))
        self.file.flush()
        self.image.metadata_changed()
        del old_table
        first_old = old_offset >> self.cluster_bits
        self.update([(first_old, old_clusters)], -1)

    def blocks_get_or_load(self, index: int):
        block = self._block(index)
        assert block is not None
        return block

    def end_cluster(self) -> int:
        """One past the last cluster in use (by refcount or by file size)."""
        by_file = -(-self.file.length >> self.cluster_bits)
        last = 0
        for index in range(len(self.table) - 1, -1, -1):
            block = self._block(index)
            if block is None:
                continue
            for i in range(self.block_entries - 1, -1, -1):
                if block[i]:
                    last = (index << self.block_bits) + i + 1
                    break
            if last:
                break
        return max(by_file, last)

    def alloc(self, count: int) -> int:
        """Allocate `count` contiguous clusters with refcount 1; returns the
        first cluster's index. Refcounts are on disk when this returns."""
        while True:
            first = self.find_free(count)
            missing = [i for i in range(first >> self.block_bits, ((first + count - 1) >> self.block_bits) + 1)
                       if self._block(i) is None]
            if not missing:
                break
            self._ensure_block(missing[0])
        self.update([(first, count)], 1)
        self.free_hint = first + count
        return first

    def update(self, runs, delta: int) -> None:
        """Add `delta` to the refcount of each cluster in runs [(first, count)]."""
        dirty: dict[int, list[int]] = {}
        mask = self.block_entries - 1
        for first, count in runs:
            cluster = first
            end = first + count
            while cluster < end:
                index = cluster >> self.block_bits
                block = self._ensure_block(index) if delta > 0 else self._block(index)
                if block is None:
                    raise ImageCorrupt(f"Cluster {cluster:#x} of '{self.image.filename}' has no refcount block")
                stop = min(end, (index + 1) << self.block_bits)
                lo, hi = cluster & mask, ((stop - 1) & mask) + 1
                for i in range(lo, hi):
                    value = block[i] + delta
                    if value < 0:
                        raise ImageCorrupt(f"Refcount of cluster {(index << self.block_bits) + i:#x} of "
                                           f"'{self.image.filename}' would become negative")
                    if value > self.max_refcount:
                        raise BlockError(f"Refcount overflow on cluster {(index << self.block_bits) + i:#x} of "
                                         f"'{self.image.filename}'")
                    block[i] = value
                rng = dirty.setdefault(index, [lo, hi])
                rng[0], rng[1] = min(rng[0], lo), max(rng[1], hi)
                if delta < 0:
                    self.free_hint = min(self.free_hint, cluster)
                cluster = stop
        for index, (lo, hi) in dirty.items():
            self._write_block_range(index, lo, hi)

    def set(self, cluster: int, value: int) -> None:
        """Set one refcount (repair)."""
        index = cluster >> self.block_bits
        block = self._ensure_block(index)
        i = cluster & (self.block_entries - 1)
        block[i] = value
        self._write_block_range(index, i, i + 1)
        if value == 0:
            self.free_hint = min(self.free_hint, cluster)
