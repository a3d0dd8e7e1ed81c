"""pyqemu-img resize, snapshot, commit, rebase, amend and bench."""
from __future__ import annotations

import os
import sys
import time

from ...block import BlockError, Status, chain_status, open_image
from ...block.open import open_node, resolve_backing
from ...block.options import parse_bool, parse_size
from ...block.qcow2 import Qcow2Node
from ...block.qcow2 import format as F
from ...block.qcow2 import snapshot as snapshots
from .common import Progress, UsageError, die, open_for, parse_args, parse_o_options
from .convert import CHUNK, ZEROES
from .info import _snapshot_table


def cmd_resize(argv) -> int:
    # A leading '-' in the size would look like an option: take the size first.
    if len(argv) >= 2 and argv[-1].startswith("-") and argv[-1][1:2].isdigit():
        argv, size_text = argv[:-1], argv[-1]
    else:
        size_text = None
    opts, args = parse_args(argv, "f:hq", ["shrink", "preallocation=", "object=", "image-opts"])
    fmt, quiet, shrink, prealloc = None, False, False, "off"
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "-q":
            quiet = True
        elif opt == "--shrink":
            shrink = True
        elif opt == "--preallocation":
            prealloc = val
    if size_text is None:
        if len(args) != 2:
            die("Expecting image file name and size")
        filename, size_text = args
    else:
        if len(args) != 1:
            die("Expecting image file name and size")
        filename = args[0]
    relative = size_text[0] in "+-"
    try:
        amount = parse_size(size_text[1:] if relative else size_text)
    except BlockError:
        die("Invalid image size specified. You may use k, M, G, T, P or E suffixes for")
    blk = open_for(filename, fmt, read_only=False)
    try:
        old = blk.length
        new = old + amount if size_text[0] == "+" else old - amount if size_text[0] == "-" else amount
        if new < 0:
            die("New image size must be positive")
        if new < old and not shrink:
            die("Use the --shrink option to perform a shrink operation.")
        if new < old:
            print("pyqemu-img: warning: Shrinking an image will delete all data beyond the shrunken image's end. "
                  "Before performing such an operation, make sure there is no important data there.",
                  file=sys.stderr)
        try:
            if isinstance(blk.root, Qcow2Node):
                if new % 512:
                    die("The new size must be a multiple of 512")
                blk.root.truncate(new, shrink=True, prealloc=prealloc)
            else:
                blk.root.truncate(new, shrink=True, prealloc=prealloc)
        except BlockError as exc:
            die(str(exc))
    finally:
        blk.close()
    if not quiet:
        print("Image resized.")
    return 0


def cmd_snapshot(argv) -> int:
    opts, args = parse_args(argv, "la:c:d:hqU", ["force-share", "object=", "image-opts"])
    action, name, quiet, force = None, None, False, False
    for opt, val in opts:
        if opt in ("-l", "-a", "-c", "-d"):
            if action:
                die("Cannot mix '-l', '-a', '-c', '-d'")
            action, name = opt, val
        elif opt == "-q":
            quiet = True
        elif opt in ("-U", "--force-share"):
            force = True
    if len(args) != 1:
        die("Expecting one image file name")
    action = action or "-l"
    blk = open_for(args[0], None, read_only=action == "-l", force_share=force, backing=False)
    try:
        node = blk.root
        if not isinstance(node, Qcow2Node):
            if action == "-l":
                return 0
            die(f"Could not {'create' if action == '-c' else 'use'} snapshot '{name}': "
                f"snapshots are not supported by format '{node.driver}'")
        try:
            if action == "-l":
                if node.snapshots:
                    print("Snapshot list:")
                    print("\n".join(_snapshot_table(node.snapshots)))
            elif action == "-c":
                snapshots.create(node, name)
            elif action == "-a":
                snapshots.apply(node, name)
            elif action == "-d":
                snapshots.delete(node, name)
        except BlockError as exc:
            verb = {"-c": "create", "-a": "apply", "-d": "delete"}.get(action, "list")
            text = str(exc)
            die(text if text.startswith("Could not") else f"Could not {verb} snapshot '{name}': {text}")
    finally:
        blk.close()
    return 0


def _copy_allocated(top_node, base, length: int, progress: Progress, stop=None) -> None:
    """Copy what `top_node`..(above stop) holds into `base` (commit)."""
    pos = 0
    while pos < length:
        n = min(CHUNK, length - pos)
        ext = chain_status(top_node, pos, n)
        n = ext.length
        node_depth_ok = ext.status & Status.ALLOCATED and (stop is None or ext.depth < stop)
        if node_depth_ok:
            if ext.status & Status.ZERO and not ext.status & Status.DATA:
                base.write_zeroes(pos, n)
            else:
                base.pwrite(pos, top_node.pread(pos, n))
        pos += n
        progress.update(pos, length)


