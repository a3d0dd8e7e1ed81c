"""Permissions a user of a node takes and shares, and their lock bytes.

QEMU's image locking (block/file-posix.c behaviour, docs/devel/...): for each
permission bit, an open-file-description read lock on byte 100 + bit means
"I hold this permission" and one on byte 200 + bit means "I do not share it".
"""
from __future__ import annotations

import enum


class Perm(enum.IntFlag):
    CONSISTENT_READ = 1 << 0
    WRITE = 1 << 1
    WRITE_UNCHANGED = 1 << 2
    RESIZE = 1 << 3


ALL_PERMS = Perm.CONSISTENT_READ | Perm.WRITE | Perm.WRITE_UNCHANGED | Perm.RESIZE
LOCK_PERM_BASE = 100
LOCK_SHARED_BASE = 200

PERM_NAMES = {
    Perm.CONSISTENT_READ: "consistent read",
    Perm.WRITE: "write",
    Perm.WRITE_UNCHANGED: "write unchanged",
    Perm.RESIZE: "resize",
}


def bits(perms: Perm):
    for perm in Perm:
        if perms & perm:
            yield perm.bit_length() - 1, perm


def perms_for(read_only: bool, force_share: bool) -> tuple[Perm, Perm]:
    """(held, shared) for an image user, as QEMU's tools take them."""
    if read_only:
        shared = ALL_PERMS if force_share else ALL_PERMS & ~(Perm.WRITE | Perm.RESIZE)
        return Perm.CONSISTENT_READ, shared
    return Perm.CONSISTENT_READ | Perm.WRITE | Perm.RESIZE, ALL_PERMS & ~(Perm.WRITE | Perm.RESIZE)
