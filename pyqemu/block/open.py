"""Building node graphs: from a filename (the image tool), from -blockdev
option dicts and from -drive option dicts."""
from __future__ import annotations

import os
import tempfile

from .backend import BlockBackend
from .errors import BlockError
from .file import FileNode
from .node import BlockNode
from .options import nest_options, parse_bool, parse_option_string
from .perms import Perm, perms_for
from .qcow2 import Qcow2Node
from .qcow2.format import MAGIC
from .raw import RawNode

FORMATS = ("raw", "qcow2")
MAX_BACKING_DEPTH = 256


def probe_format(file: FileNode) -> str:
    return "qcow2" if file.pread(0, 4) == MAGIC else "raw"


def resolve_backing(image_path: str, backing: str) -> str:
    """Backing names are relative to the directory of the image naming them."""
    if os.path.isabs(backing) or ":" in backing.split("/")[0] and not os.path.exists(backing):
        return backing
    return os.path.join(os.path.dirname(image_path), backing)


def _cache_flags(cache: str) -> str:
    return cache


def open_node(filename: str, fmt: str | None = None, read_only: bool = False, force_share: bool = False,
              cache: str = "writeback", backing: bool = True, locking: str = "auto",
              node_name: str | None = None, inactive: bool = False, _seen: tuple = (),
              backing_override: str | None = None) -> BlockNode:
    """Open an image (and its backing chain) as a node graph."""
    if force_share and not read_only:
        raise BlockError("force-share=on can only be used with read-only images")
    if fmt is not None and fmt not in FORMATS:
        raise BlockError(f"Unknown driver '{fmt}'")
    real = os.path.realpath(filename)
    if real in _seen:
        raise BlockError(f"Backing chain of '{_seen_name(_seen)}' loops back to '{filename}'")
    if len(_seen) > MAX_BACKING_DEPTH:
        raise BlockError(f"Backing chain of '{filename}' is too deep")
    file = FileNode(filename, read_only=read_only, cache=cache, locking=locking)
    file.active = not inactive
    try:
        fmt = fmt or probe_format(file)
        perm, shared = perms_for(read_only, force_share)
        file.set_perm(perm, shared)
        if fmt == "raw":
            node: BlockNode = RawNode(file, node_name=node_name, read_only=read_only)
        else:
            node = Qcow2Node(file, node_name=node_name, read_only=read_only)
        node.active = not inactive
        if fmt == "qcow2" and backing and (backing_override or node.header.backing_file):
            name = backing_override or node.header.backing_file
            path = resolve_backing(filename, name)
            bfmt = node.header.backing_format if not backing_override else None
            try:
                node.backing = open_node(path, bfmt, read_only=True, force_share=force_share, cache=cache,
                                         locking=locking, inactive=inactive,
                                         _seen=_seen + (real,))
            except BlockError as exc:
                first = str(exc).splitlines()[0]
                rest = str(exc).splitlines()[1:]
                raise BlockError("\n".join([f"Could not open backing file: {first}"] + rest)) from None
        return node
    except BaseException:
        file.close()
        raise


def _seen_name(seen: tuple) -> str:
    return seen[0] if seen else "?"


def open_image(filename: str, fmt: str | None = None, read_only: bool = False, force_share: bool = False,
               cache: str = "writeback", snapshot: bool = False, backing: bool = True,
               locking: str = "auto", inactive: bool = False, node_name: str | None = None) -> BlockBackend:
    """Open an image for a user; snapshot=True sends writes to a temporary overlay."""
    if snapshot:
        base = open_node(filename, fmt, read_only=True, force_share=force_share, cache=cache,
                         backing=backing, locking=locking)
        return BlockBackend(_temporary_overlay(base), read_only=False)
    root = open_node(filename, fmt, read_only=read_only, force_share=force_share, cache=cache,
                     backing=backing, locking=locking, inactive=inactive, node_name=node_name)
    return BlockBackend(root, read_only=read_only, force_share=force_share)


