"""QEMU's option-string syntax, shared by the command line and the block
layer: `key=val,key2=val2` with `,,` standing for a literal comma, and sizes
with binary suffixes (`512`, `64k`, `1.5G`)."""

from __future__ import annotations

import re

_SIZE_SUFFIXES = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
                  "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]?)\s*$")


def split_commas(text: str) -> list[str]:
    """Split on single commas; ',,' stands for a literal comma."""
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur.append(",")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def parse_size(text: str, default_suffix: str = "b") -> int:
    """A size as QEMU takes it; ValueError (with no message) when malformed or
    2^63 or more. `default_suffix` applies to a bare number (`-m 512` is MiB)."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(text)
    number, suffix = match.group(1), (match.group(2) or default_suffix).lower()
    if suffix not in _SIZE_SUFFIXES:
        raise ValueError(text)
    unit = _SIZE_SUFFIXES[suffix]
    value = int(float(number) * unit) if "." in number else int(number) * unit
    if value >= 1 << 63:
        raise ValueError(text)
    return value
