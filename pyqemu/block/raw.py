"""The `raw` format driver: guest offsets are file offsets (plus an optional
offset/size window, as QEMU's raw driver allows)."""
from __future__ import annotations

from .errors import BlockError
from .node import BlockNode, Extent, Status


class RawNode(BlockNode):
    driver = "raw"

    def __init__(self, file: BlockNode, node_name: str | None = None, read_only: bool = False,
                 offset: int = 0, size: int | None = None):
        super().__init__(node_name, read_only)
        self.file = file
        self.offset = offset
        self.size = size

    @property
    def length(self) -> int:
        if self.size is not None:
            return self.size
        return max(0, self.file.length - self.offset)

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.length:
            raise BlockError(f"Request out of range ({offset}+{length} > {self.length}) on '{self.filename}'")

    def pread(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        return self.file.pread(self.offset + offset, length)

    def preadv_into(self, offset: int, buffer) -> None:
        self.file.preadv_into(self.offset + offset, buffer)

    def pwrite(self, offset: int, data) -> None:
        self.check_writable()
        self._check(offset, len(data))
        self.file.pwrite(self.offset + offset, data)

    def write_zeroes(self, offset: int, length: int, may_unmap: bool = False) -> None:
        self.check_writable()
        self._check(offset, length)
        self.file.write_zeroes(self.offset + offset, length, may_unmap)

    def discard(self, offset: int, length: int) -> None:
        self.check_writable()
        self.file.discard(self.offset + offset, length)

    def truncate(self, size: int, shrink: bool = False, prealloc: str = "off") -> None:
        self.check_writable()
        if self.offset or self.size is not None:
            raise BlockError(f"Cannot resize raw images with an offset or size: '{self.filename}'")
        if size < self.length and not shrink:
            raise BlockError("Use the --shrink option to perform a shrink operation.")
        self.file.truncate(size, shrink, prealloc)

    def block_status(self, offset: int, length: int) -> Extent:
        ext = self.file.block_status(self.offset + offset, min(length, self.length - offset))
        status = ext.status | Status.ALLOCATED | Status.OFFSET_VALID
        return Extent(status, ext.length, self.offset + offset, self.file)