def cmd_commit(argv) -> int:
    opts, args = parse_args(argv, "f:ht:b:dpqr:", ["object=", "image-opts"])
    fmt, cache, base_name, drop, progress, quiet = None, "writeback", None, False, False, False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "-t":
            cache = val
        elif opt == "-b":
            base_name = val
        elif opt == "-d":
            drop = True
        elif opt == "-p":
            progress = True
        elif opt == "-q":
            quiet = True
    if len(args) != 1:
        die("Expecting one image file name")
    filename = args[0]
    top = open_for(filename, fmt, read_only=False, cache=cache)
    try:
        node = top.root
        if node.backing is None:
            die(f"Image does not have a backing file")
        chain = list(node.chain())
        target_index = 1
        if base_name:
            real = os.path.realpath(base_name)
            for i, n in enumerate(chain[1:], 1):
                if os.path.realpath(n.filename) == real:
                    target_index = i
                    break
            else:
                die(f"Did not find '{base_name}' in the backing chain of '{filename}'")
        base_node = chain[target_index]
        # Reopen the base read-write (it was opened read-only as a backing file).
        base_file = base_node.filename
        base_fmt = base_node.driver
        rw_base = None
        try:
            # Release our read-only hold on the base before taking it read-write.
            below = base_node.backing
            base_node.backing = None
            chain[target_index - 1].backing = None
            base_node.close()
            rw_base = open_node(base_file, base_fmt, read_only=False, cache=cache, backing=False)
            rw_base.backing = below
            chain[target_index - 1].backing = rw_base
            if node.length > rw_base.length:
                rw_base.truncate(node.length)
            prog = Progress(progress and not quiet)
            _copy_allocated(node, rw_base, node.length, prog, stop=target_index)
            prog.finish()
            rw_base.flush()
            if not drop and isinstance(node, Qcow2Node) and target_index == 1:
                _empty_top(node)
        except BlockError as exc:
            die(str(exc))
    finally:
        top.close()
    if not quiet:
        print("Image committed.")
    return 0


def _empty_top(node: Qcow2Node) -> None:
    """After a commit the top image holds nothing of its own."""
    node._set_cluster_entries(0, (node.length + node.cluster_size - 1) & ~(node.cluster_size - 1), 0)


def cmd_rebase(argv) -> int:
    opts, args = parse_args(argv, "hf:F:b:upt:T:qU", ["force-share", "object=", "image-opts"])
    fmt, bfmt, backing, unsafe, progress, cache, quiet, force = None, None, None, False, False, "writeback", \
        False, False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "-F":
            bfmt = val
        elif opt == "-b":
            backing = val
        elif opt == "-u":
            unsafe = True
        elif opt == "-p":
            progress = True
        elif opt == "-t":
            cache = val
        elif opt == "-q":
            quiet = True
        elif opt in ("-U", "--force-share"):
            force = True
    if len(args) != 1:
        die("Expecting one image file name")
    if backing is None:
        die("Must specify backing file (-b) or use unsafe mode (-u)")
    filename = args[0]
    blk = open_for(filename, fmt, read_only=False, cache=cache, backing=not unsafe)
    try:
        node = blk.root
        if not isinstance(node, Qcow2Node):
            die(f"Could not change the backing file to '{backing}': Operation not supported")
        new_backing = None
        if backing and not unsafe:
            if not bfmt:
                try:
                    probe = open_node(resolve_backing(filename, backing), None, read_only=True, force_share=True,
                                      backing=False)
                    bfmt = probe.driver
                    probe.close()
                except BlockError as exc:
                    die(f"Could not open new backing file '{backing}': {exc}")
            try:
                new_backing = open_node(resolve_backing(filename, backing), bfmt, read_only=True,
                                        force_share=force)
            except BlockError as exc:
                die(f"Could not open new backing file '{backing}': {exc}")
        try:
            if not unsafe:
                _rebase_copy(node, new_backing, Progress(progress and not quiet))
            h = node.header
            h.backing_file = backing or None
            h.backing_format = (bfmt if backing else None)
            node.rewrite_header()
        except BlockError as exc:
            die(str(exc))
        finally:
            if new_backing is not None:
                new_backing.close()
    finally:
        blk.close()
    return 0


def _rebase_copy(node: Qcow2Node, new_backing, progress: Progress) -> None:
    """Safe rebase: wherever the image is unallocated and the old and new
    backing contents differ, write the old contents into the image."""
    length = node.length
    old = node.backing
    pos = 0
    while pos < length:
        n = min(CHUNK, length - pos)
        own = node.block_status(pos, n)
        n = own.length
        if not own.status & Status.ALLOCATED:
            before = old.pread(pos, min(n, max(0, old.length - pos))) if old and pos < old.length else b""
            before += bytes(n - len(before))
            after = b""
            if new_backing is not None and pos < new_backing.length:
                after = new_backing.pread(pos, min(n, new_backing.length - pos))
            after += bytes(n - len(after))
            if before != after:
                node.pwrite(pos, before)
        pos += n
        progress.update(pos, length)
    progress.finish()


