"""Internal snapshots ("Snapshots" in qcow2.rst): each has its own L1 table;
a refcount counts how many L1 tables (active one and snapshots) reach a cluster."""
from __future__ import annotations

import time
from array import array

from ..errors import BlockError, ImageCorrupt
from . import format as F


def read_snapshots(image) -> list[F.Snapshot]:
    h = image.header
    if not h.nb_snapshots:
        return []
    if h.nb_snapshots > 65536 or h.snapshots_offset & 7 or h.snapshots_offset >= image.file.length:
        raise ImageCorrupt(f"Snapshot table of '{image.filename}' is invalid")
    snaps = []
    pos = h.snapshots_offset
    for _ in range(h.nb_snapshots):
        fixed = image.file.pread(pos, F.SNAPSHOT_ENTRY.size)
        (l1_off, l1_size, id_len, name_len, sec, nsec, vm_clock, vm_state, extra_len) = \
            F.SNAPSHOT_ENTRY.unpack(fixed)
        pos += F.SNAPSHOT_ENTRY.size
        extra = image.file.pread(pos, extra_len)
        pos += extra_len
        ident = image.file.pread(pos, id_len).decode(errors="replace")
        pos += id_len
        name = image.file.pread(pos, name_len).decode(errors="replace")
        pos += name_len
        pos = (pos + 7) & ~7
        disk_size, icount = h.size, -1
        if extra_len >= 8:
            vm_state = int.from_bytes(extra[:8], "big")
        if extra_len >= 16:
            disk_size = int.from_bytes(extra[8:16], "big")
        if extra_len >= 24:
            icount = int.from_bytes(extra[16:24], "big", signed=True)
        if l1_off & (image.cluster_size - 1) or l1_size * 8 > F.MAX_L1_BYTES:
            raise ImageCorrupt(f"Snapshot L1 table of '{image.filename}' is invalid")
        snaps.append(F.Snapshot(l1_off, l1_size, ident, name, sec, nsec, vm_clock, vm_state, disk_size, icount,
                                extra[24:]))
    return snaps


def _read_l1(image, offset: int, size: int) -> array:
    arr = array("Q", image.file.pread(offset, 8 * size))
    arr.byteswap()
    return arr


def _l1_bytes(l1) -> bytes:
    arr = array("Q", l1)
    arr.byteswap()
    return arr.tobytes()


def update_refcounts(image, l1: array, addend: int, active: bool) -> None:
    """Add `addend` to every L2 table and data cluster reachable from `l1`;
    for the active L1, recompute COPIED flags (set iff refcount is 1)."""
    from .driver import COMPRESSED, NORMAL, ZERO, _be_array, _be_bytes
    rc = image.refcounts
    cb = image.cluster_bits
    image._compressed_cursor = 0    # clusters may be freed below
    for i, l1e in enumerate(l1):
        l2_off = l1e & F.L1E_OFFSET_MASK
        if not l2_off:
            continue
        table = _be_array(image.file.pread(l2_off, image.cluster_size))
        changed = False
        if addend:
            runs = []
            for entry in table:
                kind = image._kind(entry)
                if kind == COMPRESSED:
                    runs.append(image._compressed_host_clusters(entry))
                elif kind in (NORMAL, ZERO) and entry & F.L2E_OFFSET_MASK:
                    runs.append(((entry & F.L2E_OFFSET_MASK) >> cb, 1))
            rc.update(runs, addend)
            rc.update([(l2_off >> cb, 1)], addend)
        if active:
            for j, entry in enumerate(table):
                kind = image._kind(entry)
                if kind in (NORMAL, ZERO) and entry & F.L2E_OFFSET_MASK:
                    want = rc.get((entry & F.L2E_OFFSET_MASK) >> cb) == 1
                    if bool(entry & F.OFLAG_COPIED) != want:
                        table[j] = entry | F.OFLAG_COPIED if want else entry & ~F.OFLAG_COPIED
                        changed = True
            if changed:
                image.file.pwrite(l2_off, _be_bytes(table))
            want = rc.get(l2_off >> cb) == 1
            new = l1e | F.OFLAG_COPIED if want else l1e & ~F.OFLAG_COPIED
            if new != l1e:
                l1[i] = new
                image._write_l1_entry(i)
    image.l2_cache.clear()


