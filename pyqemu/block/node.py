"""The node graph: every driver instance is a BlockNode.

Protocol nodes (file) talk to the host; format nodes (raw, qcow2) sit on a
`file` child and may have a `backing` child. Offsets and lengths are bytes.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from .errors import BlockError
from .perms import Perm


class Status:
    """block_status answer bits (QEMU's BDRV_BLOCK_* meanings); plain ints
    because enum flag arithmetic is slow on the data path."""
    DATA = 1           # reads return data stored at this layer or below
    ZERO = 2           # reads return zeroes
    ALLOCATED = 4      # this layer decides the content (not its backing)
    OFFSET_VALID = 8   # host_offset is meaningful


@dataclass
class Extent:
    status: int
    length: int
    host_offset: int | None = None
    node: "BlockNode | None" = None   # node whose file holds host_offset
    depth: int = 0                    # how many backing links down it was found


_names = itertools.count(1)


class BlockNode:
    driver = "?"

    def __init__(self, node_name: str | None = None, read_only: bool = False):
        self.node_name = node_name or f"#block{next(_names):03d}"
        self.read_only = read_only
        self.active = True
        self.file: BlockNode | None = None
        self.backing: BlockNode | None = None
        self.closed = False

    # -- identity ----------------------------------------------------------
    @property
    def filename(self) -> str:
        return self.file.filename if self.file else self.node_name

    @property
    def length(self) -> int:
        raise NotImplementedError

    # -- data path ---------------------------------------------------------
    def pread(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def pwrite(self, offset: int, data) -> None:
        raise NotImplementedError

    def write_zeroes(self, offset: int, length: int, may_unmap: bool = False) -> None:
        self.pwrite(offset, bytes(length))

    def discard(self, offset: int, length: int) -> None:
        pass

    def flush(self) -> None:
        if self.file:
            self.file.flush()

    def truncate(self, size: int, shrink: bool = False) -> None:
        raise BlockError(f"Image format '{self.driver}' does not support resizing")

    def block_status(self, offset: int, length: int) -> Extent:
        return Extent(Status.DATA | Status.ALLOCATED, min(length, self.length - offset))

    # -- permissions and activation ---------------------------------------
    def check_writable(self) -> None:
        if self.read_only:
            raise BlockError(f"Block node is read-only: '{self.filename}'")
        if not self.active:
            raise BlockError(f"Block node '{self.node_name}' is inactive: writes refused ({self.filename})")

    def set_perm(self, perm: Perm, shared: Perm) -> None:
        """Format nodes pass the permission need of their users to their file."""
        if self.file:
            self.file.set_perm(perm, shared)

    def inactivate(self) -> None:
        """Flush, then stop writing and drop write permission (migration hand-over)."""
        if not self.active:
            return
        self.flush()
        if self.backing:
            self.backing.inactivate()
        self._drop_caches()
        self.active = False
        if self.file:
            self.file.inactivate()

    def activate(self) -> None:
        """Take ownership again: re-take locks, re-read metadata."""
        if self.active:
            return
        if self.file:
            self.file.activate()
        if self.backing:
            self.backing.activate()
        self.active = True
        self._reload()

    def _drop_caches(self) -> None:
        pass

    def _reload(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.active and not self.read_only:
                self.flush()
        finally:
            self.closed = True
            for child in (self.backing, self.file):
                if child is not None:
                    child.close()

    def chain(self):
        node = self
        while node is not None:
            yield node
            node = node.backing
