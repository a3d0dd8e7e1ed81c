"""Compressed clusters ("Compressed Clusters Descriptor"): zlib (raw deflate,
window 4 KiB as QEMU writes it) and zstd."""
from __future__ import annotations

import io
import zlib

import zstandard

from ..errors import ImageCorrupt
from .format import COMPRESSION_ZLIB, COMPRESSION_ZSTD


def compress(data: bytes, kind: int) -> bytes:
    if kind == COMPRESSION_ZLIB:
        obj = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -12, 9)
        return obj.compress(data) + obj.flush()
    if kind == COMPRESSION_ZSTD:
        return zstandard.ZstdCompressor(level=3, write_content_size=False).compress(data)
    raise ValueError(kind)


def decompress(data: bytes, size: int, kind: int, where: str) -> bytes:
    try:
        if kind == COMPRESSION_ZLIB:
            out = zlib.decompressobj(-12).decompress(data, size)
        else:
            # A bounded read: a hostile frame cannot make us allocate more
            # than one cluster, and bytes after the frame are ignored.
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                out = reader.read(size)
    except (zlib.error, zstandard.ZstdError) as exc:
        raise ImageCorrupt(f"Could not decompress cluster of {where}: {exc}") from None
    if len(out) != size:
        raise ImageCorrupt(f"Compressed cluster of {where} decompresses to {len(out)} bytes, not {size}")
    return out
