"""BlockBackend: what a user (device, NBD export, image tool) holds on top
of a node graph. It takes the user's permissions and walks backing chains
for block status."""
from __future__ import annotations

import threading

from .errors import BlockError
from .node import BlockNode, Extent, Status
from .perms import Perm, perms_for


def _serialised(method):
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class BlockBackend:
    def __init__(self, root: BlockNode, read_only: bool = False, force_share: bool = False,
                 name: str | None = None):
        self.root = root
        self.name = name
        self.read_only = read_only
        self.force_share = force_share
        self.perm, self.shared = perms_for(read_only, force_share)
        # One request at a time through the graph: users may call from vCPU
        # threads and from the event loop's executor alike.
        self.lock = threading.RLock()

    @property
    def length(self) -> int:
        return self.root.length

    @property
    def filename(self) -> str:
        return self.root.filename

    @_serialised
    def pread(self, offset: int, length: int) -> bytes:
        return self.root.pread(offset, length)

    @_serialised
    def preadv_into(self, offset: int, buffer) -> None:
        self.root.preadv_into(offset, buffer)

    @_serialised
    def pwrite(self, offset: int, data) -> None:
        if self.read_only:
            raise BlockError(f"Block node is read-only: '{self.filename}'")
        self.root.pwrite(offset, data)

    @_serialised
    def write_zeroes(self, offset: int, length: int, may_unmap: bool = False) -> None:
        if self.read_only:
            raise BlockError(f"Block node is read-only: '{self.filename}'")
        self.root.write_zeroes(offset, length, may_unmap)

    @_serialised
    def discard(self, offset: int, length: int) -> None:
        if self.read_only:
            raise BlockError(f"Block node is read-only: '{self.filename}'")
        self.root.discard(offset, length)

    @_serialised
    def flush(self) -> None:
        self.root.flush()

    @_serialised
    def truncate(self, size: int, shrink: bool = False, prealloc: str = "off") -> None:
        self.root.truncate(size, shrink=shrink, prealloc=prealloc) if prealloc != "off" \
            else self.root.truncate(size, shrink=shrink)

    @_serialised
    def block_status(self, offset: int, length: int) -> Extent:
        """Status through the whole backing chain: DATA/ZERO as a reader sees
        it, ALLOCATED if some layer holds it, `depth` of the layer that does."""
        return chain_status(self.root, offset, length)

    @_serialised
    def inactivate(self) -> None:
        self.root.inactivate()

    @_serialised
    def activate(self) -> None:
        self.root.activate()

    @property
    def active(self) -> bool:
        return self.root.active

    @_serialised
    def close(self) -> None:
        self.root.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def chain_status(node: BlockNode, offset: int, length: int, depth: int = 0) -> Extent:
    ext = node.block_status(offset, length)
    ext.depth = depth
    if ext.status & Status.ALLOCATED or ext.length == 0:
        return ext
    backing = node.backing
    if backing is None:
        return Extent(Status.ZERO, ext.length, depth=depth)
    if offset >= backing.length:
        return Extent(Status.ZERO, ext.length, depth=depth + 1)
    below = chain_status(backing, offset, min(ext.length, backing.length - offset), depth + 1)
    return below