def cmd_amend(argv) -> int:
    opts, args = parse_args(argv, "ho:f:t:pqU", ["force", "object=", "image-opts"])
    o_opts, fmt, quiet = [], None, False
    for opt, val in opts:
        if opt == "-o":
            o_opts.append(val)
        elif opt == "-f":
            fmt = val
        elif opt == "-q":
            quiet = True
    if not o_opts:
        die("Must specify options (-o)")
    if len(args) != 1:
        die("Expecting one image file name")
    try:
        options = parse_o_options(o_opts)
    except UsageError:
        print("Amend options: compat, lazy_refcounts, backing_file, backing_fmt")
        return 0
    blk = open_for(args[0], fmt, read_only=False, backing=False)
    try:
        node = blk.root
        if not isinstance(node, Qcow2Node):
            die(f"Format driver '{node.driver}' does not support option amendment")
        h = node.header
        try:
            for key, value in options.items():
                if key == "lazy_refcounts":
                    on = parse_bool(value, key)
                    if on and h.version < 3:
                        raise BlockError("Lazy refcounts only supported with compatibility level 1.1 and above "
                                         "(use compat=1.1 or greater)")
                    h.compatible_features = (h.compatible_features | F.COMPAT_LAZY_REFCOUNTS) if on else \
                        (h.compatible_features & ~F.COMPAT_LAZY_REFCOUNTS)
                elif key == "backing_file":
                    h.backing_file = value or None
                elif key == "backing_fmt":
                    h.backing_format = value or None
                elif key == "compat":
                    want = 2 if value in ("0.10", "v2") else 3 if value in ("1.1", "v3") else None
                    if want is None:
                        raise BlockError(f"Invalid compatibility level: '{value}'")
                    if want == 2 and h.version == 3:
                        _downgrade(node)
                    elif want == 3 and h.version == 2:
                        h.version = 3
                        h.header_length = F.HEADER_V3_LENGTH_COMPRESSION
                        h.refcount_order = 4
                elif key == "size":
                    node.truncate(parse_size(str(value)))
                else:
                    raise BlockError(f"Changing option '{key}' is not supported")
            node.rewrite_header()
        except BlockError as exc:
            die(str(exc))
    finally:
        blk.close()
    return 0


def _downgrade(node: Qcow2Node) -> None:
    h = node.header
    if h.refcount_order != 4:
        raise BlockError("compat=0.10 requires refcount_bits=16")
    if h.compression_type != F.COMPRESSION_ZLIB:
        raise BlockError("Cannot downgrade an image with a compression type other than zlib")
    if h.compatible_features & F.COMPAT_LAZY_REFCOUNTS:
        raise BlockError("Cannot downgrade an image with lazy refcounts")
    # Zero clusters do not exist in version 2: write them out as data.
    from .convert import CHUNK as _chunk
    pos = 0
    zero_ranges = []
    while pos < h.size:
        ext = node.block_status(pos, h.size - pos)
        if ext.status & Status.ZERO and ext.status & Status.ALLOCATED:
            zero_ranges.append((pos, ext.length))
        pos += ext.length
    for start, length in zero_ranges:
        for p in range(start, start + length, _chunk):
            node.pwrite(p, bytes(min(_chunk, start + length - p)))
    h.version = 2
    h.header_length = F.HEADER_V2_LENGTH
    h.incompatible_features = h.compatible_features = h.autoclear_features = 0
    node.v3 = False


def cmd_bench(argv) -> int:
    opts, args = parse_args(argv, "hc:d:f:ni:o:qs:S:t:wU",
                            ["flush-interval=", "no-drain", "pattern=", "force-share", "object=", "image-opts"])
    count, depth, fmt, offset, size, step, cache, write, quiet, force = 75000, 64, None, 0, 4096, None, \
        "writeback", False, False, False
    pattern, flush_interval = 0, 0
    for opt, val in opts:
        if opt == "-c":
            count = int(val)
        elif opt == "-d":
            depth = int(val)
        elif opt == "-f":
            fmt = val
        elif opt == "-n":
            cache = "none"
        elif opt == "-o":
            offset = parse_size(val)
        elif opt == "-s":
            size = parse_size(val)
        elif opt == "-S":
            step = parse_size(val)
        elif opt == "-t":
            cache = val
        elif opt == "-w":
            write = True
        elif opt == "-q":
            quiet = True
        elif opt in ("-U", "--force-share"):
            force = True
        elif opt == "--pattern":
            pattern = int(val, 0)
        elif opt == "--flush-interval":
            flush_interval = int(val)
    if len(args) != 1:
        die("Expecting one image file name")
    step = size if step is None else step
    blk = open_for(args[0], fmt, read_only=not write, force_share=force, cache=cache)
    try:
        if not quiet:
            print(f"Sending {count} {'write' if write else 'read'} requests, {size} bytes each, {depth} in parallel "
                  f"(starting at offset {offset}, step size {step})")
        data = bytes([pattern]) * size
        start = time.monotonic()
        pos = offset
        for i in range(count):
            if pos + size > blk.length:
                pos = offset
            if write:
                blk.pwrite(pos, data)
                if flush_interval and (i + 1) % flush_interval == 0:
                    blk.flush()
            else:
                blk.pread(pos, size)
            pos += step
        if write:
            blk.flush()
        elapsed = time.monotonic() - start
    except BlockError as exc:
        die(str(exc))
    finally:
        blk.close()
    if not quiet:
        print(f"Run completed in {elapsed:.3f} seconds.")
    return 0