def _write_table(image, snaps: list[F.Snapshot]) -> None:
    """Write a new snapshot table, switch the header to it, free the old one."""
    h = image.header
    cb, cs = image.cluster_bits, image.cluster_size
    blob = b"".join(s.pack() for s in snaps)
    new_off = 0
    if blob:
        clusters = (len(blob) + cs - 1) >> cb
        new_off = image.refcounts.alloc(clusters) << cb
        image.file.pwrite(new_off, blob)
        image.file.flush()
    old_off, old_n = h.snapshots_offset, h.nb_snapshots
    old_len = sum(len(s.pack()) for s in image.snapshots)
    h.nb_snapshots, h.snapshots_offset = len(snaps), new_off
    image.file.pwrite(F.OFF_SNAPSHOTS, len(snaps).to_bytes(4, "big") + new_off.to_bytes(8, "big"))
    image.file.flush()
    if old_n and old_off:
        image.refcounts.update([(old_off >> cb, (old_len + cs - 1) >> cb)], -1)
    image.snapshots = snaps
    image.metadata_changed()
    image._compressed_cursor = 0    # refcounts changed wholesale


def find(image, name: str) -> F.Snapshot:
    for snap in image.snapshots:
        if snap.id_str == name:
            return snap
    for snap in image.snapshots:
        if snap.name == name:
            return snap
    raise BlockError(f"Can't find the snapshot '{name}' in '{image.filename}'")


def create(image, name: str, vm_state_size: int = 0, vm_clock_nsec: int = 0,
           icount: int = 0) -> F.Snapshot:
    image.check_writable()
    if any(s.name == name for s in image.snapshots):
        raise BlockError(f"Could not create snapshot '{name}': snapshot name already exists")
    cb, cs = image.cluster_bits, image.cluster_size
    image.flush()
    l1 = image.l1
    size = len(l1)
    l1_off = 0
    if size:
        clusters = (8 * size + cs - 1) >> cb
        l1_off = image.refcounts.alloc(clusters) << cb
    # Refcounts go up first (and COPIED flags clear) so that any crash before
    # the table names the snapshot leaves only leaks.
    update_refcounts(image, l1, 1, active=True)
    if size:
        image.file.pwrite(l1_off, _l1_bytes([e & ~F.OFLAG_COPIED for e in l1]))
    image.file.flush()
    ids = [int(s.id_str) for s in image.snapshots if s.id_str.isdigit()]
    now = time.time()
    snap = F.Snapshot(l1_off, size, str(max(ids, default=0) + 1), name, int(now), int(now % 1 * 1e9),
                      vm_clock_nsec, vm_state_size, image.header.size, icount=icount)
    _write_table(image, image.snapshots + [snap])
    return snap


def delete(image, name: str) -> None:
    image.check_writable()
    snap = find(image, name)
    remaining = [s for s in image.snapshots if s is not snap]
    _write_table(image, remaining)
    if snap.l1_size:
        l1 = _read_l1(image, snap.l1_table_offset, snap.l1_size)
        update_refcounts(image, l1, -1, active=False)
        cb, cs = image.cluster_bits, image.cluster_size
        image.refcounts.update([(snap.l1_table_offset >> cb, (8 * snap.l1_size + cs - 1) >> cb)], -1)
    update_refcounts(image, image.l1, 0, active=True)
    image.flush()


def apply(image, name: str) -> None:
    image.check_writable()
    snap = find(image, name)
    h = image.header
    snap_l1 = _read_l1(image, snap.l1_table_offset, snap.l1_size)
    # Reference the snapshot's clusters first, then switch the active L1 to
    # its contents, then drop the references of the old active state.
    update_refcounts(image, snap_l1, 1, active=False)
    old_l1 = array("Q", image.l1)
    if snap.l1_size > h.l1_size:
        image.grow_l1(snap.l1_size)
    new_l1 = array("Q", snap_l1) + array("Q", bytes(8 * (h.l1_size - snap.l1_size)))
    image.file.pwrite(h.l1_table_offset, _l1_bytes(new_l1))
    image.file.flush()
    image.l1 = new_l1
    image.l2_cache.clear()
    image.metadata_changed()
    update_refcounts(image, old_l1, -1, active=False)
    if snap.disk_size != h.size:
        h.size = snap.disk_size
        image.file.pwrite(F.OFF_SIZE, h.size.to_bytes(8, "big"))
    update_refcounts(image, image.l1, 0, active=True)
    image.flush()


def load_read_only(image, name: str) -> None:
    """Show a snapshot's contents through a read-only node (convert -l)."""
    if not image.read_only:
        raise BlockError(f"Snapshots can only be loaded read-only: '{image.filename}'")
    snap = find(image, name)
    image.l1 = _read_l1(image, snap.l1_table_offset, snap.l1_size)
    image.header.size = snap.disk_size
    image.l2_cache.clear()
