"""Shared pieces of pyqemu-img: errors, opening images, sizes, progress."""
from __future__ import annotations

import getopt
import math
import json
import sys

from ...block import BlockError, open_image
from ...block.options import parse_option_string, parse_size

PROG = "pyqemu-img"


class UsageError(Exception):
    """Bad command line; exit status 1 like qemu-img."""


def die(message: str, status: int = 1):
    print(f"{PROG}: {message}", file=sys.stderr)
    raise SystemExit(status)


# --image-opts: image names are option strings (driver=qcow2,file.filename=...).
IMAGE_OPTS = False


def parse_args(argv, short: str, long: list[str]):
    global IMAGE_OPTS
    try:
        opts, args = getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as exc:
        die(str(exc))
    IMAGE_OPTS = any(opt == "--image-opts" for opt, _ in opts)
    return opts, args


def open_for(filename: str, fmt: str | None = None, read_only: bool = True, force_share: bool = False,
             cache: str = "writeback", backing: bool = True):
    try:
        if IMAGE_OPTS:
            from ...block import blockdev_from_options
            from ...block.options import nest_options, parse_option_string
            options = parse_option_string(filename)
            if "file" in options and not isinstance(options["file"], dict):
                options["file"] = {"driver": "file", "filename": options["file"]}
            if read_only:
                options.setdefault("read-only", "on")
            if force_share:
                options.setdefault("force-share", "on")
            return blockdev_from_options(nest_options(options))
        return open_image(filename, fmt, read_only=read_only, force_share=force_share, cache=cache,
                          backing=backing)
    except BlockError as exc:
        text = str(exc)
        if not text.startswith(f"Could not open '{filename}'"):
            text = f"Could not open '{filename}': {text}"
        die(text)


def size_to_str(value: int) -> str:
    """Three significant digits and a binary suffix, switching unit once the
    value reaches 1000 of the smaller one (as qemu-img prints sizes)."""
    units = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    index = 0
    if value > 0:
        index = min((math.frexp(value * 1024 / 1000)[1] - 1) // 10, len(units) - 1)
    return f"{value / (1 << (10 * index)):.3g} {units[index]}B"


def print_json(obj) -> None:
    print(json.dumps(obj, indent=4))


class Progress:
    """qemu-img -p: '    (NN.NN/100%)\\r' on stdout, in about 1 % steps."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = -1.0
        if enabled:
            self._show(0.0)

    def _show(self, pct: float) -> None:
        sys.stdout.write(f"    ({pct:3.2f}/100%)\r")
        sys.stdout.flush()
        self.last = pct

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = 100.0 * done / total if total else 100.0
        if pct - self.last >= 1.0 or (pct >= 100.0 and self.last < 100.0):
            self._show(pct)

    def finish(self) -> None:
        if self.enabled:
            self._show(100.0)
            sys.stdout.write("\n")
            sys.stdout.flush()


def parse_o_options(values: list[str]) -> dict:
    opts: dict = {}
    for value in values:
        if value == "help" or value == "?":
            raise UsageError("help")
        for key, val in parse_option_string(value).items():
            opts[key] = val
    return opts


def size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except BlockError:
        die("Invalid image size specified. You may use k, M, G, T, P or E suffixes for")
