"""QEMU-style option strings: ``key=val,key2=val`` with ``,,`` escaping and
dotted keys that nest (``file.filename=x`` -> ``{"file": {"filename": "x"}}``)."""
from __future__ import annotations

from ..util import keyval
from .errors import BlockError

def parse_size(text: str, what: str = "size", default_suffix: str = "") -> int:
    """Parse '10M', '1.5G', '512' the way QEMU does (binary suffixes)."""
    try:
        return keyval.parse_size(text, default_suffix or "b")
    except ValueError:
        raise BlockError(f"Invalid {what} specified: '{text}'") from None


def split_options(text: str) -> list[tuple[str, str]]:
    """Split 'a=1,b=x,,y' into [('a','1'), ('b','x,y')]; a bare word is 'key' with value ''."""
    pairs: list[tuple[str, str]] = []
    for entry in keyval.split_commas(text):
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
