"""The target-independent intermediate representation of a translation block.

A front end (target/riscv/translate.py) turns guest instructions into a
list of `Op`s; a backend (interp.py, and later native ones) runs them. The
IR knows nothing of RISC-V: it has registers, constants, arithmetic at a
given width, memory accesses through the CPU's softmmu, helper calls, and
block exits.

Operands are either register indices (ints: a flat register file shared by
guest registers and block temporaries, laid out by the front end) or
`Const`s. Values are unsigned ints of `bits` width; signed operations
interpret their inputs as two's complement of that width.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class Const:
    value: int

    def __repr__(self) -> str:
        return f"${self.value:#x}"


Operand = int | Const


class Opc(enum.Enum):
    # d = a (value copy)
    MOV = "mov"
    # d = a OP b at `bits`; results wrap
    ADD = "add"
    SUB = "sub"
    AND = "and"
    OR = "or"
    XOR = "xor"
    SHL = "shl"          # shift amount taken modulo bits
    SHR = "shr"
    SAR = "sar"
    ROTL = "rotl"
    ROTR = "rotr"
    MUL = "mul"
    MULH = "mulh"        # high half of signed x signed
    MULHU = "mulhu"      # high half of unsigned x unsigned
    MULHSU = "mulhsu"    # high half of signed x unsigned
    # Division never traps: by zero gives all ones (div) or the dividend (rem);
    # signed overflow gives the dividend (div) or 0 (rem).
    DIV = "div"
    DIVU = "divu"
    REM = "rem"
    REMU = "remu"
    # Unary at `bits`
    CLZ = "clz"
    CTZ = "ctz"
    CPOP = "cpop"
    BSWAP = "bswap"
    # d = extend(a) from `from_bits` to `bits`, signed or not (in `aux`)
    EXT = "ext"
    # d = (a COND b) ? 1 : 0
    SETCOND = "setcond"
    # d = (a COND b) ? c : e
    MOVCOND = "movcond"
    # d = load(a + offset), `size` bytes, signed in `aux`
    LD = "ld"
    # store(a + offset) = b, `size` bytes
    ST = "st"
    # d = helper(cpu, *args); d may be None
    CALL = "call"
    # if (a COND b) goto label
    BRCOND = "brcond"
    LABEL = "label"
    # Start of a guest instruction: `a` is its guest PC. Everything up to the
    # next INSN_START belongs to it; on an exception the backend reports it.
    INSN_START = "insn_start"
    # Leave the block; the next PC is the constant or register `a`.
    # GOTO_TB marks a direct (chainable) exit, EXIT an indirect one.
    GOTO_TB = "goto_tb"
    EXIT = "exit"


class Cond(enum.Enum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    GE = "ge"
    LTU = "ltu"
    GEU = "geu"


def fast_members(enum_cls: type[enum.Enum]) -> types.SimpleNamespace:
    """The members of an IR enum as plain attributes, for the hot paths (front
    end, backends): on Python 3.11 reading `Opc.ADD` passes through EnumType's
    `__getattr__` hook, about 0.3 us, ten times a plain attribute, and the
    translator and backends read members millions of times while Linux boots.
    The values are the enum members themselves."""
    return types.SimpleNamespace(**enum_cls.__members__)


@dataclass(slots=True)
class Op:
    opc: Opc
    d: int | None = None
    a: Operand | None = None
    b: Operand | None = None
    c: Operand | None = None
    e: Operand | None = None
    bits: int = 64
    size: int = 0                 # memory access size in bytes
    offset: int = 0               # memory displacement
    cond: Cond | None = None
    aux: Any = None               # signedness, extend width, label, helper function
    args: tuple = ()              # helper arguments

    def __repr__(self) -> str:
        parts = [self.opc.value]
        if self.cond:
            parts.append(self.cond.value)
        if self.opc in (Opc.LD, Opc.ST):
            parts.append(f"{'s' if self.aux else 'u'}{self.size * 8}")
        elif self.opc is Opc.EXT:
            parts.append(f"{'s' if self.aux[1] else 'u'}{self.aux[0]}")
        elif self.bits != 64:
            parts.append(f"i{self.bits}")
        fields = []
        if self.d is not None:
            fields.append(f"r{self.d}")
        for v in (self.a, self.b, self.c, self.e):
            if v is not None:
                fields.append(repr(v) if isinstance(v, Const) else f"r{v}")
        if self.opc in (Opc.LD, Opc.ST) and self.offset:
            fields.append(f"+{self.offset:#x}")
        if self.opc is Opc.CALL:
            name = getattr(self.aux, "__name__", str(self.aux))
            fields.append(name + "(" + ", ".join(
                repr(x) if isinstance(x, Const) else f"r{x}" for x in self.args) + ")")
        if self.opc in (Opc.LABEL, Opc.BRCOND):
            fields.append(f"L{self.aux}")
        return parts[0] + ("." + ".".join(parts[1:]) if len(parts) > 1 else "") + " " + ", ".join(fields)


@dataclass
class Block:
    """A translation block: guest code from `pc`, straight-line until an exit."""

    pc: int
    flags: int                   # translation-time CPU state the code depends on
    ops: list[Op] = field(default_factory=list)
    insn_pcs: list[int] = field(default_factory=list)
    size: int = 0                # bytes of guest code covered
    phys_pages: tuple[int, ...] = ()
    # Filled by a backend: a callable running the block on a CPU.
    code: Callable | None = None

    @property
    def n_insns(self) -> int:
        return len(self.insn_pcs)

    def dump(self) -> str:
        return "\n".join(f"  {op!r}" for op in self.ops)
