"""Declarative, versioned descriptions of device and CPU state (the vmstate).

A device class carries one `VMStateDescription`: its section name, its
version, the oldest version it can still load, and the ordered list of its
fields. Migration, savevm/loadvm and introspection all read this one
description; nothing else knows how a device's state is laid out.

Encoding of one section's payload (our own format, big-endian like QEMU's
stream): the fields in order; integers at their width; booleans one byte;
byte strings and arrays with a u32 element count first; nested descriptions
inline. A field added in version N is written by version >= N and read only
when the sender's version is >= N (so an old stream still loads).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable


class VMStateError(Exception):
    """A section that does not fit its description (one line, names the field)."""


class Kind(enum.Enum):
    U8 = "B"
    U16 = "H"
    U32 = "I"
    U64 = "Q"
    I64 = "q"
    BOOL = "?"
    BYTES = "bytes"            # bytes/bytearray/deque of ints: u32 length + data
    ARRAY = "array"            # list of ints of `elem` width: u32 count + values
    STRUCT = "struct"          # one nested object with its own description
    STRUCT_ARRAY = "struct[]"  # list of nested objects: u32 count + each


_COUNT = struct.Struct(">I")


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    since: int = 1
    elem: Kind = Kind.U64                    # element width of an ARRAY
    vmsd: "VMStateDescription | None" = None
    # Accessors for state that is not a plain attribute (a slice of the
    # register file, a computed clock value); default: getattr/setattr.
    get: Callable[[Any], Any] | None = None
    set: Callable[[Any, Any], None] | None = None


@dataclass(frozen=True)
class VMStateDescription:
    name: str
    version_id: int
    minimum_version_id: int
    fields: tuple[Field, ...]
    # Hooks: a callable(obj), or the name of a method of obj. post_load gets
    # the version that was loaded.
    pre_save: Callable | str | None = None
    post_load: Callable | str | None = None
    extra: dict = dc_field(default_factory=dict, compare=False)


# -- constructors that read like QEMU's VMSTATE_* macros -------------------------------
def u8(name, since=1, **kw): return Field(name, Kind.U8, since, **kw)
def u16(name, since=1, **kw): return Field(name, Kind.U16, since, **kw)
def u32(name, since=1, **kw): return Field(name, Kind.U32, since, **kw)
def u64(name, since=1, **kw): return Field(name, Kind.U64, since, **kw)
def i64(name, since=1, **kw): return Field(name, Kind.I64, since, **kw)
def boolean(name, since=1, **kw): return Field(name, Kind.BOOL, since, **kw)
def buffer(name, since=1, **kw): return Field(name, Kind.BYTES, since, **kw)
def array(name, elem=Kind.U64, since=1, **kw): return Field(name, Kind.ARRAY, since, elem=elem, **kw)
def struct_(name, vmsd, since=1, **kw): return Field(name, Kind.STRUCT, since, vmsd=vmsd, **kw)
def struct_array(name, vmsd, since=1, **kw): return Field(name, Kind.STRUCT_ARRAY, since, vmsd=vmsd, **kw)


_SCALARS = {k: struct.Struct(">" + k.value) for k in (Kind.U8, Kind.U16, Kind.U32, Kind.U64,
                                                      Kind.I64, Kind.BOOL)}
_LIMITS = {Kind.U8: 8, Kind.U16: 16, Kind.U32: 32, Kind.U64: 64}


def _hook(hook, obj, *args):
    if hook is None:
        return
    fn = getattr(obj, hook) if isinstance(hook, str) else hook
    fn(*args) if isinstance(hook, str) else fn(obj, *args)


def _get(f: Field, obj):
    return f.get(obj) if f.get else getattr(obj, f.name)


def _scalar_bytes(kind: Kind, value, where: str) -> bytes:
    if kind in _LIMITS:
        value = int(value)
        if value < 0 or value >> _LIMITS[kind]:
            raise VMStateError(f"{where}: value {value:#x} does not fit {kind.name}")
    elif kind is Kind.BOOL:
        value = bool(value)
    return _SCALARS[kind].pack(value)


def save_state(vmsd: VMStateDescription, obj) -> bytes:
    out = bytearray()
    _save_into(out, vmsd, obj)
    return bytes(out)


def _save_into(out: bytearray, vmsd: VMStateDescription, obj) -> None:
    _hook(vmsd.pre_save, obj)
    for f in vmsd.fields:
        where = f"{vmsd.name}.{f.name}"
        value = _get(f, obj)
        if f.kind in _SCALARS:
            out += _scalar_bytes(f.kind, value, where)
        elif f.kind is Kind.BYTES:
            data = bytes(value)
            out += _COUNT.pack(len(data)) + data
        elif f.kind is Kind.ARRAY:
            out += _COUNT.pack(len(value))
            for v in value:
                out += _scalar_bytes(f.elem, v, where)
        elif f.kind is Kind.STRUCT:
            _save_into(out, f.vmsd, value)
        elif f.kind is Kind.STRUCT_ARRAY:
            out += _COUNT.pack(len(value))
            for item in value:
                _save_into(out, f.vmsd, item)


class _Reader:
    def __init__(self, data: bytes, section: str):
        self.data = memoryview(data)
        self.pos = 0
        self.section = section

    def take(self, n: int, where: str) -> memoryview:
        if self.pos + n > len(self.data):
            raise VMStateError(f"section '{self.section}': truncated at field '{where}'")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, kind: Kind, where: str):
        s = _SCALARS[kind]
        return s.unpack(self.take(s.size, where))[0]


def load_state(vmsd: VMStateDescription, obj, data: bytes, version_id: int) -> None:
    """Load one section payload written by `version_id` of this description."""
    if version_id > vmsd.version_id:
        raise VMStateError(f"section '{vmsd.name}': version {version_id} is newer than the "
                           f"supported {vmsd.version_id}")
    if version_id < vmsd.minimum_version_id:
        raise VMStateError(f"section '{vmsd.name}': version {version_id} is older than the "
                           f"oldest supported {vmsd.minimum_version_id}")
    r = _Reader(data, vmsd.name)
    # Parse everything first, apply after: a bad section leaves the object as it was.
    staged = _parse(r, vmsd, obj, version_id)
    if r.pos != len(r.data):
        raise VMStateError(f"section '{vmsd.name}': {len(r.data) - r.pos} unexpected bytes "
                           "after the last field")
    _apply(staged)


def _parse(r: _Reader, vmsd: VMStateDescription, obj, version_id: int) -> list:
    staged = []          # (vmsd, obj, [(field, value)]) in load order
    values = []
    for f in vmsd.fields:
        if f.since > version_id:
            continue
        where = f"{vmsd.name}.{f.name}"
        if f.kind in _SCALARS:
            values.append((f, r.scalar(f.kind, where)))
        elif f.kind is Kind.BYTES:
            n = r.scalar(Kind.U32, where)
            values.append((f, bytes(r.take(n, where))))
        elif f.kind is Kind.ARRAY:
            n = r.scalar(Kind.U32, where)
            current = _get(f, obj)
            if n != len(current):
                raise VMStateError(f"section '{r.section}': field '{where}' has {n} elements, "
                                   f"this machine has {len(current)}")
            values.append((f, [r.scalar(f.elem, where) for _ in range(n)]))
        elif f.kind is Kind.STRUCT:
            staged += _parse(r, f.vmsd, _get(f, obj), f.vmsd.version_id)
        elif f.kind is Kind.STRUCT_ARRAY:
            n = r.scalar(Kind.U32, where)
            items = _get(f, obj)
            if n != len(items):
                raise VMStateError(f"section '{r.section}': field '{where}' has {n} elements, "
                                   f"this machine has {len(items)}")
            for item in items:
                staged += _parse(r, f.vmsd, item, f.vmsd.version_id)
    # The parent's post_load runs after its children are in place.
    return staged + [(vmsd, obj, values, version_id)]


def _apply(staged: list) -> None:
    for vmsd, obj, values, version_id in staged:
        for f, value in values:
            if f.set:
                f.set(obj, value)
                continue
            current = getattr(obj, f.name)
            if f.kind is Kind.BYTES and isinstance(current, bytearray):
                current[:] = value
            elif f.kind is Kind.BYTES and hasattr(current, "extend") and hasattr(current, "clear"):
                current.clear()             # a deque of byte values (a FIFO)
                current.extend(value)
            elif f.kind is Kind.ARRAY and isinstance(current, list):
                current[:] = value          # lists others hold references to stay the same object
            else:
                setattr(obj, f.name, value)
        _hook(vmsd.post_load, obj, version_id)


def describe(vmsd: VMStateDescription, indent: int = 0) -> list[str]:
    """A readable outline of a description (docs, `info vmstate`-like output)."""
    pad = "  " * indent
    lines = [f"{pad}{vmsd.name} (version {vmsd.version_id}, "
             f"minimum {vmsd.minimum_version_id})"]
    for f in vmsd.fields:
        kind = f.kind.name.lower() + (f"<{f.elem.name.lower()}>" if f.kind is Kind.ARRAY else "")
        lines.append(f"{pad}  {f.name}: {kind}" + (f" since v{f.since}" if f.since > 1 else ""))
        if f.vmsd is not None:
            lines += describe(f.vmsd, indent + 2)
    return lines
