"""pyqemu-img create, and the image creation shared with convert."""
from __future__ import annotations

import os

from ...block import BlockError
from ...block.open import open_node, probe_format, resolve_backing
from ...block.options import parse_bool, parse_size
from ...block.qcow2 import Qcow2CreateOptions, create_qcow2
from ...block.qcow2 import format as F
from .common import UsageError, die, parse_args, parse_o_options, size_arg

QCOW2_OPTIONS = ("size", "compat", "backing_file", "backing_fmt", "encryption", "encrypt.format", "cluster_size",
                 "preallocation", "lazy_refcounts", "refcount_bits", "compression_type", "extended_l2",
                 "data_file", "data_file_raw", "nocow")
RAW_OPTIONS = ("size", "preallocation", "nocow", "extent_size_hint")


def qcow2_options_from(opts: dict, size: int) -> Qcow2CreateOptions:
    for key in opts:
        if key not in QCOW2_OPTIONS:
            raise BlockError(f"Invalid parameter '{key}'")
    compat = str(opts.get("compat", "1.1"))
    if compat in ("0.10", "v2"):
        version = 2
    elif compat in ("1.1", "v3"):
        version = 3
    else:
        raise BlockError(f"Parameter 'compat' does not accept value '{compat}'")
    if parse_bool(opts.get("extended_l2", "off"), "extended_l2"):
        raise BlockError("Extended L2 entries are not supported by this implementation")
    if "data_file" in opts:
        raise BlockError("External data files are not supported by this implementation")
    if parse_bool(opts.get("encryption", "off"), "encryption") or "encrypt.format" in opts:
        raise BlockError("Encrypted images are not supported by this implementation")
    compression = str(opts.get("compression_type", "zlib"))
    kinds = {v: k for k, v in F.COMPRESSION_NAMES.items()}
    if compression not in kinds:
        raise BlockError(f"Parameter 'compression_type' does not accept value '{compression}'")
    return Qcow2CreateOptions(
        size=size, version=version,
        cluster_size=parse_size(str(opts.get("cluster_size", "65536")), "cluster size"),
        refcount_bits=int(opts.get("refcount_bits", 16)),
        lazy_refcounts=parse_bool(opts.get("lazy_refcounts", "off"), "lazy_refcounts"),
        compression_type=kinds[compression],
        backing_file=opts.get("backing_file") or None, backing_format=opts.get("backing_fmt") or None,
        preallocation=str(opts.get("preallocation", "off")))


def describe(path: str, fmt: str, size: int, opts: dict, q: Qcow2CreateOptions | None) -> str:
    """The 'Formatting ...' line, with qemu-img's option order."""
    parts = [f"Formatting '{path}', fmt={fmt}"]
    if fmt == "qcow2":
        parts.append(f"cluster_size={q.cluster_size}")
        if q.preallocation != "off":
            parts.append(f"preallocation={q.preallocation}")
        parts.append("extended_l2=off")
        parts.append(f"compression_type={F.COMPRESSION_NAMES[q.compression_type]}")
        parts.append(f"size={size}")
        if q.backing_file:
            parts.append(f"backing_file={q.backing_file}")
        if q.backing_format:
            parts.append(f"backing_fmt={q.backing_format}")
        if "compat" in opts:
            parts.append(f"compat={opts['compat']}")
        parts.append(f"lazy_refcounts={'on' if q.lazy_refcounts else 'off'}")
        parts.append(f"refcount_bits={q.refcount_bits}")
    else:
        if opts.get("preallocation", "off") != "off":
            parts.append(f"preallocation={opts['preallocation']}")
        parts.append(f"size={size}")
    return " ".join(parts)


def create_image(path: str, fmt: str, size: int | None, opts: dict, quiet: bool = False,
                 check_backing: bool = True) -> None:
    """Create an image; size may come from the backing file."""
    backing = opts.get("backing_file")
    if backing and fmt != "qcow2":
        raise BlockError(f"Backing file not supported for file format '{fmt}'")
    if backing and check_backing:
        bpath = resolve_backing(path, backing)
        if os.path.realpath(bpath) == os.path.realpath(path):
            raise BlockError("Error: Trying to create an image with the same filename as the backing file")
        try:
            bnode = open_node(bpath, opts.get("backing_fmt"), read_only=True, force_share=True)
        except BlockError as exc:
            raise BlockError(f"Could not open backing file: {str(exc)}") from None
        try:
            if not opts.get("backing_fmt"):
                raise BlockError(f"{path}: Backing file specified without backing format\n"
                                 f"Detected format of {bnode.driver}.")
            if size is None:
                size = bnode.length
        finally:
            bnode.close()
    if size is None:
        raise BlockError("Image creation needs a size parameter")
    # Images are made of whole 512-byte sectors: the size is rounded up
    # (after the 'Formatting' line, which shows what was asked, as qemu-img).
    sectors_size = (size + 511) & ~511
    if fmt == "qcow2":
        q = qcow2_options_from(opts, size)
        if not quiet:
            print(describe(path, fmt, size, opts, q))
        q.size = sectors_size
        create_qcow2(path, q)
    elif fmt == "raw":
        for key in opts:
            if key not in RAW_OPTIONS:
                raise BlockError(f"Invalid parameter '{key}'")
        if not quiet:
            print(describe(path, fmt, size, opts, None))
        size = sectors_size
        prealloc = opts.get("preallocation", "off")
        if prealloc not in ("off", "falloc", "full"):
            raise BlockError(f"Parameter 'preallocation' does not accept value '{prealloc}'")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise BlockError(f"Could not create '{path}': {os.strerror(exc.errno)}") from None
        try:
            os.ftruncate(fd, size)
            if prealloc == "falloc" and size:
                os.posix_fallocate(fd, 0, size)
            elif prealloc == "full":
                step = 1 << 20
                for pos in range(0, size, step):
                    os.pwrite(fd, bytes(min(step, size - pos)), pos)
        finally:
            os.close(fd)
    else:
        raise BlockError(f"Unknown file format '{fmt}'")


def cmd_create(argv) -> int:
    opts, args = parse_args(argv, "F:b:f:ho:qu", ["object="])
    fmt, backing, backing_fmt, o_opts, quiet, unsafe = "raw", None, None, [], False, False
    for opt, val in opts:
        if opt == "-f":
            fmt = val
        elif opt == "-b":
            backing = val
        elif opt == "-F":
            backing_fmt = val
        elif opt == "-o":
            o_opts.append(val)
        elif opt == "-q":
            quiet = True
        elif opt == "-u":
            unsafe = True
    if not args:
        die("Expecting image file name")
    if len(args) > 2:
        die(f"Unexpected argument: {args[2]}")
    try:
        options = parse_o_options(o_opts)
    except UsageError:
        print("Supported options:\n  " + "\n  ".join(QCOW2_OPTIONS if fmt == "qcow2" else RAW_OPTIONS))
        return 0
    if backing:
        options["backing_file"] = backing
    if backing_fmt:
        options["backing_fmt"] = backing_fmt
    size = size_arg(args[1]) if len(args) == 2 else (parse_size(str(options["size"])) if "size" in options else None)
    options.pop("size", None)
    if size is not None and size % 512 and fmt == "qcow2":
        pass
    path = args[0]
    try:
        create_image(path, fmt, size, options, quiet, check_backing=not unsafe)
    except BlockError as exc:
        msg = str(exc)
        die(msg if msg.startswith(path) or "Backing" in msg.split(":")[0] else f"{path}: {msg}")
    return 0
