"""Splitting a QMP byte stream into JSON messages, as QEMU's JSON streamer.

Messages need no separator: the splitter counts brackets outside strings and
hands each complete top-level value to the parser. Errors are answered, not
fatal: a bad message is reported and the stream goes on after it.
"""

from __future__ import annotations

import json
import re

# QEMU's limits (qobject/json-streamer.c): token size and nesting depth.
MAX_MESSAGE = 64 << 20
MAX_NESTING = 1024

_SCALAR_END = re.compile(rb'[\s{}\[\]:,"]')
_NUMBER = re.compile(rb'-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$')


class JSONParseError(Exception):
    """A bad message: `str(e)` is QEMU's text without the "JSON parse error, " prefix."""


def _reject_constant(name: str):
    raise JSONParseError(f"invalid keyword '{name}'")


def parse_message(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONParseError("invalid UTF-8 sequence in string") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except JSONParseError:
        raise
    except RecursionError:
        raise JSONParseError("nesting too deep") from None
    except json.JSONDecodeError as e:
        word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[e.pos:])
        if word and word.group(0) not in ("true", "false", "null"):
            raise JSONParseError(f"invalid keyword '{word.group(0)}'") from None
        raise JSONParseError(e.msg[0].lower() + e.msg[1:]) from None


class JSONSplitter:
    """Feed bytes; `feed` returns a list of (value, error) per complete message."""

    def __init__(self):
        self._buf = bytearray()
        self._pos = 0            # scan position in _buf
        self._start = -1         # start of the current message
        self._depth = 0
        self._in_string = False
        self._escape = False

    def feed(self, data: bytes) -> list[tuple[object, JSONParseError | None]]:
        self._buf += data
        out: list[tuple[object, JSONParseError | None]] = []
        buf = self._buf
        i = self._pos
        n = len(buf)
        while i < n:
            c = buf[i]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif c == 0x5C:
                    self._escape = True
                elif c == 0x22:
                    self._in_string = False
                    if self._depth == 0:
                        out.append(self._finish(i + 1))
                        buf, i, n = self._buf, 0, len(self._buf)
                        continue
                i += 1
                continue
            if self._depth == 0 and self._start < 0:
                if c in b" \t\r\n":
                    i += 1
                    continue
                if c in (0x00, 0xFF):     # QEMU: resets the parser
                    i += 1
                    continue
                self._start = i
                if c in b"{[":
                    self._depth = 1
                elif c == 0x22:
                    self._in_string = True
                elif c in b"}]":
                    self._start = -1
                    out.append((None, JSONParseError("expecting value")))
                    del buf[:i + 1]
                    i, n = 0, len(buf)
                    continue
                else:
                    m = _SCALAR_END.search(bytes(buf[i:]))
                    if m is None:
                        self._start = -1       # the scalar may go on: rescan it
                        break
                    end = i + m.start()
                    word = bytes(buf[i:end]) or bytes(buf[i:i + 1])
                    end = max(end, i + 1)
                    if _NUMBER.match(word) or word in (b"true", b"false", b"null"):
                        out.append((json.loads(word), None))
                    else:
                        out.append((None, JSONParseError(
                            f"invalid keyword '{word.decode('utf-8', 'replace')}'")))
                    self._start = -1
                    del buf[:end]
                    i, n = 0, len(buf)
                    continue
                i += 1
                continue
            if c == 0x22:
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
                if self._depth > MAX_NESTING:
                    out.append(self._abort("nesting too deep"))
                    buf, i, n = self._buf, 0, len(self._buf)
                    continue
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    out.append(self._finish(i + 1))
                    buf, i, n = self._buf, 0, len(self._buf)
                    continue
            i += 1
        self._pos = i
        if self._start >= 0 and len(self._buf) - self._start > MAX_MESSAGE:
            out.append(self._abort("message too large"))
        return out

    def _finish(self, end: int):
        raw = bytes(self._buf[self._start:end])
        del self._buf[:end]
        self._reset_scan()
        try:
            return parse_message(raw), None
        except JSONParseError as e:
            return None, e

    def _abort(self, why: str):
        """Drop the message so far (too large, too deep): QEMU's streamer does the same."""
        self._buf.clear()
        self._reset_scan()
        return None, JSONParseError(why)

    def _reset_scan(self):
        self._pos = 0
        self._start = -1
        self._depth = 0
        self._in_string = False
        self._escape = False
