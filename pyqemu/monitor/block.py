"""The block devices as the monitor shows them: query-block, query-blockstats,
query-named-block-nodes and `info block` in QEMU 7.2's shapes
(qapi/block-core.json BlockInfo, BlockDeviceInfo, ImageInfo, BlockStats,
BlockDeviceStats), I/O accounting, and BLOCK_IO_ERROR.

What is listed:
- the block backends the virtio-blk devices use (-drive, -blockdev), in
  slot order from the first -device;
- QEMU's default empty drives of the virt board (QEMU creates a cdrom, a
  floppy and an SD card drive for a machine that does not refuse them:
  `none2`, `floppy0`, `sd0`, removable, not inserted);
- the nodes added with blockdev-add (nodes only: no backend, as in QEMU).

A backend's name (the -drive id; "" for a -blockdev one, as QEMU) is the
BlockBackend's `name`, and the device's qdev id the VirtioBlk's `qdev_id`,
when the command line recorded them; otherwise "" and QEMU's anonymous path.

Accounting: each attached backend's data calls are wrapped once (counts,
bytes, times, highest write offset, failures); a failing guest request
emits BLOCK_IO_ERROR with action `report` (QEMU's rerror default; its
werror default `enospc` would stop the VM on ENOSPC, which pyqemu does not).
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field

from ..block.errors import BlockError
from ..block.file import FileNode

# qapi/block-core.json BlockDeviceStats, the counters QEMU reports.
STAT_COUNTERS = ("rd_bytes", "wr_bytes", "unmap_bytes", "rd_operations", "wr_operations",
                 "flush_operations", "unmap_operations", "rd_total_time_ns",
                 "wr_total_time_ns", "flush_total_time_ns", "unmap_total_time_ns",
                 "wr_highest_offset", "rd_merged", "wr_merged", "unmap_merged",
                 "failed_rd_operations", "failed_wr_operations", "failed_flush_operations",
                 "failed_unmap_operations", "invalid_rd_operations", "invalid_wr_operations",
                 "invalid_flush_operations", "invalid_unmap_operations")

# QEMU 7.2's default drives on virt (no -nodefaults): cdrom (if=none index 2
# on a board whose default interface is none), floppy, SD card.
DEFAULT_EMPTY_DRIVES = ("none2", "floppy0", "sd0")


def _zero_stats(accounted: bool) -> dict:
    s = {k: 0 for k in STAT_COUNTERS}
    s["timed_stats"] = []
    # A BlockBackend accounts failed and invalid requests; a node does not.
    s["account_invalid"] = accounted
    s["account_failed"] = accounted
    return s


@dataclass
class Accounting:
    """BlockAcctStats of one backend."""
    stats: dict = field(default_factory=lambda: _zero_stats(True))

    def done(self, kind: str, nbytes: int, start_ns: int, offset: int | None = None) -> None:
        s = self.stats
        s[f"{kind}_operations"] += 1
        if kind != "flush":
            s[f"{kind}_bytes"] += nbytes
        s[f"{kind}_total_time_ns"] += time.monotonic_ns() - start_ns
        if kind == "wr" and offset is not None:
            s["wr_highest_offset"] = max(s["wr_highest_offset"], offset + nbytes)

    def failed(self, kind: str) -> None:
        self.stats[f"failed_{kind}_operations"] += 1


@dataclass
class AttachedDrive:
    """A backend attached to a virtio-blk device."""
    backend: object
    device_name: str          # the -drive id, "" for -blockdev
    qdev: str
    accounting: Accounting


def _error_reason(e: Exception) -> str:
    # The block layer's message ends with strerror ("Could not write to 'x': No space...").
    return str(e).rsplit(": ", 1)[-1]


class BlockMonitor:
    """The machine's block devices for the monitor; `emit(name, data)` sends events."""

    def __init__(self, machine, emit):
        self.machine = machine
        self._emit = emit
        self.drives: list[AttachedDrive] = []
        anon = 0
        # The first -device is in the top slot: walk from the top.
        for transport in reversed(getattr(machine, "virtio", [])):
            dev = transport.device
            backend = getattr(dev, "backend", None)
            if backend is None:
                continue
            qdev = getattr(dev, "qdev_id", None)
            if qdev is None:
                qdev = f"/machine/peripheral-anon/device[{anon}]"
                anon += 1
            drive = AttachedDrive(backend, getattr(backend, "name", None) or "", qdev,
                                  Accounting())
            self._account(drive)
            self.drives.append(drive)

    # -- accounting -------------------------------------------------------------------
    def _account(self, drive: AttachedDrive) -> None:
        backend, acct = drive.backend, drive.accounting
        if getattr(backend, "_monitor_accounted", False):
            return
        backend._monitor_accounted = True
        preadv_into, pwrite, flush = backend.preadv_into, backend.pwrite, backend.flush
        discard, write_zeroes = backend.discard, backend.write_zeroes

        def run(kind, operation, fn, nbytes, offset, *args, **kw):
            start = time.monotonic_ns()
            try:
                result = fn(*args, **kw)
            except BlockError as e:
                acct.failed(kind)
                self._io_error(drive, operation, e)
                raise
            acct.done(kind, nbytes, start, offset)
            return result

        backend.preadv_into = lambda off, buf: run("rd", "read", preadv_into, len(buf), off,
                                                   off, buf)
        backend.pwrite = lambda off, data: run("wr", "write", pwrite, len(data), off, off, data)
        backend.flush = lambda: run("flush", "write", flush, 0, None)
        backend.discard = lambda off, n: run("unmap", "write", discard, n, None, off, n)
        backend.write_zeroes = lambda off, n, may_unmap=False: run(
            "wr", "write", write_zeroes, n, off, off, n, may_unmap=may_unmap)

    def _io_error(self, drive: AttachedDrive, operation: str, e: BlockError) -> None:
        reason = _error_reason(e)
        self._emit("BLOCK_IO_ERROR", {
            "device": drive.device_name, "node-name": drive.backend.root.node_name,
            "operation": operation, "action": "report",
            "nospace": reason == os.strerror(errno.ENOSPC), "reason": reason})

    # -- node descriptions ------------------------------------------------------------
    @staticmethod
    def image_info(node) -> dict:
        """ImageInfo, with the backing chain as backing-image."""
        if isinstance(node, FileNode):
            # QEMU sizes a protocol node in whole sectors.
            size = -(-node.length // 512) * 512
            return {"virtual-size": size, "filename": node.filename, "format": "file",
                    "actual-size": node.allocated_size(), "dirty-flag": False}
        from ..tools.img.info import _info_dict
        info = _info_dict(node, node.filename)
        if node.backing is not None:
            info["backing-image"] = BlockMonitor.image_info(node.backing)
        return info

    @staticmethod
    def _cache(node) -> dict:
        while node is not None and not isinstance(node, FileNode):
            node = node.file
        mode = node.cache if node is not None else "writeback"
        return {"writeback": mode not in ("directsync", "writethrough"),
                "direct": mode in ("none", "directsync"), "no-flush": mode == "unsafe"}

    def device_info(self, node, read_only: bool | None = None) -> dict:
        """BlockDeviceInfo of one node."""
        depth, b = 0, node.backing
        while b is not None:
            depth, b = depth + 1, b.backing
        info = {"file": node.filename, "node-name": node.node_name,
                "ro": bool(node.read_only if read_only is None else read_only),
                "drv": node.driver, "backing_file_depth": depth, "encrypted": False,
                "detect_zeroes": "off", "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0,
                "iops_rd": 0, "iops_wr": 0, "image": self.image_info(node),
                "write_threshold": 0, "cache": self._cache(node)}
        if node.backing is not None:
            info["backing_file"] = node.backing.filename
        return info

    @staticmethod
    def _created(node) -> list:
        """A node and the nodes below it in the order QEMU opens them: the file
        child, the node itself, then its backing chain."""
        out = BlockMonitor._created(node.file) if node.file is not None else []
        out.append(node)
        if node.backing is not None:
            out += BlockMonitor._created(node.backing)
        return out

    def all_nodes(self, added: dict) -> list:
        """Every node, oldest first: the command line's, then blockdev-add's."""
        seen, out = set(), []
        roots = [d.backend.root for d in self.drives] + [b.root for b in added.values()]
        for root in roots:
            for n in self._created(root):
                if id(n) not in seen:
                    seen.add(id(n))
                    out.append(n)
        return out

    # -- the commands ---------------------------------------------------------------------
    def query_block(self) -> list[dict]:
        out = []
        for d in self.drives:
            out.append({"device": d.device_name, "qdev": d.qdev, "type": "unknown",
                        "removable": False, "locked": False, "io-status": "ok",
                        "inserted": self.device_info(d.backend.root, d.backend.read_only)})
        empty = [{"device": name, "locked": False, "removable": True, "type": "unknown"}
                 for name in DEFAULT_EMPTY_DRIVES]
        # QEMU lists the monitor's drives (named) first, then the devices' own
        # backends (-blockdev, device "").
        named = [e for e in out if e["device"]]
        return named + empty + [e for e in out if not e["device"]]

    def _node_stats(self, node, with_name: bool = True) -> dict:
        s = {"stats": _zero_stats(False)}
        if with_name:
            s["node-name"] = node.node_name
        if node.file is not None:
            s["parent"] = self._node_stats(node.file)
        if node.backing is not None:
            s["backing"] = self._node_stats(node.backing)
        if isinstance(node, FileNode):
            s["driver-specific"] = {"driver": "file", "discard-nb-ok": 0,
                                    "discard-nb-failed": 0, "discard-bytes-ok": 0}
        return s

    def query_blockstats(self, query_nodes: bool, added: dict) -> list[dict]:
        if query_nodes:
            return [self._node_stats(n) for n in self.all_nodes(added)]
        out = []
        for d in self.drives:
            s = self._node_stats(d.backend.root)
            s["stats"] = dict(d.accounting.stats)
            s["device"] = d.device_name
            s["qdev"] = d.qdev
            out.append(s)
        named = [e for e in out if e["device"]]
        empty = [{"device": name, "stats": _zero_stats(True)} for name in DEFAULT_EMPTY_DRIVES]
        return named + empty + [e for e in out if not e["device"]]

    def query_named_block_nodes(self, added: dict, flat: bool = False) -> list[dict]:
        # QEMU builds this list by prepending: newest node first.
        out = [self.device_info(n) for n in reversed(self.all_nodes(added))]
        if flat:                        # no backing-image chains
            for info in out:
                info["image"].pop("backing-image", None)
        return out

    def info_block(self) -> str:
        """HMP `info block`, QEMU's layout."""
        entries = []
        info = self.query_block()
        for b in info:
            ins = b.get("inserted")
            if ins is None:
                entries.append(f"{b['device']}: [not inserted]\n"
                               "    Removable device: not locked, tray closed\n")
                continue
            name = b["device"] or ins["node-name"]
            head = f"{b['device']} ({ins['node-name']})" if b["device"] else name
            ro = ", read-only" if ins["ro"] else ""
            text = f"{head}: {ins['file']} ({ins['drv']}{ro})\n"
            text += f"    Attached to:      {b['qdev']}\n"
            cache = ins["cache"]
            mode = "writeback" if cache["writeback"] else "writethrough"
            if cache["direct"]:
                mode += ", direct"
            if cache["no-flush"]:
                mode += ", ignore flushes"
            text += f"    Cache mode:       {mode}\n"
            if "backing_file" in ins:
                text += (f"    Backing file:     {ins['backing_file']} "
                         f"(chain depth: {ins['backing_file_depth']})\n")
            entries.append(text)
        return "\n".join(entries)
