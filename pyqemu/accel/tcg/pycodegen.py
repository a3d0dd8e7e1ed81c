"""A TCG backend that compiles each translation block to one Python function.

The interpreter (interp.py) walks a list of closures, one per op, and pays a
Python call, a `cpu.r` lookup and list indexing for every operand. Here the
whole block becomes straight-line Python source, compiled once:

- guest registers live in function locals (`v<index>`) from their first use
  to the end of the block, and go back to `cpu.r` only at exits, before
  helper calls (which may read or write the register file), and in the
  exception handler;
- constants propagate and fold (lui/addi pairs, auipc, link registers), so
  an op whose operands are all known produces no code at all;
- masks are dropped where the width of a value is known to make them no-ops,
  and an add or subtract of in-range values wraps with a compare (masking a
  64-bit int builds a new multi-digit int; comparing does not);
- a copy (mv) shares the source's local; a new value of a register whose
  local is still shared goes to a fresh local, so no local is overwritten
  while something refers to it;
- the TLB fast path of loads and stores is inline; the slow path calls the
  CPU and then re-reads the TLB dictionaries and the reservation flag, which
  a slow access or a helper may have changed;
- a BRCOND becomes an `if`: each side is emitted on its own (the code after
  a branch is duplicated rather than merged, so the register state of every
  emitted line is known statically). Only forward branches exist that way;
  a block with a backward branch runs on the interpreter. The front end's
  own shape (`brcond; exit; label; exit`) becomes one conditional expression
  for the next pc.

Compiling costs about a hundred interpreter runs of the block, so a block
first runs on the interpreter's code and is compiled when it turns hot.

Exceptions: before each op that can raise (memory access, helper call) the
function stores a small integer, its *fault point*, in the local `p`. The
handler knows for each fault point which instruction it belongs to and which
registers held newer values in locals than in `cpu.r`, writes those back,
sets `cpu.pc` to the faulting instruction and adds the instructions retired
before it to `cpu.instret`, then re-raises: the state is the one the
interpreter leaves.

Two assumptions, both constructor options:
- registers at or above `temp_base` are block temporaries (the RISC-V front
  end's layout): their values die with the block and are never written back;
- every register holds an int in [0, 2**`register_width`) when a block starts
  (the guest register file only ever holds such values), so a 64-bit op on a
  register needs no input mask, and `load_slow` of an unsigned value returns
  no more than its size's bits. `register_width=None` assumes nothing.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from .interp import InterpBackend
from .ir import Block, Cond, Const, Opc, fast_members

Opc = fast_members(Opc)      # plain attributes: see ir.fast_members
Cond = fast_members(Cond)

_UNPACK = {(1, False): "B", (2, False): "H", (4, False): "I", (8, False): "Q",
           (1, True): "b", (2, True): "h", (4, True): "i", (8, True): "q"}
_PACK = {1: "B", 2: "H", 4: "I", 8: "Q"}

_ALU2 = (Opc.ADD, Opc.SUB, Opc.AND, Opc.OR, Opc.XOR, Opc.SHL, Opc.SHR, Opc.SAR,
         Opc.ROTL, Opc.ROTR, Opc.MUL, Opc.MULH, Opc.MULHU, Opc.MULHSU,
         Opc.DIV, Opc.DIVU, Opc.REM, Opc.REMU)
_EXITS = (Opc.BRCOND, Opc.LABEL, Opc.GOTO_TB, Opc.EXIT, Opc.INSN_START)
_COMMUTATIVE = (Opc.ADD, Opc.AND, Opc.OR, Opc.XOR, Opc.MUL)
_ALU1 = (Opc.CLZ, Opc.CTZ, Opc.CPOP, Opc.BSWAP)

# A block whose forward branches would make the emitted code more than this
# many times longer than the op list runs on the interpreter instead.
_MAX_DUPLICATION = 4
_MAX_NESTING = 40

_LOCAL = re.compile(r"^v[0-9]+(_[0-9]+)?$")
_SIMPLE = re.compile(r"^(-?[0-9]+|-?0x[0-9a-f]+|[A-Za-z_][A-Za-z_0-9]*)$")


def _sdiv(x: int, y: int, bits: int) -> int:
    """Signed division of two `bits`-wide values, truncating toward zero.
    By zero: all ones. The overflow case (-2**(bits-1) / -1) wraps to the dividend."""
    m = (1 << bits) - 1
    if y == 0:
        return m
    s = 1 << (bits - 1)
    sx, sy = (x ^ s) - s, (y ^ s) - s
    q = sx // sy
    if q < 0 and q * sy != sx:
        q += 1                          # floor -> truncate
    return q & m


def _srem(x: int, y: int, bits: int) -> int:
    """Signed remainder (sign of the dividend). By zero: the dividend; overflow: 0."""
    m = (1 << bits) - 1
    if y == 0:
        return x
    s = 1 << (bits - 1)
    sx, sy = (x ^ s) - s, (y ^ s) - s
    q = sx // sy
    if q < 0 and q * sy != sx:
        q += 1
    return (sx - q * sy) & m


@dataclass(frozen=True, slots=True)
class _Val:
    """An operand as the generated code sees it: an expression, what is
    known of its range (0 <= value < 2**width; None: nothing), and its value
    when it is a compile-time constant."""
    expr: str
    width: int | None
    const: int | None = None


def _const(v: int) -> _Val:
    return _Val(str(v) if -1000 < v < 1000 else (hex(v) if v >= 0 else "-" + hex(-v)),
                v.bit_length() if v >= 0 else None, v)


@dataclass(slots=True)
class _Reg:
    val: _Val
    dirty: bool


class _Unsupported(Exception):
    """The block has a shape this backend does not compile (backward branch,
    too much duplication): the interpreter runs it."""


class _BlockCompiler:
    """Emits the source of one block's function."""

    def __init__(self, blk: Block, temp_base: int | None, register_width: int | None):
        self.blk = blk
        self.ops = blk.ops
        self.temp_base = temp_base
        self.register_width = register_width
        self.addr_mask = (1 << getattr(blk, "xlen", 64)) - 1
        self.labels = {}
        # Op index -> index of the guest instruction it belongs to (ops before
        # the first INSN_START count as the first instruction's).
        self.insn_of: list[int] = []
        insn = -1
        for i, op in enumerate(self.ops):
            if op.opc is Opc.LABEL:
                self.labels[op.aux] = i
            elif op.opc is Opc.INSN_START:
                insn += 1
            self.insn_of.append(max(insn, 0))
        self.lines: list[str] = []
        # Names the generated function binds as default arguments (fast
        # locals): only what the block uses is added.
        self.ns: dict[str, object] = {}
        self.p_lines: list[int] = []
        self.helpers: dict[int, str] = {}
        self.fault_points: list[tuple[int, list[tuple[int, str]]]] = [(0, [])]
        self.ntemp = 0
        self.nfresh = 0
        self.emitted_ops = 0
        self.budget = _MAX_DUPLICATION * len(self.ops) + 64
        self.uses_load = any(op.opc is Opc.LD for op in self.ops)
        self.uses_store = any(op.opc is Opc.ST for op in self.ops)

    # -- source -----------------------------------------------------------------
    def source(self) -> str:
        self._path(0, {}, 2)
        body = self.lines
        n = self.blk.n_insns
        out = ["def run(cpu" + "".join(f", {k}={k}" for k in self.ns) + "):",
               "    r = cpu.r"]
        if self.uses_load:
            out.append("    tlb_r = cpu.tlb_r.get")
        if self.uses_store:
            out.append("    tlb_w = cpu.tlb_w.get")
            out.append("    resv = cpu.reservation is not None")
        ks = tuple(k for k, _ in self.fault_points)
        use_p = len(set(ks)) > 1 or any(w for _, w in self.fault_points)
        if use_p:
            out.append("    p = 0")
        else:
            drop = set(self.p_lines)
            body = [ln for i, ln in enumerate(body) if i not in drop]
        out.append("    try:")
        out.extend(body or ["        pass"])
        out.append("    except BaseException:")
        self.ns["_pcs"] = self.blk.insn_pcs
        # One line per (register, local) pair, guarded by the fault points at
        # which that local holds the register's newest value: in straight-line
        # code a contiguous range, so the handler grows with the block, not
        # with the block times its memory accesses.
        pairs: dict[tuple[int, str], list[int]] = {}
        for idx, (_k, writes) in enumerate(self.fault_points):
            for pair in writes:
                pairs.setdefault(pair, []).append(idx)
        for (reg, expr), idxs in pairs.items():
            if len(idxs) == 1:
                test = f"p == {idxs[0]}"
            elif idxs[-1] - idxs[0] == len(idxs) - 1:
                test = f"{idxs[0]} <= p <= {idxs[-1]}"
            else:
                test = f"p in {frozenset(idxs)!r}"
            out.append(f"        if {test}: r[{reg}] = {expr}")
        if len(set(ks)) == 1:
            out.append(f"        k = {ks[0]}")
        else:
            self.ns["_K"] = ks
            out.append("        k = _K[p]")
        out.append("        cpu.pc = _pcs[k]")
        out.append("        cpu.instret += k")
        out.append("        raise")
        out.append(f"    cpu.instret += {n}")
        return "\n".join(out) + "\n"

    def namespace(self) -> dict:
        return self.ns

    # -- emission helpers ---------------------------------------------------------
    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    def temp_name(self) -> str:
        self.ntemp += 1
        return f"_t{self.ntemp}"

    def is_temp(self, reg: int) -> bool:
        return self.temp_base is not None and reg >= self.temp_base

    def read(self, x, regs, ind) -> _Val:
        """The value of an operand; a register's first use loads it into a local."""
        if isinstance(x, Const):
            return _const(x.value)
        st = regs.get(x)
        if st is None:
            name = self.bind(x, regs)
            self.emit(ind, f"{name} = r[{x}]")
            st = regs[x] = _Reg(_Val(name, self.register_width), False)
        return st.val

    def simple(self, expr: str, ind: int) -> str:
        """An expression that may be evaluated twice cheaply: a name or a literal."""
        if _SIMPLE.match(expr):
            return expr
        t = self.temp_name()
        self.emit(ind, f"{t} = {expr}")
        return t

    def write(self, d: int, expr: str, width: int | None, regs, ind,
              operands: tuple[_Val, ...] = ()) -> None:
        """Assign a result to register d; fold it when every operand is a constant."""
        if operands and all(v.const is not None for v in operands):
            value = eval(expr, dict(self.ns))  # noqa: S307 -- our own generated expression
            regs[d] = _Reg(_const(value), not self.is_temp(d))
            return
        if _LOCAL.match(expr):
            # A copy: register d shares the other register's local (bind
            # keeps that local from being overwritten while shared).
            regs[d] = _Reg(_Val(expr, width), not self.is_temp(d))
            return
        name = self.bind(d, regs)
        self.emit(ind, f"{name} = {expr}")
        regs[d] = _Reg(_Val(name, width), not self.is_temp(d))

    def bind(self, reg: int, regs) -> str:
        """The local to assign a new value of register `reg` to: `v<reg>`,
        unless another register (a copy) still holds its value there; then a
        fresh name. A local is thus never overwritten while a register, or
        an operand already read for the op being emitted, refers to it."""
        name = f"v{reg}"
        if any(other != reg and st.val.expr == name for other, st in regs.items()):
            self.nfresh += 1
            name = f"v{reg}_{self.nfresh}"
        return name

    def flush(self, regs, ind) -> None:
        """Write every register newer in a local than in cpu.r back."""
        for reg in sorted(regs):
            st = regs[reg]
            if st.dirty:
                self.emit(ind, f"r[{reg}] = {st.val.expr}")
                st.dirty = False

    def fault_point(self, k: int, regs, ind) -> None:
        writes = [(reg, st.val.expr) for reg, st in sorted(regs.items()) if st.dirty]
        self.fault_points.append((k, writes))
        self.p_lines.append(len(self.lines))
        self.emit(ind, f"p = {len(self.fault_points) - 1}")

    def refresh_mem_state(self, ind) -> None:
        """After a slow access or a helper: the TLBs or the reservation may have changed."""
        if self.uses_load:
            self.emit(ind, "tlb_r = cpu.tlb_r.get")
        if self.uses_store:
            self.emit(ind, "tlb_w = cpu.tlb_w.get")
            self.emit(ind, "resv = cpu.reservation is not None")

    @staticmethod
    def masked(v: _Val, bits: int) -> _Val:
        """v reduced to `bits` bits (unsigned)."""
        m = (1 << bits) - 1
        if v.const is not None:
            return _const(v.const & m)
        if v.width is not None and v.width <= bits:
            return v
        return _Val(f"({v.expr} & {m:#x})", bits)

    # -- the walk over one path ------------------------------------------------------
    def _path(self, i: int, regs: dict, ind: int) -> None:
        ops = self.ops
        while i < len(ops):
            op = ops[i]
            opc = op.opc
            self.emitted_ops += 1
            if self.emitted_ops > self.budget:
                raise _Unsupported("branches duplicate too much code")
            if opc is Opc.INSN_START or opc is Opc.LABEL:
                i += 1
                continue
            if opc is Opc.BRCOND:
                target = self.labels.get(op.aux)
                if target is None or target <= i:
                    raise _Unsupported(f"branch to L{op.aux} is not forward")
                a = self.read(op.a, regs, ind)
                b = self.read(op.b, regs, ind)
                cond = self.cond_expr(op.cond, op.bits, a, b, ind)
                if a.const is not None and b.const is not None:
                    taken = eval(cond, dict(self.ns))  # noqa: S307 -- our own expression
                    i = target + 1 if taken else i + 1
                    continue
                if all(o.opc in _EXITS for o in ops[i:]):
                    exits = self.exit_targets(i, regs, ind)
                    if exits is not None:
                        self.flush(regs, ind)
                        self.emit(ind, f"cpu.pc = {exits[0]} if {cond} else {exits[1]}")
                        return
                if ind > _MAX_NESTING:
                    raise _Unsupported("branches nest too deep")
                self.emit(ind, f"if {cond}:")
                self._path(target + 1, _copy(regs), ind + 1)
                self.emit(ind, "else:")
                self._path(i + 1, _copy(regs), ind + 1)
                return
            if opc in (Opc.GOTO_TB, Opc.EXIT):
                a = self.read(op.a, regs, ind)
                self.flush(regs, ind)
                self.emit(ind, f"cpu.pc = {a.expr}")
                return
            self.op(op, regs, self.insn_of[i], ind)
            i += 1
        self.flush(regs, ind)
        self.emit(ind, "pass")

    def exit_targets(self, i, regs, ind) -> tuple[str, str] | None:
        """For the tail `brcond L; exit X; label L; exit Y` (what the front end
        emits for a conditional branch): the expressions of Y and X."""
        ops = self.ops
        br = ops[i]
        if (len(ops) < i + 4 or ops[i + 1].opc not in (Opc.GOTO_TB, Opc.EXIT)
                or ops[i + 2].opc is not Opc.LABEL or ops[i + 2].aux != br.aux
                or ops[i + 3].opc not in (Opc.GOTO_TB, Opc.EXIT)):
            return None
        taken = self.read(ops[i + 3].a, regs, ind).expr
        not_taken = self.read(ops[i + 1].a, regs, ind).expr
        return taken, not_taken

    # -- one op ---------------------------------------------------------------------
    def op(self, op, regs, k, ind) -> None:
        opc, bits = op.opc, op.bits
        m = (1 << bits) - 1
        if opc is Opc.MOV:
            a = self.masked(self.read(op.a, regs, ind), bits)
            if a.const is not None:
                regs[op.d] = _Reg(a, not self.is_temp(op.d))
            else:
                self.write(op.d, a.expr, a.width, regs, ind)
        elif opc in _ALU2:
            a = self.read(op.a, regs, ind)
            b = self.read(op.b, regs, ind)
            if opc in _COMMUTATIVE and a.const is not None and b.const is None:
                a, b = b, a
            if not self.add_sub_wrap(opc, op.d, bits, a, b, regs, ind):
                expr, width = self.binop(opc, bits, a, b, ind)
                self.write(op.d, expr, width, regs, ind, (a, b))
        elif opc in _ALU1:
            a = self.read(op.a, regs, ind)
            expr, width = self.unop(opc, bits, a, ind)
            self.write(op.d, expr, width, regs, ind, (a,))
        elif opc is Opc.EXT:
            a = self.read(op.a, regs, ind)
            expr, width = self.ext(op.aux[0], bool(op.aux[1]), bits, a, ind)
            self.write(op.d, expr, width, regs, ind, (a,))
        elif opc is Opc.SETCOND:
            a = self.read(op.a, regs, ind)
            b = self.read(op.b, regs, ind)
            cond = self.cond_expr(op.cond, bits, a, b, ind)
            self.write(op.d, f"1 if {cond} else 0", 1, regs, ind, (a, b))
        elif opc is Opc.MOVCOND:
            a = self.read(op.a, regs, ind)
            b = self.read(op.b, regs, ind)
            c = self.read(op.c, regs, ind)
            e = self.read(op.e, regs, ind)
            cond = self.cond_expr(op.cond, bits, a, b, ind)
            width = None if c.width is None or e.width is None else max(c.width, e.width)
            self.write(op.d, f"{c.expr} if {cond} else {e.expr}", width, regs, ind, (a, b, c, e))
        elif opc is Opc.LD:
            self.load(op, regs, k, ind, m)
        elif opc is Opc.ST:
            self.store(op, regs, k, ind)
        elif opc is Opc.CALL:
            self.call(op, regs, k, ind)
        else:
            raise _Unsupported(f"no code for {op!r}")

    def add_sub_wrap(self, opc, d, bits, a: _Val, b: _Val, regs, ind) -> bool:
        """ADD/SUB of two values already within the width: the result leaves
        the range by at most one turn, and a compare and a rare correction
        are cheaper than masking (which builds a new int from 3 digits)."""
        if opc not in (Opc.ADD, Opc.SUB) or a.const is not None:
            return False
        if a.width is None or a.width > bits or b.width is None or b.width > bits:
            return False
        if b.const is not None and b.const == 0:
            return False
        if opc is Opc.ADD and max(a.width, b.width) < bits:
            return False                # cannot overflow: binop adds without a mask
        m = (1 << bits) - 1
        sym = "+" if opc is Opc.ADD else "-"
        rhs = b.expr
        if b.const is not None and b.const > (m >> 1):
            # Adding a "negative" constant is subtracting its complement.
            sym = "-" if sym == "+" else "+"
            rhs = _const((1 << bits) - b.const).expr
        name = self.bind(d, regs)
        self.emit(ind, f"{name} = {a.expr} {sym} {rhs}")
        if sym == "+":
            self.emit(ind, f"if {name} > {m:#x}: {name} -= {m + 1:#x}")
        else:
            self.emit(ind, f"if {name} < 0: {name} += {m + 1:#x}")
        regs[d] = _Reg(_Val(name, bits), not self.is_temp(d))
        return True

    def binop(self, opc, bits, a: _Val, b: _Val, ind) -> tuple[str, int | None]:
        m = (1 << bits) - 1
        sh = bits - 1
        sign = 1 << sh
        if opc is Opc.ADD:
            if b.const is not None and b.const & m == 0:
                v = self.masked(a, bits)
                return v.expr, v.width
            if a.width is not None and b.width is not None and max(a.width, b.width) < bits:
                return f"{a.expr} + {b.expr}", max(a.width, b.width) + 1
            return f"({a.expr} + {b.expr}) & {m:#x}", bits
        if opc is Opc.SUB:
            return f"({a.expr} - {b.expr}) & {m:#x}", bits
        if opc is Opc.AND:
            if b.const is not None and b.const & m == m:
                v = self.masked(a, bits)
                return v.expr, v.width
            fits = [v.width for v in (a, b) if v.width is not None and v.width <= bits]
            if fits:
                # One operand within the width already confines the result to it.
                return f"{a.expr} & {b.expr}", min(fits)
            return f"{a.expr} & {self.masked(b, bits).expr}", bits
        if opc in (Opc.OR, Opc.XOR):
            x, y = self.masked(a, bits), self.masked(b, bits)
            if y.const == 0:
                return x.expr, x.width
            sym = "|" if opc is Opc.OR else "^"
            return f"{x.expr} {sym} {y.expr}", max(x.width, y.width)
        if opc in (Opc.SHL, Opc.SHR, Opc.SAR, Opc.ROTL, Opc.ROTR):
            return self.shift(opc, bits, a, b, ind)
        if opc is Opc.MUL:
            return f"({a.expr} * {b.expr}) & {m:#x}", bits
        x, y = self.masked(a, bits), self.masked(b, bits)
        if opc is Opc.MULHU:
            return f"({x.expr} * {y.expr}) >> {bits}", bits
        if opc in (Opc.MULH, Opc.MULHSU):
            sx = f"(({x.expr} ^ {sign:#x}) - {sign:#x})"
            sy = f"(({y.expr} ^ {sign:#x}) - {sign:#x})" if opc is Opc.MULH else y.expr
            return f"(({sx} * {sy}) >> {bits}) & {m:#x}", bits
        if opc is Opc.DIVU:
            ys = self.simple(y.expr, ind)
            xs = self.simple(x.expr, ind)
            return f"{m:#x} if {ys} == 0 else {xs} // {ys}", bits
        if opc is Opc.REMU:
            ys = self.simple(y.expr, ind)
            xs = self.simple(x.expr, ind)
            return f"{xs} if {ys} == 0 else {xs} % {ys}", bits
        if opc is Opc.DIV:
            self.ns["_sdiv"] = _sdiv
            return f"_sdiv({x.expr}, {y.expr}, {bits})", bits
        if opc is Opc.REM:
            self.ns["_srem"] = _srem
            return f"_srem({x.expr}, {y.expr}, {bits})", bits
        raise _Unsupported(f"no code for {opc}")

    def shift(self, opc, bits, a: _Val, b: _Val, ind) -> tuple[str, int | None]:
        m = (1 << bits) - 1
        sh = bits - 1
        sign = 1 << sh
        if b.const is not None:
            s = b.const & m & sh
            if opc is Opc.SHL:
                if s == 0:
                    v = self.masked(a, bits)
                    return v.expr, v.width
                if a.width is not None and a.width + s <= bits:
                    return f"{a.expr} << {s}", a.width + s
                return f"({a.expr} << {s}) & {m:#x}", bits
            x = self.masked(a, bits)
            if s == 0:
                return x.expr, x.width
            if opc is Opc.SHR:
                return f"{x.expr} >> {s}", max(x.width - s, 0)
            xs = self.simple(x.expr, ind)
            if opc is Opc.SAR:
                # Shifting in copies of the sign bit: OR the vacated high bits.
                fill = m ^ (m >> s)
                return f"({xs} >> {s}) | {fill:#x} if {xs} >= {sign:#x} else {xs} >> {s}", bits
            left = s if opc is Opc.ROTL else bits - s
            return f"(({xs} << {left}) | ({xs} >> {bits - left})) & {m:#x}", bits
        amount = f"({b.expr} & {sh})"
        if opc is Opc.SHL:
            return f"({a.expr} << {amount}) & {m:#x}", bits
        x = self.masked(a, bits)
        if opc is Opc.SHR:
            return f"{x.expr} >> {amount}", x.width
        if opc is Opc.SAR:
            return f"((({x.expr} ^ {sign:#x}) - {sign:#x}) >> {amount}) & {m:#x}", bits
        xs = self.simple(x.expr, ind)
        t = self.temp_name()
        self.emit(ind, f"{t} = {amount}")
        if opc is Opc.ROTL:
            return f"(({xs} << {t}) | ({xs} >> ({bits} - {t}))) & {m:#x}", bits
        return f"(({xs} >> {t}) | ({xs} << ({bits} - {t}))) & {m:#x}", bits

    def unop(self, opc, bits, a: _Val, ind) -> tuple[str, int | None]:
        x = self.masked(a, bits)
        if opc is Opc.CLZ:
            return f"{bits} - ({x.expr}).bit_length()", bits.bit_length()
        if opc is Opc.CTZ:
            xs = self.simple(x.expr, ind)
            return f"{bits} if {xs} == 0 else ({xs} & -{xs}).bit_length() - 1", bits.bit_length()
        if opc is Opc.CPOP:
            return f"({x.expr}).bit_count()", bits.bit_length()
        if opc is Opc.BSWAP:
            self.ns["_ifb"] = int.from_bytes
            return f"_ifb(({x.expr}).to_bytes({bits // 8}, 'little'), 'big')", bits
        raise _Unsupported(f"no code for {opc}")

    def ext(self, frm: int, signed: bool, bits: int, a: _Val, ind) -> tuple[str, int | None]:
        fm = (1 << frm) - 1
        m = (1 << bits) - 1
        if not signed:
            if a.width is not None and a.width <= frm:
                return a.expr, a.width
            return f"{a.expr} & {fm:#x}", frm
        sign = 1 << (frm - 1)
        if frm <= bits and a.width is not None and a.width < frm:
            return a.expr, a.width          # the sign bit is clear: nothing to extend
        if frm <= bits:
            x = self.masked(a, frm)
            xs = self.simple(x.expr, ind)
            return f"{xs} | {m ^ fm:#x} if {xs} >= {sign:#x} else {xs}", bits
        return f"((({a.expr} & {fm:#x}) ^ {sign:#x}) - {sign:#x}) & {m:#x}", bits

    def cond_expr(self, cond, bits, a: _Val, b: _Val, ind) -> str:
        if cond in (Cond.EQ, Cond.NE, Cond.LTU, Cond.GEU):
            # Unsigned and equality compares see the values as they are.
            sym = {Cond.EQ: "==", Cond.NE: "!=", Cond.LTU: "<", Cond.GEU: ">="}[cond]
            return f"{a.expr} {sym} {b.expr}"
        if cond not in (Cond.LT, Cond.GE):
            raise _Unsupported(f"no code for condition {cond}")
        sign = 1 << (bits - 1)
        x, y = self.masked(a, bits), self.masked(b, bits)
        lt = cond is Cond.LT
        if y.const == 0 and x.const is None:
            # x < 0 exactly when its sign bit is set.
            return f"{x.expr} >= {sign:#x}" if lt else f"{x.expr} < {sign:#x}"
        # Signed order is unsigned order with the sign bits flipped.
        fx = _const(x.const ^ sign).expr if x.const is not None else f"({x.expr} ^ {sign:#x})"
        fy = _const(y.const ^ sign).expr if y.const is not None else f"({y.expr} ^ {sign:#x})"
        return f"{fx} {'<' if lt else '>='} {fy}"

    # -- memory ----------------------------------------------------------------------
    def address(self, op, regs, ind) -> tuple[str, int | None]:
        """The guest virtual address of a memory op: a simple expression, and
        its value when known at compile time."""
        base = self.read(op.a, regs, ind)
        am = self.addr_mask
        if base.const is not None:
            va = (base.const + op.offset) & am
            return _const(va).expr, va
        in_range = base.width is not None and base.width <= am.bit_length()
        if op.offset == 0 and in_range:
            return base.expr, None
        if in_range and -am <= op.offset <= am:
            # As for add_sub_wrap: at most one turn out of the address space.
            if op.offset > 0:
                self.emit(ind, f"va = {base.expr} + {op.offset}")
                self.emit(ind, f"if va > {am:#x}: va -= {am + 1:#x}")
            else:
                self.emit(ind, f"va = {base.expr} - {-op.offset}")
                self.emit(ind, f"if va < 0: va += {am + 1:#x}")
            return "va", None
        self.emit(ind, f"va = ({base.expr} + {op.offset}) & {am:#x}")
        return "va", None

    def tlb_test(self, op, tlb: str, va: str, va_const: int | None, ind, extra: str = "") -> str:
        lim = 4096 - op.size
        if va_const is not None:
            self.emit(ind, f"e = {tlb}({va_const >> 12:#x})")
            crosses = (va_const & 0xFFF) > lim
            return "True" if crosses else f"e is None{extra}"
        self.emit(ind, f"e = {tlb}({va} >> 12)")
        if op.size == 1:
            return f"e is None{extra}"
        return f"e is None or ({va} & 4095) > {lim}{extra}"

    def load(self, op, regs, k, ind, m) -> None:
        size, signed, bits = op.size, bool(op.aux), op.bits
        self.fault_point(k, regs, ind)
        va, va_const = self.address(op, regs, ind)
        test = self.tlb_test(op, "tlb_r", va, va_const, ind)
        name = self.bind(op.d, regs)
        narrow = not signed and size * 8 <= bits
        width = size * 8 if narrow else bits
        self.emit(ind, f"if {test}:")
        if narrow and self.register_width is not None:
            # Trusting the CPU's values (as for registers): an unsigned load
            # gives `size` bytes' worth, already within the width.
            self.emit(ind + 1, f"{name} = cpu.load_slow({va}, {size}, {signed})")
        else:
            width = bits
            self.emit(ind + 1, f"{name} = cpu.load_slow({va}, {size}, {signed}) & {m:#x}")
        self.refresh_mem_state(ind + 1)
        self.emit(ind, "else:")
        if size * 8 == bits:
            signed = False          # the same bits either way
        fmt = _UNPACK[(size, signed)]
        fn = f"_ld{fmt}"
        self.ns[fn] = struct.Struct("<" + fmt).unpack_from
        mask = f" & {m:#x}" if signed or size * 8 > bits else ""
        self.emit(ind + 1, f"{name} = {fn}(e[0], {va} + e[1])[0]{mask}")
        regs[op.d] = _Reg(_Val(name, width), not self.is_temp(op.d))

    def store(self, op, regs, k, ind) -> None:
        size = op.size
        self.fault_point(k, regs, ind)
        va, va_const = self.address(op, regs, ind)
        val = self.read(op.b, regs, ind)
        test = self.tlb_test(op, "tlb_w", va, va_const, ind, " or resv")
        self.emit(ind, f"if {test}:")
        self.emit(ind + 1, f"cpu.store_slow({va}, {size}, {val.expr})")
        self.refresh_mem_state(ind + 1)
        self.emit(ind, "else:")
        fn = f"_st{_PACK[size]}"
        self.ns[fn] = struct.Struct("<" + _PACK[size]).pack_into
        self.emit(ind + 1, f"{fn}(e[0], {va} + e[1], {self.masked(val, size * 8).expr})")

    def call(self, op, regs, k, ind) -> None:
        helper = op.aux
        name = self.helpers.get(id(helper))
        if name is None:
            name = self.helpers[id(helper)] = f"_h{len(self.helpers)}"
            self.ns[name] = helper
        args = "".join(", " + self.read(x, regs, ind).expr for x in op.args)
        # The helper may read or write the register file: hand it the
        # current values, and forget the cached ones afterwards.
        self.flush(regs, ind)
        self.fault_point(k, regs, ind)
        call = f"{name}(cpu{args})"
        for reg in [reg for reg in regs if not self.is_temp(reg)]:
            del regs[reg]
        if op.d is None:
            self.emit(ind, call)
        else:
            name = self.bind(op.d, regs)
            self.emit(ind, f"{name} = {call}")
            regs[op.d] = _Reg(_Val(name, None), not self.is_temp(op.d))
        self.refresh_mem_state(ind)


