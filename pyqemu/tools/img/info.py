"""pyqemu-img info, map and measure."""
from __future__ import annotations

import datetime
import json
import os

from ...block import BlockError, Status, chain_status
from ...block.file import FileNode
from ...block.qcow2 import Qcow2Node
from ...block.qcow2 import format as F
from ...block.options import parse_size
from .common import die, open_for, parse_args, parse_o_options, print_json, size_to_str


def _info_dict(node, filename: str) -> dict:
    """Keys in the order qemu-img 7.2 prints them."""
    file = node.file
    info: dict = {}
    qcow2 = isinstance(node, Qcow2Node)
    if qcow2 and node.snapshots:
        info["snapshots"] = [{
            "icount": max(s.icount, 0) if s.icount != -1 else 0,
            "vm-clock-nsec": s.vm_clock_nsec % 1_000_000_000,
            "name": s.name, "date-sec": s.date_sec, "date-nsec": s.date_nsec,
            "vm-clock-sec": s.vm_clock_nsec // 1_000_000_000, "id": s.id_str,
            "vm-state-size": s.vm_state_size} for s in node.snapshots]
    if qcow2 and node.header.backing_file and node.header.backing_format:
        info["backing-filename-format"] = node.header.backing_format
    info["virtual-size"] = node.length
    info["filename"] = filename
    if qcow2:
        info["cluster-size"] = node.cluster_size
    info["format"] = node.driver
    info["actual-size"] = file.allocated_size() if isinstance(file, FileNode) else 0
    if qcow2:
        h = node.header
        data = {"compat": "1.1" if h.version >= 3 else "0.10",
                "compression-type": F.COMPRESSION_NAMES[h.compression_type]}
        if h.version >= 3:
            data["lazy-refcounts"] = bool(h.compatible_features & F.COMPAT_LAZY_REFCOUNTS)
        data["refcount-bits"] = 1 << h.refcount_order
        if h.version >= 3:
            data["corrupt"] = bool(h.incompatible_features & F.INCOMPAT_CORRUPT)
            data["extended-l2"] = False
        info["format-specific"] = {"type": "qcow2", "data": data}
        if h.backing_file:
            from ...block.open import resolve_backing
            info["full-backing-filename"] = resolve_backing(filename, h.backing_file)
            info["backing-filename"] = h.backing_file
        info["dirty-flag"] = bool(h.incompatible_features & F.INCOMPAT_DIRTY)
    else:
        info["dirty-flag"] = False
    return info


