"""QEMU-style command lines: `-opt value` options from a table, and the
`key=val,key2=val2` syntax of their values (with `,,` for a literal comma
and an implied first key, as in `-machine virt,dumpdtb=x`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..util import keyval
from ..util.keyval import split_commas


class OptionError(Exception):
    """A bad command line: the message names the option."""


@dataclass(frozen=True)
class OptionSpec:
    name: str
    has_arg: bool
    help: str
    metavar: str = ""
    aliases: tuple[str, ...] = ()


def parse_command_line(argv: list[str], specs: list[OptionSpec]) -> list[tuple[str, str | None]]:
    """[(canonical option name, value or None)] in command-line order."""
    table = {}
    for s in specs:
        table[s.name] = s
        for a in s.aliases:
            table[a] = s
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            raise OptionError(f"{arg}: invalid option (a QEMU system emulator takes only options)")
        name = arg.lstrip("-")           # QEMU accepts -opt and --opt alike
        spec = table.get(name)
        if spec is None:
            raise OptionError(f"{arg}: invalid option")
        if spec.has_arg:
            if i + 1 >= len(argv):
                raise OptionError(f"{arg}: requires an argument")
            out.append((spec.name, argv[i + 1]))
            i += 2
        else:
            out.append((spec.name, None))
            i += 1
    return out


def parse_keyval(text: str, implied: str | None = None, option: str = "") -> dict[str, str]:
    """`virt,dumpdtb=x` -> {implied: 'virt', 'dumpdtb': 'x'}; a bare `flag` -> 'on'."""
    out: dict[str, str] = {}
    for n, part in enumerate(split_commas(text)):
        if part == "" :
            if n == 0 and implied:
                continue
            raise OptionError(f"{option} {text}: empty parameter")
        if "=" in part:
            key, _, val = part.partition("=")
            if not key:
                raise OptionError(f"{option} {text}: parameter without a name")
        elif n == 0 and implied:
            key, val = implied, part
        else:
            key, val = part, "on"
        out[key] = val
    return out


def parse_size(text: str, default_unit: str = "m", option: str = "-m") -> int:
    """Sizes as QEMU takes them: a number with an optional k/M/G/T suffix;
    with no suffix `-m` means MiB."""
    try:
        return keyval.parse_size(text, default_unit)
    except ValueError:
        raise OptionError(f"{option} {text}: invalid size") from None


def parse_bool(text: str, option: str) -> bool:
    if text in ("on", "yes", "true", "y"):
        return True
    if text in ("off", "no", "false", "n"):
        return False
    raise OptionError(f"{option}: '{text}' is not 'on' or 'off'")
