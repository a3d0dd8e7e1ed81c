"""The block layer: node graph (file, raw, qcow2), BlockBackend, locking.

Python API for the rest of pyqemu (see docs/block.md):
    open_image(filename, fmt=None, read_only=False, ...) -> BlockBackend
    blockdev_from_options({"driver": "qcow2", "file.filename": "x.qcow2"}) -> BlockBackend
    drive_from_options("file=x.qcow2,format=qcow2") -> BlockBackend
"""
from .backend import BlockBackend, chain_status
from .errors import BlockError, ImageCorrupt, PermissionConflict
from .node import BlockNode, Extent, Status
from .open import blockdev_from_options, drive_from_options, open_image, open_node
from .perms import Perm

__all__ = ["BlockBackend", "BlockError", "BlockNode", "Extent", "ImageCorrupt", "Perm", "PermissionConflict",
           "Status", "blockdev_from_options", "chain_status", "drive_from_options", "open_image", "open_node"]