def _copy(regs: dict) -> dict:
    return {reg: _Reg(st.val, st.dirty) for reg, st in regs.items()}


class PyCodegenBackend:
    """Compiles each block to a Python function (see the module docstring).

    Compiling a block costs about as much as a hundred runs of the
    interpreter's code for it (0.3 ms against 2 us for ten ops), and many blocks run only a few times (boot
    code, code pages that are rewritten): a block first runs on the
    interpreter and is compiled when it starts its `hot_threshold`-th run.
    `hot_threshold=0` compiles every block at once.
    """

    name = "pycodegen"

    def __init__(self, temp_base: int | None = 64, register_width: int | None = 64,
                 hot_threshold: int = 32):
        self.temp_base = temp_base
        self.register_width = register_width
        self.hot_threshold = hot_threshold
        self._fallback = InterpBackend()

    def _generate(self, blk: Block) -> tuple[str, dict]:
        bc = _BlockCompiler(blk, self.temp_base, self.register_width)
        return bc.source(), bc.namespace()

    def compile(self, blk: Block) -> None:
        if self.hot_threshold <= 0:
            self.compile_now(blk)
            return
        self._fallback.compile(blk)
        cold_run = blk.code
        runs_left = self.hot_threshold
        hot_run = None

        def warm_up(cpu):
            nonlocal runs_left, hot_run
            if hot_run is not None:       # a caller that kept this function
                return hot_run(cpu)
            runs_left -= 1
            if runs_left > 0:
                return cold_run(cpu)
            self.compile_now(blk)
            hot_run = blk.code
            return hot_run(cpu)

        blk.code = warm_up

    def compile_now(self, blk: Block) -> None:
        """Compile the block to Python now (blocks the shape of which this
        backend does not handle get the interpreter's code)."""
        try:
            src, ns = self._generate(blk)
        except _Unsupported:
            self._fallback.compile(blk)
            return
        try:
            code = compile(src, f"<tb {blk.pc:#x}>", "exec")
        except (SyntaxError, RecursionError, MemoryError):
            # Nesting beyond what Python's compiler takes (deeply nested branches).
            self._fallback.compile(blk)
            return
        exec(code, ns)  # noqa: S102 -- source generated above from the IR
        blk.code = ns["run"]

    def dump_source(self, blk: Block) -> str:
        """The Python source of a block's function, for -d op_opt style logs."""
        try:
            return self._generate(blk)[0]
        except _Unsupported as e:
            return f"# runs on the interpreter: {e}\n"