def _temporary_overlay(base: BlockNode) -> BlockNode:
    from .qcow2 import Qcow2CreateOptions, create_qcow2
    fd, path = tempfile.mkstemp(prefix="pyqemu-snapshot-", suffix=".qcow2", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.close(fd)
    try:
        create_qcow2(path, Qcow2CreateOptions(size=base.length, backing_file=os.path.abspath(base.filename),
                                              backing_format=base.driver))
        file = FileNode(path)
        file.set_perm(*perms_for(False, False))
        overlay = Qcow2Node(file)
        overlay.backing = base
    finally:
        os.unlink(path)   # the open descriptor keeps it alive until close
    return overlay


# -- -blockdev / -drive -------------------------------------------------------

class NodeRegistry(dict):
    """node-name -> BlockNode, for references between -blockdev options."""


def blockdev_from_options(options, registry: NodeRegistry | None = None) -> BlockBackend:
    """Build a graph from a -blockdev option dict (flat dotted keys or nested)."""
    if isinstance(options, str):
        options = parse_option_string(options)
    options = nest_options(options)
    node = _node_from_dict(options, registry if registry is not None else NodeRegistry())
    read_only = node.read_only
    force = parse_bool(options.get("force-share", False), "force-share")
    return BlockBackend(node, read_only=read_only, force_share=force)


def _node_from_dict(opts: dict, registry: NodeRegistry, parent_read_only: bool | None = None,
                    inherited_cache: str | None = None) -> BlockNode:
    driver = opts.get("driver")
    if not driver:
        raise BlockError("Parameter 'driver' is missing")
    known = {"driver", "node-name", "read-only", "cache", "force-share", "file", "backing", "filename",
             "locking", "discard", "detect-zeroes", "auto-read-only", "aio", "offset", "size", "active"}
    for key in opts:
        if key not in known:
            raise BlockError(f"Parameter '{key}' is unexpected")
    read_only = parse_bool(opts.get("read-only", parent_read_only or False), "read-only")
    force_share = parse_bool(opts.get("force-share", False), "force-share")
    inactive = not parse_bool(opts.get("active", True), "active")
    cache = inherited_cache or "writeback"
    cache_opts = opts.get("cache")
    if isinstance(cache_opts, dict):
        direct = parse_bool(cache_opts.get("direct", False), "cache.direct")
        no_flush = parse_bool(cache_opts.get("no-flush", False), "cache.no-flush")
        cache = "unsafe" if no_flush else ("none" if direct else "writeback")
    name = opts.get("node-name")
    if name and name in registry:
        raise BlockError(f"Duplicate nodes with node-name='{name}'")
    if driver == "file":
        if "filename" not in opts:
            raise BlockError("Parameter 'filename' is missing")
        node = FileNode(opts["filename"], read_only=read_only, cache=cache,
                        locking=opts.get("locking", "auto"), node_name=name)
        node.active = not inactive
        node.set_perm(*perms_for(read_only, force_share))
    elif driver in FORMATS:
        child = opts.get("file")
        if child is None:
            raise BlockError("Parameter 'file' is missing")
        if isinstance(child, str):
            if child not in registry:
                raise BlockError(f"Cannot find device='' nor node-name='{child}'")
            file = registry[child]
        else:
            child = dict(child)
            child.setdefault("driver", "file")
            if read_only:
                child.setdefault("read-only", "on")
            if force_share:
                child.setdefault("force-share", "on")
            if inactive:
                child.setdefault("active", "off")
            file = _node_from_dict(child, registry, read_only, cache)
        try:
            if driver == "raw":
                node = RawNode(file, node_name=name, read_only=read_only,
                               offset=int(opts.get("offset", 0)),
                               size=int(opts["size"]) if "size" in opts else None)
            else:
                node = Qcow2Node(file, node_name=name, read_only=read_only)
                node.active = not inactive
                backing = opts.get("backing", "")
                if isinstance(backing, dict):
                    child = dict(backing)
                    child.setdefault("read-only", "on")
                    node.backing = _node_from_dict(child, registry, True, cache)
                elif backing and backing not in ("null",):
                    if backing not in registry:
                        raise BlockError(f"Cannot find device='' nor node-name='{backing}'")
                    node.backing = registry[backing]
                elif backing == "" and node.header.backing_file and "backing" not in opts:
                    path = resolve_backing(file.filename, node.header.backing_file)
                    node.backing = open_node(path, node.header.backing_format, read_only=True,
                                             force_share=force_share, cache=cache, inactive=inactive)
        except BaseException:
            file.close()
            raise
    else:
        raise BlockError(f"Unknown driver '{driver}'")
    node.active = not inactive
    registry[node.node_name] = node
    return node


def drive_from_options(options) -> BlockBackend:
    """A -drive option string or flat dict: file=, format=, readonly=, snapshot=,
    cache= (or cache.direct=/cache.no-flush=), force-share=, file.locking=,
    node-name=/id=. Machine-level keys (if=, index=, media=, ...) are ignored here."""
    from .options import split_options
    flat = dict(split_options(options)) if isinstance(options, str) else dict(options)
    filename = flat.get("file", flat.get("file.filename"))
    if isinstance(filename, dict):
        filename = filename.get("filename")
    if not filename:
        raise BlockError("-drive: Parameter 'file' is missing")
    fmt = flat.get("format") or flat.get("driver")
    if fmt is not None and fmt not in FORMATS:
        raise BlockError(f"'{fmt}' invalid format")
    read_only = parse_bool(flat.get("readonly", flat.get("read-only", False)), "readonly")
    snapshot = parse_bool(flat.get("snapshot", False), "snapshot")
    force = parse_bool(flat.get("force-share", flat.get("file.force-share", False)), "force-share")
    cache = flat.get("cache", "writeback")
    if "cache.direct" in flat or "cache.no-flush" in flat:
        direct = parse_bool(flat.get("cache.direct", False), "cache.direct")
        no_flush = parse_bool(flat.get("cache.no-flush", False), "cache.no-flush")
        cache = "unsafe" if no_flush else ("none" if direct else "writeback")
    if cache not in ("writeback", "none", "unsafe", "directsync", "writethrough"):
        raise BlockError(f"invalid cache option '{cache}'")
    locking = flat.get("file.locking", "auto")
    if locking not in ("auto", "on", "off"):
        raise BlockError(f"Parameter 'locking' does not accept value '{locking}'")
    # active=off: an incoming migration's destination reads, holds no lock,
    # and writes only after activation.
    inactive = not parse_bool(flat.get("active", True), "active")
    return open_image(filename, fmt, read_only=read_only, force_share=force, cache=cache, snapshot=snapshot,
                      locking=locking, node_name=flat.get("node-name") or flat.get("id"),
                      inactive=inactive)