def _snapshot_table(snaps) -> list[str]:
    lines = ["ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT"]
    for s in snaps:
        date = datetime.datetime.fromtimestamp(s.date_sec).strftime("%Y-%m-%d %H:%M:%S")
        secs = s.vm_clock_nsec // 1_000_000_000
        clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{s.vm_clock_nsec // 1_000_000 % 1000:03d}"
        icount = "" if s.icount == -1 else str(s.icount)
        lines.append(f"{s.id_str:<9} {s.name:<17} {size_to_str(s.vm_state_size):>7} {date} {clock} {icount:>10}")
    return lines


def _human(info: dict, node) -> str:
    out = [f"image: {info['filename']}", f"file format: {info['format']}",
           f"virtual size: {size_to_str(info['virtual-size'])} ({info['virtual-size']} bytes)",
           f"disk size: {size_to_str(info['actual-size'])}"]
    if "cluster-size" in info:
        out.append(f"cluster_size: {info['cluster-size']}")
    if "backing-filename" in info:
        line = f"backing file: {info['backing-filename']}"
        if info["full-backing-filename"] != info["backing-filename"]:
            line += f" (actual path: {info['full-backing-filename']})"
        out.append(line)
        if "backing-filename-format" in info:
            out.append(f"backing file format: {info['backing-filename-format']}")
    if info.get("dirty-flag"):
        out.append("cleanly shut down: no")
    if "snapshots" in info:
        out.append("Snapshot list:")
        out.extend(_snapshot_table(node.snapshots))
    if "format-specific" in info:
        out.append("Format specific information:")
        names = {"compat": "compat", "compression-type": "compression type", "lazy-refcounts": "lazy refcounts",
                 "refcount-bits": "refcount bits", "corrupt": "corrupt", "extended-l2": "extended l2"}
        for key, value in info["format-specific"]["data"].items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            out.append(f"    {names[key]}: {value}")
    return "\n".join(out)


def cmd_info(argv) -> int:
    opts, args = parse_args(argv, "f:hU", ["output=", "backing-chain", "force-share", "image-opts", "object="])
    fmt, output, chain, force = None, "human", False, False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "--output":
            output = val
        elif opt == "--backing-chain":
            chain = True
        elif opt in ("-U", "--force-share"):
            force = True
    if output not in ("human", "json"):
        die(f"--output must be used with human or json as argument.")
    if len(args) != 1:
        die("Expecting one image file name")
    filename = args[0]
    # Without --backing-chain the backing file is not opened (it may be missing).
    blk = open_for(filename, fmt, read_only=True, force_share=force, backing=chain)
    try:
        nodes = list(blk.root.chain()) if chain else [blk.root]
        infos = []
        name = filename
        for node in nodes:
            infos.append((_info_dict(node, name), node))
            if isinstance(node, Qcow2Node) and node.header.backing_file:
                name = infos[-1][0]["full-backing-filename"]
        if output == "json":
            print_json([i for i, _ in infos] if chain else infos[0][0])
        else:
            print("\n\n".join(_human(i, n) for i, n in infos) if chain else _human(*infos[0]))
    finally:
        blk.close()
    return 0


def map_entries(blk, start: int = 0, length: int | None = None):
    """Merged extents for qemu-img map: (start, length, depth, present, zero, data, offset, file)."""
    end = blk.length if length is None else min(blk.length, start + length)
    pos = start
    current = None
    while pos < end:
        ext = chain_status(blk.root, pos, end - pos)
        if ext.length <= 0:
            break
        present = bool(ext.status & Status.ALLOCATED)
        zero = bool(ext.status & Status.ZERO)
        data = bool(ext.status & Status.DATA)
        offset = ext.host_offset if ext.status & Status.OFFSET_VALID else None
        fname = ext.node.filename if ext.node is not None else None
        item = [pos, ext.length, ext.depth, present, zero, data, offset, fname]
        if current and current[2:6] == item[2:6] and current[7] == item[7] and (
                (current[6] is None and offset is None) or
                (current[6] is not None and offset == current[6] + current[1])):
            current[1] += ext.length
        else:
            if current:
                yield current
            current = item
        pos += ext.length
    if current:
        yield current


def cmd_map(argv) -> int:
    opts, args = parse_args(argv, "f:hU", ["output=", "force-share", "start-offset=", "max-length=",
                                          "image-opts", "object="])
    fmt, output, force, start, max_len = None, "human", False, 0, None
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "--output":
            output = val
        elif opt in ("-U", "--force-share"):
            force = True
        elif opt == "--start-offset":
            start = parse_size(val)
        elif opt == "--max-length":
            max_len = parse_size(val)
    if output not in ("human", "json"):
        die("--output must be used with human or json as argument.")
    if len(args) != 1:
        die("Expecting one image file name")
    blk = open_for(args[0], fmt, read_only=True, force_share=force)
    try:
        entries = list(map_entries(blk, start, max_len))
        if output == "json":
            lines = []
            for s, n, depth, present, zero, data, off, _ in entries:
                line = (f'{{ "start": {s}, "length": {n}, "depth": {depth}, "present": {json.dumps(present)},'
                        f' "zero": {json.dumps(zero)}, "data": {json.dumps(data)}')
                if off is not None:
                    line += f', "offset": {off}'
                lines.append(line + "}")
            print("[" + ",\n".join(lines) + "]")
        else:
            print(f"{'Offset':<16}{'Length':<16}{'Mapped to':<16}File")
            for s, n, depth, present, zero, data, off, fname in entries:
                if data and off is not None:
                    print(f"{_hex(s):<16}{_hex(n):<16}{_hex(off):<16}{fname}")
    finally:
        blk.close()
    return 0


def _hex(value: int) -> str:
    return "0" if value == 0 else f"{value:#x}"


def cmd_measure(argv) -> int:
    opts, args = parse_args(argv, "hf:O:o:l:U", ["output=", "size=", "force-share", "image-opts", "object="])
    fmt, out_fmt, output, size, o_opts, force = None, "raw", "human", None, [], False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "-O":
            out_fmt = val
        elif opt == "-o":
            o_opts.append(val)
        elif opt == "--output":
            output = val
        elif opt == "--size":
            size = parse_size(val)
        elif opt in ("-U", "--force-share"):
            force = True
    if size is not None and args:
        die("--size N cannot be used together with a filename.")
    if size is None and len(args) != 1:
        die("Either --size N or one filename must be specified.")
    options = parse_o_options(o_opts)
    cluster = parse_size(str(options.get("cluster_size", 65536)))
    refbits = int(options.get("refcount_bits", 16))
    allocated = None
    if args:
        blk = open_for(args[0], fmt, read_only=True, force_share=force)
        try:
            size = blk.length
            allocated = 0
            pos = 0
            while pos < size:
                ext = chain_status(blk.root, pos, size - pos)
                if ext.status & Status.DATA:
                    first = pos // cluster * cluster
                    last = (pos + ext.length + cluster - 1) // cluster * cluster
                    allocated += last - first
                pos += ext.length
        finally:
            blk.close()
    if out_fmt == "raw":
        required = size if allocated is None else size
        full = size
    elif out_fmt == "qcow2":
        size_aligned = (size + cluster - 1) // cluster * cluster
        data = 0 if allocated is None else allocated
        required = _qcow2_overhead(size_aligned, cluster, refbits, data) + data
        full = _qcow2_overhead(size_aligned, cluster, refbits, size_aligned) + size_aligned
    else:
        die(f"Unknown file format '{out_fmt}'")
    if output == "json":
        print_json({"bitmaps": 0, "required": required, "fully-allocated": full} if out_fmt == "qcow2"
                   else {"required": required, "fully-allocated": full})
    else:
        print(f"required size: {required}")
        print(f"fully allocated size: {full}")
        if out_fmt == "qcow2":
            print("bitmaps size: 0")
    return 0


def _qcow2_overhead(virtual: int, cluster: int, refbits: int, data: int) -> int:
    """Metadata of a qcow2 image holding `data` bytes: header, L2 tables for
    the data, the L1 table, refcount blocks and table for everything."""
    l2_entries = cluster // 8
    l2_tables = -(-(data // cluster) // l2_entries)
    l1_bytes = -(-virtual // (cluster * l2_entries)) * 8
    meta = cluster + l2_tables * cluster + -(-l1_bytes // cluster) * cluster
    refblock_entries = cluster * 8 // refbits
    total = meta + data
    blocks = table = 0
    for _ in range(8):
        clusters = -(-(total + blocks * cluster + table * cluster) // cluster)
        blocks = -(-clusters // refblock_entries)
        table = -(-(blocks * 8) // cluster)
    return meta + (blocks + table) * cluster
