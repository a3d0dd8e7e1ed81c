"""The migration stream: a header, then records, then an end marker.

Our own format (QEMU's facts carried over: big-endian, sections named per
device with an instance id and a version, RAM sent in pages with zero pages
as markers). Every record is checked by the reader: its type, its lengths,
the section's name, instance and version against this machine, the CRC of
each device payload, and the RAM offsets against the RAM blocks. A stream
that is short, corrupt or meant for another machine fails with one line.

    header      MAGIC "PYQM" | u32 STREAM_VERSION
    RAM_SETUP   u8 type | u16 count | count x (u16 name length, name, u64 size)
    RAM_PAGES   u8 type | u16 block | u64 first page | u32 n | n flag bytes
                (0 = zero page, 1 = data) | the data pages, 4 KiB each
    SECTION     u8 type | u16 name length | name | u32 instance | u32 version
                | u32 payload length | payload | u32 crc32(payload)
    EOF         u8 type | u32 number of device sections (a truncation check)
"""

from __future__ import annotations

import enum
import struct
import zlib

MAGIC = b"PYQM"
STREAM_VERSION = 1
PAGE_SIZE = 4096

HEADER = struct.Struct(">4sI")
RAM_BLOCK = struct.Struct(">Q")
RAM_PAGES = struct.Struct(">HQI")
SECTION_HEAD = struct.Struct(">III")    # instance, version, payload length (after the name)
U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")

MAX_NAME = 256
MAX_SECTION = 64 << 20
MAX_PAGES_PER_RECORD = 1 << 16


class Record(enum.IntEnum):
    RAM_SETUP = 1
    RAM_PAGES = 2
    SECTION = 3
    EOF = 4


class StreamError(Exception):
    """The incoming stream is not one this machine can load (one line)."""


class StreamWriter:
    """Records onto a channel's `write(bytes)`; counts what went out."""

    FLUSH_AT = 256 << 10

    def __init__(self, write):
        self._write = write
        self._buf = bytearray()
        self.bytes_sent = 0
        self.sections = 0

    def send(self, data) -> None:
        # Gathered into large writes: every write releases the interpreter
        # lock, and taking it back from a busy vCPU thread costs a switch
        # interval.
        self._buf += data
        self.bytes_sent += len(data)
        if len(self._buf) >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            self._write(data)

    def header(self) -> None:
        self.send(HEADER.pack(MAGIC, STREAM_VERSION))

    def ram_setup(self, blocks: list[tuple[str, int]]) -> None:
        out = bytearray(U8.pack(Record.RAM_SETUP) + U16.pack(len(blocks)))
        for name, size in blocks:
            raw = name.encode()
            out += U16.pack(len(raw)) + raw + RAM_BLOCK.pack(size)
        self.send(bytes(out))

    def ram_pages(self, block: int, first_page: int, pages: list) -> None:
        """`pages`: one entry per page from first_page on, None for a zero page."""
        flags = bytes(0 if p is None else 1 for p in pages)
        head = U8.pack(Record.RAM_PAGES) + RAM_PAGES.pack(block, first_page, len(pages))
        self.send(head + flags + b"".join(p for p in pages if p is not None))

    def section(self, name: str, instance: int, version: int, payload: bytes) -> None:
        raw = name.encode()
        self.send(U8.pack(Record.SECTION) + U16.pack(len(raw)) + raw +
                  SECTION_HEAD.pack(instance, version, len(payload)) + payload +
                  U32.pack(zlib.crc32(payload)))
        self.sections += 1

    def eof(self) -> None:
        self.send(U8.pack(Record.EOF) + U32.pack(self.sections))
        self.flush()


class StreamReader:
    """Reads records from a channel's `read_exactly(n)` (which returns fewer
    bytes only at the end of the stream)."""

    def __init__(self, read_exactly):
        self._read = read_exactly
        self.bytes_received = 0

    def _take(self, n: int, what: str) -> bytes:
        data = self._read(n)
        self.bytes_received += len(data)
        if len(data) != n:
            raise StreamError(f"migration stream truncated in {what}")
        return data

    def header(self) -> None:
        magic, version = HEADER.unpack(self._take(HEADER.size, "the header"))
        if magic != MAGIC:
            raise StreamError(f"not a pyqemu migration stream (magic {magic!r})")
        if version != STREAM_VERSION:
            raise StreamError(f"unsupported migration stream version {version} "
                              f"(this pyqemu reads {STREAM_VERSION})")

    def record_type(self) -> Record:
        (t,) = U8.unpack(self._take(1, "a record type"))
        try:
            return Record(t)
        except ValueError:
            raise StreamError(f"unknown record type {t:#x} in the migration stream") from None

    def ram_setup(self) -> list[tuple[str, int]]:
        (count,) = U16.unpack(self._take(2, "the RAM setup"))
        blocks = []
        for _ in range(count):
            (n,) = U16.unpack(self._take(2, "a RAM block name"))
            if n > MAX_NAME:
                raise StreamError(f"RAM block name of {n} bytes")
            name = self._take(n, "a RAM block name").decode(errors="replace")
            (size,) = RAM_BLOCK.unpack(self._take(RAM_BLOCK.size, "a RAM block size"))
            blocks.append((name, size))
        return blocks

    def ram_pages(self):
        """(block, first page, flags, data) of one RAM_PAGES record."""
        block, first, n = RAM_PAGES.unpack(self._take(RAM_PAGES.size, "a RAM record"))
        if n > MAX_PAGES_PER_RECORD:
            raise StreamError(f"RAM record of {n} pages")
        flags = self._take(n, "RAM page flags")
        if any(f > 1 for f in flags):
            raise StreamError("RAM record with an unknown page flag")
        data = self._take(PAGE_SIZE * sum(flags), "RAM pages")
        return block, first, flags, data

    def section(self) -> tuple[str, int, int, bytes]:
        (n,) = U16.unpack(self._take(2, "a section name"))
        if n > MAX_NAME:
            raise StreamError(f"section name of {n} bytes")
        name = self._take(n, "a section name").decode(errors="replace")
        instance, version, length = SECTION_HEAD.unpack(self._take(SECTION_HEAD.size,
                                                                   f"section '{name}'"))
        if length > MAX_SECTION:
            raise StreamError(f"section '{name}' claims {length} bytes")
        payload = self._take(length, f"section '{name}'")
        (crc,) = U32.unpack(self._take(4, f"section '{name}'"))
        if crc != zlib.crc32(payload):
            raise StreamError(f"section '{name}' instance {instance}: checksum mismatch "
                              "(corrupted stream)")
        return name, instance, version, payload

    def eof(self) -> int:
        (count,) = U32.unpack(self._take(4, "the end marker"))
        return count
