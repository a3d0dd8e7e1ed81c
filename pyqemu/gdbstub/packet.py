"""Packet framing of the GDB remote serial protocol (GDB manual, appendix E
"Overview" and "Binary data"): `$payload#cs`, acknowledgements `+`/`-`, the
`}` escape of binary payloads, and the out-of-band interrupt byte 0x03."""

from __future__ import annotations

INTERRUPT = 0x03
ESCAPE = 0x7D


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """`$payload#cs`, with the characters the protocol reserves escaped."""
    out = bytearray()
    for b in payload:
        if b in (0x23, 0x24, 0x7D, 0x2A):      # '#', '$', '}', '*'
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return b"$" + bytes(out) + b"#%02x" % checksum(bytes(out))


def unescape(data: bytes) -> bytes:
    """Binary data of X and vFile packets: `}` escapes the next byte (xor 0x20)."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESCAPE:
            out.append(next(it, 0) ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


class PacketReader:
    """Splits the byte stream into packets. `feed` returns the events seen:
    ("packet", payload, checksum_ok), ("interrupt",), ("ack", b'+'/b'-')."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_packet = False
        self._cs_left = 0
        self._cs = bytearray()

    def feed(self, data: bytes) -> list[tuple]:
        events: list[tuple] = []
        for b in data:
            if self._cs_left:
                self._cs.append(b)
                self._cs_left -= 1
                if not self._cs_left:
                    payload = bytes(self._buf)
                    try:
                        ok = int(self._cs.decode(), 16) == checksum(payload)
                    except ValueError:
                        ok = False
                    events.append(("packet", payload, ok))
                    self._buf.clear()
                    self._cs.clear()
                    self._in_packet = False
                continue
            if self._in_packet:
                if b == 0x23:                  # '#': two checksum digits follow
                    self._cs_left = 2
                elif b == 0x24:                # '$' again: a new packet restarts
                    self._buf.clear()
                else:
                    self._buf.append(b)
                continue
            if b == 0x24:
                self._in_packet = True
            elif b == INTERRUPT:
                events.append(("interrupt",))
            elif b in (0x2B, 0x2D):
                events.append(("ack", bytes((b,))))
        return events
