"""QEMU-style option strings: ``key=val,key2=val`` with ``,,`` escaping and
dotted keys that nest (``file.filename=x`` -> ``{"file": {"filename": "x"}}``)."""
from __future__ import annotations

import re

from .errors import BlockError

_SIZE_SUFFIXES = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
                  "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]?)\s*$")


def parse_size(text: str, what: str = "size", default_suffix: str = "") -> int:
    """Parse '10M', '1.5G', '512' the way QEMU does (binary suffixes)."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise BlockError(f"Invalid {what} specified: '{text}'")
    number, suffix = match.group(1), (match.group(2) or default_suffix).lower()
    if suffix not in _SIZE_SUFFIXES:
        raise BlockError(f"Invalid {what} specified: '{text}'")
    value = float(number) * _SIZE_SUFFIXES[suffix] if "." in number else int(number) * _SIZE_SUFFIXES[suffix]
    value = int(value)
    if value >= 1 << 63:
        raise BlockError(f"Invalid {what} specified: '{text}' is too large")
    return value


def split_options(text: str) -> list[tuple[str, str]]:
    """Split 'a=1,b=x,,y' into [('a','1'), ('b','x,y')]; a bare word is 'key' with value ''."""
    pairs: list[tuple[str, str]] = []
    item, i = [], 0
    items: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                item.append(",")
                i += 2
                continue
            items.append("".join(item))
            item = []
        else:
            item.append(ch)
        i += 1
    items.append("".join(item))
    for entry in items:
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        pairs.append((key, value if sep else ""))
    return pairs


def nest_options(pairs) -> dict:
    """Turn flat dotted keys into nested dicts; later keys win."""
    root: dict = {}
    items = pairs.items() if isinstance(pairs, dict) else pairs
    for key, value in items:
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if isinstance(value, dict):
            node.setdefault(parts[-1], {}).update(nest_options(value))
        else:
            node[parts[-1]] = value
    return root


def parse_option_string(text: str) -> dict:
    return nest_options(split_options(text))


def parse_bool(value, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("on", "yes", "true", "1", ""):
        return True
    if text in ("off", "no", "false", "0"):
        return False
    raise BlockError(f"Parameter '{what}' expects 'on' or 'off'")
