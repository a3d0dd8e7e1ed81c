"""The QMP schema, declared once: types, commands, events.

Names and shapes follow QEMU's qapi/*.json. Argument checking
(`check_arguments`), `query-commands` and `query-qmp-schema` (introspection
in QEMU's SchemaInfo format, type names unmasked) are all derived from the
declarations below.

Type expressions: builtin names ("str", "int", "bool", "number", "any",
"null", "size", "uint64"...), "[T]" for arrays, or a declared struct/enum.
A member name starting with "*" is optional, as in the qapi files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import QMPError

# Builtin types: QMP's json-type of each (introspect.json JSONType).
BUILTINS = {
    "str": "string", "int": "int", "int8": "int", "int16": "int", "int32": "int", "int64": "int",
    "uint8": "int", "uint16": "int", "uint32": "int", "uint64": "int", "size": "int",
    "number": "number", "bool": "boolean", "null": "null", "any": "value",
}
_INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1), "uint8": (0, 255), "uint16": (0, 65535),
    "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1), "size": (0, (1 << 64) - 1),
}


@dataclass(frozen=True)
class Member:
    name: str
    type: str
    optional: bool = False


def members(spec: dict[str, str]) -> tuple[Member, ...]:
    """qapi notation: {"name": "type", "*opt": "type"}."""
    return tuple(Member(k.lstrip("*"), v, k.startswith("*")) for k, v in spec.items())


@dataclass(frozen=True)
class Struct:
    name: str
    members: tuple[Member, ...]
    # Boxed unions (BlockdevOptions) accept members beyond the declared ones.
    open: bool = False


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[Member, ...] = ()
    returns: str | None = None       # None: the empty object {}
    allow_oob: bool = False
    boxed: str | None = None         # arguments are this (open) struct


@dataclass(frozen=True)
class Event:
    name: str
    data: tuple[Member, ...] = ()


@dataclass
class Schema:
    types: dict[str, Struct | Enum] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)

    def struct(self, name: str, spec: dict[str, str], open: bool = False) -> None:
        self.types[name] = Struct(name, members(spec), open)

    def enum(self, name: str, values) -> None:
        self.types[name] = Enum(name, tuple(values))

    def command(self, name: str, args: dict[str, str] | None = None, returns: str | None = None,
                allow_oob: bool = False, boxed: str | None = None) -> None:
        self.commands[name] = Command(name, members(args or {}), returns, allow_oob, boxed)

    def event(self, name: str, data: dict[str, str] | None = None) -> None:
        self.events[name] = Event(name, members(data or {}))

    # -- argument checking --------------------------------------------------------
    def check_arguments(self, cmd: Command, args: dict) -> dict:
        """Check `args` against the command's declaration; QMP's messages."""
        if cmd.boxed:
            struct = self.types[cmd.boxed]
            return self._check_object(struct.members, args, "", open_=struct.open)
        return self._check_object(cmd.args, args, "", open_=False)

    def _check_object(self, mems: tuple[Member, ...], value: dict, prefix: str,
                      open_: bool) -> dict:
        known = {m.name for m in mems}
        if not open_:
            for key in value:
                if key not in known:
                    raise QMPError("GenericError", f"Parameter '{prefix}{key}' is unexpected")
        for m in mems:
            if m.name not in value:
                if not m.optional:
                    raise QMPError("GenericError", f"Parameter '{prefix}{m.name}' is missing")
                continue
            self.check_value(m.type, value[m.name], prefix + m.name)
        return value

    def check_value(self, type_: str, value, path: str) -> None:
        def wrong(expected: str):
            raise QMPError("GenericError", f"Invalid parameter type for '{path}', "
                                           f"expected: {expected}")
        if type_.startswith("["):
            if not isinstance(value, list):
                wrong("array")
            element = type_[1:-1]
            for i, item in enumerate(value):
                # QEMU 7.2 names a bad enum value in a list 'null' (its list
                # visitor has no name for elements); other errors say path[i].
                name = "null" if isinstance(self.types.get(element), Enum) else f"{path}[{i}]"
                self.check_value(element, item, name)
            return
        if type_ in BUILTINS:
            jt = BUILTINS[type_]
            if jt == "string" and not isinstance(value, str):
                wrong("string")
            elif jt == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    wrong("integer")
                lo, hi = _INT_RANGES[type_]
                if not lo <= value <= hi:
                    raise QMPError("GenericError", f"Parameter '{path}' expects {type_}")
            elif jt == "number" and (isinstance(value, bool) or
                                     not isinstance(value, (int, float))):
                wrong("number")
            elif jt == "boolean" and not isinstance(value, bool):
                wrong("boolean")
            elif jt == "null" and value is not None:
                wrong("null")
            return
        t = self.types[type_]
        if isinstance(t, Enum):
            if not isinstance(value, str):
                wrong("string")
            if value not in t.values:
                raise QMPError("GenericError", f"Parameter '{path}' does not accept value "
                                               f"'{value}'")
            return
        if not isinstance(value, dict):
            wrong("object")
        self._check_object(t.members, value, path + ".", t.open)

    # -- introspection ----------------------------------------------------------------
    def query_commands(self) -> list[dict]:
        return [{"name": n} for n in self.commands]

    def introspect(self) -> list[dict]:
        """query-qmp-schema: SchemaInfo entries (qapi/introspect.json)."""
        out: list[dict] = []
        used: set[str] = set()

        def ref(type_: str) -> str:
            used.add(type_)
            return type_

        def object_info(name: str, mems: tuple[Member, ...]) -> dict:
            info = {"name": name, "meta-type": "object", "members": []}
            for m in mems:
                entry = {"name": m.name, "type": ref(m.type)}
                if m.optional:
                    entry["default"] = None
                info["members"].append(entry)
            return info

        ref("q_empty")
        for c in self.commands.values():
            if c.boxed:
                arg = ref(c.boxed)
            elif c.args:
                arg = f"q_obj_{c.name}-arg"
                out.append(object_info(arg, c.args))
            else:
                arg = "q_empty"
            entry = {"name": c.name, "meta-type": "command", "arg-type": arg,
                     "ret-type": ref(c.returns or "q_empty")}
            if c.allow_oob:
                entry["allow-oob"] = True
            out.append(entry)
        for e in self.events.values():
            if e.data:
                arg = f"q_obj_{e.name}-arg"
                out.append(object_info(arg, e.data))
            else:
                arg = "q_empty"
            out.append({"name": e.name, "meta-type": "event", "arg-type": arg})
        out.append({"name": "q_empty", "meta-type": "object", "members": []})
        done = {"q_empty"}
        while used - done:
            for name in sorted(used - done):
                done.add(name)
                if name.startswith("["):
                    out.append({"name": name, "meta-type": "array",
                                "element-type": ref(name[1:-1])})
                elif name in BUILTINS:
                    out.append({"name": name, "meta-type": "builtin",
                                "json-type": BUILTINS[name]})
                else:
                    t = self.types[name]
                    if isinstance(t, Enum):
                        out.append({"name": name, "meta-type": "enum", "values": list(t.values),
                                    "members": [{"name": v} for v in t.values]})
                    else:
                        out.append(object_info(name, t.members))
        return out
