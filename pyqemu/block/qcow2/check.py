"""Consistency check and repair: rebuild the expected refcount of every
cluster from the metadata and compare it with the stored refcounts."""
from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass, field

from ..errors import BlockError, ImageCorrupt
from . import format as F


@dataclass
class CheckResult:
    corruptions: int = 0
    leaks: int = 0
    check_errors: int = 0
    corruptions_fixed: int = 0
    leaks_fixed: int = 0
    image_end_offset: int = 0
    total_clusters: int = 0
    allocated_clusters: int = 0
    fragmented_clusters: int = 0
    compressed_clusters: int = 0
    messages: list = field(default_factory=list)


def _say(result: CheckResult, quiet: bool, text: str) -> None:
    result.messages.append(text)
    if not quiet:
        print(text, file=sys.stderr)


def _walk(image, result: CheckResult, quiet: bool, fix_copied: bool):
    """Expected refcounts {cluster: count}, and COPIED flag problems."""
    from .driver import COMPRESSED, NORMAL, ZERO, _be_array, _be_bytes
    h = image.header
    cb, cs = image.cluster_bits, image.cluster_size
    file_len = image.file.length
    nb_clusters = -(-file_len // cs)
    expected = array("Q", bytes(8 * (nb_clusters + 1)))

    def ref(offset: int, length: int, what: str) -> bool:
        first = offset >> cb
        last = (offset + length - 1) >> cb
        if last >= nb_clusters:
            _say(result, quiet, f"ERROR: counting reference for region exceeding the end of the file by one "
                                f"cluster or more: offset {offset:#x} size {length:#x}")
            result.corruptions += 1
            return False
        for c in range(first, last + 1):
            expected[c] += 1
        return True

    ref(0, cs, "header")
    ref(h.refcount_table_offset, h.refcount_table_clusters * cs, "refcount table")
    if h.nb_snapshots:
        size = sum(len(s.pack()) for s in image.snapshots)
        ref(h.snapshots_offset, max(size, 1), "snapshot table")

    guest_clusters_seen = set()
    last_host = [None]

    def walk_l1(l1, l1_offset: int, l1_size: int, active: bool) -> None:
        if l1_size:
            ref(l1_offset, l1_size * 8, "L1 table")
        for i, l1e in enumerate(l1):
            l2_off = l1e & F.L1E_OFFSET_MASK
            if not l2_off:
                continue
            if l2_off & (cs - 1):
                _say(result, quiet, f"ERROR l2_offset={l2_off:x}: Table is not cluster aligned; L1 entry corrupted")
                result.corruptions += 1
                continue
            if not ref(l2_off, cs, "L2 table"):
                continue
            table = _be_array(image.file.pread(l2_off, cs))
            # Fragmentation is counted within each L2 table, as qemu-img does.
            last_host[0] = None
            for entry in table:
                if not entry:
                    continue
                if active and entry & F.OFLAG_COPIED and not entry & (F.OFLAG_COMPRESSED | 0x1FF):
                    # Fast path for the common case: a plain, owned data cluster.
                    off = entry & F.L2E_OFFSET_MASK
                    c = off >> cb
                    if c < nb_clusters:
                        expected[c] += 1
                        result.allocated_clusters += 1
                        if last_host[0] is not None and off != last_host[0] + cs:
                            result.fragmented_clusters += 1
                        last_host[0] = off
                        continue
                kind = image._kind(entry)
                if kind == COMPRESSED:
                    host, length = image._compressed_location(entry)
                    if entry & F.OFLAG_COPIED:
                        _say(result, quiet, f"ERROR: coffset={host:#x}: copied flag must never be set for "
                                            "compressed clusters")
                        result.corruptions += 1
                    ref(host, length, "compressed cluster")
                    if active:
                        # Compressed clusters are fragmented by nature.
                        result.compressed_clusters += 1
                        result.allocated_clusters += 1
                        result.fragmented_clusters += 1
                    continue
                off = entry & F.L2E_OFFSET_MASK
                if kind in (NORMAL, ZERO) and off:
                    if off & (cs - 1):
                        _say(result, quiet, f"ERROR offset={off:x}: Cluster is not properly aligned; L2 entry corrupted.")
                        result.corruptions += 1
                        continue
                    if not ref(off, cs, "data cluster"):
                        continue
                    if active and kind == NORMAL:
                        result.allocated_clusters += 1
                        if last_host[0] is not None and off != last_host[0] + cs:
                            result.fragmented_clusters += 1
                        last_host[0] = off

    walk_l1(image.l1, h.l1_table_offset, h.l1_size, True)
    from .snapshot import _read_l1
    for snap in image.snapshots:
        if snap.l1_size:
            walk_l1(_read_l1(image, snap.l1_table_offset, snap.l1_size), snap.l1_table_offset, snap.l1_size, False)
    rc = image.refcounts
    for i, entry in enumerate(rc.table):
        off = entry & F.REFT_OFFSET_MASK
        if off:
            ref(off, cs, "refcount block")
    return expected, nb_clusters


def _check_copied(image, result: CheckResult, quiet: bool, repair: bool) -> None:
    from .driver import NORMAL, ZERO, _be_array, _be_bytes
    cb, cs = image.cluster_bits, image.cluster_size
    rc = image.refcounts
    for i, l1e in enumerate(image.l1):
        l2_off = l1e & F.L1E_OFFSET_MASK
        if not l2_off or l2_off + cs > image.file.length:
            continue
        want = rc.get(l2_off >> cb) == 1
        if bool(l1e & F.OFLAG_COPIED) != want:
            _say(result, quiet, f"{'Repairing' if repair else 'ERROR'} OFLAG_COPIED L2 cluster: l1_index={i} "
                                f"l1_entry={l1e:x} refcount={rc.get(l2_off >> cb)}")
            if repair:
                image.l1[i] = l1e | F.OFLAG_COPIED if want else l1e & ~F.OFLAG_COPIED
                image._write_l1_entry(i)
                result.corruptions_fixed += 1
            else:
                result.corruptions += 1
        table = _be_array(image.file.pread(l2_off, cs))
        changed = False
        block_bits, block_mask = rc.block_bits, rc.block_entries - 1
        for j, entry in enumerate(table):
            if not entry & F.L2E_OFFSET_MASK or entry & F.OFLAG_COMPRESSED:
                continue
            if image._kind(entry) in (NORMAL, ZERO):
                cluster = (entry & F.L2E_OFFSET_MASK) >> cb
                block = rc._block(cluster >> block_bits)
                count = 0 if block is None else block[cluster & block_mask]
                want = count == 1
                if bool(entry & F.OFLAG_COPIED) != want:
                    _say(result, quiet, f"{'Repairing' if repair else 'ERROR'} OFLAG_COPIED data cluster: "
                                        f"l2_entry={entry:x} refcount={count}")
                    if repair:
                        table[j] = entry | F.OFLAG_COPIED if want else entry & ~F.OFLAG_COPIED
                        changed = True
                        result.corruptions_fixed += 1
                    else:
                        result.corruptions += 1
        if changed:
            image.file.pwrite(l2_off, _be_bytes(table))
    image.l2_cache.clear()


def _mismatching_clusters(rc, expected, limit: int):
    """Clusters below `limit` whose stored refcount differs from `expected`;
    whole refcount blocks are compared at C speed first."""
    per = rc.block_entries
    for index in range((limit + per - 1) // per):
        first = index * per
        last = min(limit, first + per)
        block = rc._block(index)
        want = expected[first:last]
        if block is None:
            if any(want):
                yield from (first + i for i, v in enumerate(want) if v)
            continue
        have = block[:last - first]
        try:
            same = have == array(have.typecode, want)
        except OverflowError:
            same = False
        if not same:
            yield from (first + i for i in range(last - first) if have[i] != want[i])


def check_image(image, repair: str | None = None, quiet: bool = False) -> CheckResult:
    """repair: None, 'leaks' or 'all' (qemu-img check -r)."""
    if repair and (image.read_only or not image.active):
        raise BlockError(f"Cannot repair read-only image '{image.filename}'")
    result = CheckResult()
    h = image.header
    cs = image.cluster_size
    result.total_clusters = -(-h.size // cs)
    expected, nb_clusters = _walk(image, result, quiet, False)
    rc = image.refcounts
    # Refcounts past the end of the file are not checked (as QEMU does).
    limit = nb_clusters
    for c in _mismatching_clusters(rc, expected, limit):
        stored = rc.get(c)
        want = expected[c]
        fix = repair == "all" or (repair == "leaks" and stored > want)
        label = "Repairing" if fix else ("ERROR" if stored < want else "Leaked")
        _say(result, quiet, f"{label} cluster {c} refcount={stored} reference={want}")
        if fix:
            if want > rc.max_refcount:
                result.check_errors += 1
                continue
            rc.set(c, want)
            if stored > want:
                result.leaks_fixed += 1
            else:
                result.corruptions_fixed += 1
        elif stored > want:
            result.leaks += 1
        else:
            result.corruptions += 1
    _check_copied(image, result, quiet, repair == "all")
    if repair and (result.leaks_fixed or result.corruptions_fixed):
        image.file.flush()
    highest = limit
    while highest and not expected[highest - 1] and not rc.get(highest - 1):
        highest -= 1
    result.image_end_offset = highest * cs
    return result
