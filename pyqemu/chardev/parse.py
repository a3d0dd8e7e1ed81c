"""Turning a `-serial` value into a chardev backend, outside a machine's
command line (the CLI keeps a registry of named chardevs and calls
`options.parse_legacy` itself)."""

from __future__ import annotations

from pyqemu.chardev.base import Chardev
from pyqemu.chardev.options import ChardevRegistry, parse_legacy


def parse_serial(spec: str, option: str = "-serial") -> Chardev | None:
    """`stdio`, `mon:stdio`, `null`, `none` (no device: returns None),
    `file:PATH`, `unix:PATH[,server=on...]`, `tcp:HOST:PORT[,...]`, `pty`.

    Raises ChardevError with a one-line message in QEMU's words, prefixed
    with the option and its value.
    """
    return parse_legacy(spec, "serial0", ChardevRegistry(), option)
