"""A decoder built from a declarative table of encodings (the idea of QEMU's
decodetree, in Python).

Each table line names an instruction, gives its bit pattern most significant
bit first ('0'/'1' fixed, '.' a field bit; spaces are for the eye), the format
that extracts its operands, the extension it belongs to and the XLENs that
have it. Adding an instruction is one line here plus one `trans_<name>`
function holding its semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable


def _bits(v: int, hi: int, lo: int) -> int:
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


def _sext(v: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (v & (sign - 1)) - (v & sign)


@dataclass(frozen=True)
class Encoding:
    name: str            # the semantics it runs: trans_<name>
    mask: int
    match: int
    fmt: Callable[[int], SimpleNamespace]
    ext: str
    xlens: frozenset[int]
    length: int          # 2 or 4 bytes
    mnemonic: str        # as written in the table (c.addi decodes to addi)

    def specificity(self) -> int:
        return bin(self.mask).count("1")


def parse_pattern(pattern: str, width: int) -> tuple[int, int]:
    p = pattern.replace(" ", "")
    if len(p) != width:
        raise ValueError(f"pattern {pattern!r} has {len(p)} bits, want {width}")
    mask = match = 0
    for ch in p:
        mask <<= 1
        match <<= 1
        if ch in "01":
            mask |= 1
            match |= ch == "1"
        elif ch != ".":
            raise ValueError(f"bad character {ch!r} in pattern {pattern!r}")
    return mask, match


_CACHE_LIMIT = 1 << 17


class Decoder:
    """Decodes one instruction word to (Encoding, operands).

    Encodings are bucketed by their major opcode (the low 7 bits of a 32-bit
    instruction, the quadrant and funct3 of a 16-bit one) and tried most
    specific first, so overlapping patterns (c.addi16sp inside c.lui) resolve
    the way the spec orders them.
    """

    def __init__(self, encodings: list[Encoding], xlen: int, extensions: set[str]):
        self.xlen = xlen
        self._buckets: dict[tuple[int, int], list[Encoding]] = {}
        for enc in encodings:
            if xlen not in enc.xlens or enc.ext not in extensions:
                continue
            key = self._key(enc.match, enc.length)
            if (enc.mask & self._key_mask(enc.length)) != self._key_mask(enc.length):
                raise ValueError(f"{enc.mnemonic}: pattern must fix the opcode bits")
            self._buckets.setdefault(key, []).append(enc)
        for lst in self._buckets.values():
            lst.sort(key=lambda e: -e.specificity())
        # Decoded words: a kernel's blocks repeat the same few thousand
        # instruction words (each translation decodes every instruction).
        self._cache: dict[int, tuple | None] = {}

    @staticmethod
    def _key_mask(length: int) -> int:
        return 0x7F if length == 4 else 0xE003

    @staticmethod
    def _key(word: int, length: int) -> tuple[int, int]:
        return (length, word & (0x7F if length == 4 else 0xE003))

    def decode(self, word: int, length: int):
        """(Encoding, operands) or None; the operands are shared between
        calls for the same word and must not be changed."""
        key = word if length == 4 else -1 - word
        hit = self._cache.get(key, self)
        if hit is not self:
            return hit
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        out = self._cache[key] = self._decode(word, length)
        return out

    def _decode(self, word: int, length: int):
        for enc in self._buckets.get(self._key(word, length), ()):
            if word & enc.mask == enc.match:
                args = enc.fmt(word)
                if args is None:         # the format rejects a reserved encoding
                    continue
                return enc, args
        return None


def table(text: str, formats: dict[str, Callable], width: int) -> list[Encoding]:
    """Parse table lines: `mnemonic  pattern...  format  ext  [xlens] [-> name]`."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        target = None
        if "->" in line:
            line, target = (s.strip() for s in line.split("->"))
        words = line.split()
        mnemonic = words[0]
        # The pattern is every token made of 0/1/. after the mnemonic.
        pat_tokens = []
        rest = words[1:]
        while rest and set(rest[0]) <= set("01."):
            pat_tokens.append(rest.pop(0))
        fmt_name, ext = rest[0], rest[1]
        xlens = frozenset({32, 64})
        if len(rest) > 2:
            xlens = frozenset(int(x) for x in rest[2].split(","))
        mask, match = parse_pattern("".join(pat_tokens), width)
        name = target or mnemonic.replace(".", "_")
        out.append(Encoding(name, mask, match, formats[fmt_name], ext, xlens,
                            width // 8, mnemonic))
    return out
