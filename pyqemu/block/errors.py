"""Errors of the block layer: each one is a single line naming the image."""


class BlockError(Exception):
    """A block-layer failure whose message is fit for the user as it is."""


class ImageCorrupt(BlockError):
    """Metadata of an image is inconsistent; the image must not be written."""


class PermissionConflict(BlockError):
    """Another user (in this process or another one) holds a conflicting lock."""
