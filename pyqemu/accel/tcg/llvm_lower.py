"""Lowering of one IR block, or of a region of blocks, to an LLVM IR function.

The function is `i32 @name(ptr %s)` where %s is the hart's native state
(llvm_state.py). Its semantics are the interpreter's, op for op:

- guest registers (below `GUEST_REGS`) and the instruction budget live in
  stack slots that LLVM promotes to SSA values, so a loop keeps them in
  machine registers. A register changed since the last sync is written
  back to its state word (once per change, as TCG syncs its globals)
  before every memory access, helper call and exit: the state in memory
  is the interpreter's wherever Python can look or a fault can leave, and
  neither the slow paths nor the fault exits carry spill code. Helpers may
  write any register: the slots are reloaded after each;
- block temporaries are stack slots too;
- loads and stores try the native TLB (user mode: the page protection
  table over the one host mapping of the guest) and otherwise call the
  slow-path callback, which runs the CPU's own slow path in Python;
- helpers that only move bits (llvm_inline.py) are emitted inline; other
  helper calls go through the helper callback with the function's own
  address and a call-site index (constants are bound to the call site in
  Python; register arguments are passed in the state's argument words);
- nothing that differs between processes is in the text: the callbacks
  and the user-mode memory layout are external symbols (`SYM_*`) that the
  engine defines before it loads code, so the same region gives the same
  text, and its machine code can be cached on disk (llvm_engine.py);
- a callback reporting an exception branches to the fault exit of the
  current instruction: PC of that instruction, the instructions before it
  retired, status EXCEPTION;
- a block exit takes its instructions off the budget (the budget, counted
  in instructions, is also the instret count: BUDGET0 - BUDGET) and,
  unless the budget is spent or Python asked for control, branches to the
  next block when it is a member of the same function (a block looping on
  itself, a region), else looks the next PC up in the block table and
  tail-calls the function found there (so chained blocks run without
  returning); a miss returns MISS. The next PC is stored only when control
  leaves the function.

A region (llvm_engine.py chooses it) is several blocks in one function,
entered at any of them: the entry dispatches on the PC in the state, which
Python and chaining functions store before entering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Block, Cond, Const, Opc
from .llvm_state import GUEST_REGS, TB_ENTRIES, TB_ENTRY_WORDS, TB_TABLE, TLB_ENTRIES, \
    TLB_WRITE, Status, UserMemory, Word

# User-mode page protection bits (linux_user/memory.py): MAPPED | PROT_READ / PROT_WRITE.
USER_READ = 0x80 | 1
USER_WRITE = 0x80 | 2

M64 = (1 << 64) - 1

_BIN = {Opc.ADD: "add", Opc.SUB: "sub", Opc.AND: "and", Opc.OR: "or", Opc.XOR: "xor",
        Opc.MUL: "mul", Opc.SHL: "shl", Opc.SHR: "lshr", Opc.SAR: "ashr"}
_ICMP_SIGNED = {Cond.LT: "slt", Cond.GE: "sge"}
_ICMP_FULL = {Cond.EQ: "eq", Cond.NE: "ne", Cond.LTU: "ult", Cond.GEU: "uge"}
_UNARY = {Opc.CLZ: "ctlz", Opc.CTZ: "cttz", Opc.CPOP: "ctpop", Opc.BSWAP: "bswap"}

# External symbols the code refers to (llvm_engine defines them): the two
# callbacks, and in user mode the guest mapping, the protection table and
# the code map (their addresses are the values).
SYM_HELPER_CB = "pyqemu_helper_cb"
SYM_MEM_CB = "pyqemu_mem_cb"
SYM_USER_BASE = "pyqemu_user_base"
SYM_USER_PROT = "pyqemu_user_prot"
SYM_USER_CODE = "pyqemu_user_code"

# Slow-path callback `kind` bits: size in the low nibble, then these.
MEM_SIGNED = 1 << 4
MEM_STORE = 1 << 5


class Unsupported(Exception):
    """An op this lowering has no code for: the block stays on a Python tier."""


@dataclass
class CallSite:
    """What the helper callback needs to run one CALL op: the helper, its
    arguments (constants as values, registers as argument word numbers)
    and whether the op has a destination."""
    helper: object
    args: tuple[tuple[bool, int], ...]
    has_dest: bool


@dataclass
class Lowered:
    name: str
    text: str                                  # the function's LLVM IR
    declares: set[str] = field(default_factory=set)   # intrinsics and symbols it uses
    call_sites: list[CallSite] = field(default_factory=list)   # by index


def _lit(v: int, bits: int = 64) -> str:
    """An iN literal: LLVM reads integer literals as signed."""
    v &= (1 << bits) - 1
    if bits > 1 and v >> (bits - 1):
        v -= 1 << bits
    return str(v)


class _FunctionBuilder:
    def __init__(self, blocks: list[Block], name: str, inline: dict, user):
        blk = blocks[0]
        self.blocks = blocks
        self.blk = blk             # the member being lowered
        self.member = 0
        self.inline = inline
        self.user = user
        self.name = name
        self.sites: list[CallSite] = []
        self.lines: list[str] = []
        self.n = 0
        self.terminated = False
        self.insn = 0
        self.insn_seen = 0
        self.fault_insns: set[tuple[int, int]] = set()     # (member, instruction)
        self.temps: set[int] = set()
        self.addr_mask = (1 << getattr(blk, "xlen", 64)) - 1
        self.declares: set[str] = set()
        self.dirty: set[int] = set()                       # registers to sync
        self.dirty_at: dict[str, set[int]] = {}            # at a label, from its branches
        self.helper_called = False                         # in the member, so far
        self.regs_used, self.regs_written = set(), set()
        for b in blocks:
            used, written = _guest_registers(b)
            self.regs_used |= used
            self.regs_written |= written

    # -- small emitters --------------------------------------------------------------
    def tmp(self) -> str:
        self.n += 1
        return f"%v{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def assign(self, rhs: str) -> str:
        t = self.tmp()
        self.emit(f"{t} = {rhs}")
        return t

    def label(self, name: str) -> None:
        if not self.terminated:
            self.emit(f"br label %{name}")
        self.lines.append(f"{name}:")
        self.terminated = False

    def br(self, target: str) -> None:
        self.emit(f"br label %{target}")
        self.terminated = True

    def word_ptr(self, index: int | str) -> str:
        return self.assign(f"getelementptr inbounds i64, ptr %s, i64 {index}")

    def load_word(self, index: int | str) -> str:
        p = self.word_ptr(index)
        return self.assign(f"load i64, ptr {p}")

    def store_word(self, index: int | str, value: str) -> None:
        p = self.word_ptr(index)
        self.emit(f"store i64 {value}, ptr {p}")

    # -- operands -------------------------------------------------------------------
    def read(self, x) -> str:
        """An operand as an i64 value."""
        if isinstance(x, Const):
            return _lit(x.value)
        if x < GUEST_REGS:
            return self.assign(f"load i64, ptr %r{x}")
        self.temps.add(x)
        return self.assign(f"load i64, ptr %t{x}")

    def write(self, d: int, value: str) -> None:
        if d < GUEST_REGS:
            self.emit(f"store i64 {value}, ptr %r{d}")
            self.dirty.add(d)
        else:
            self.temps.add(d)
            self.emit(f"store i64 {value}, ptr %t{d}")

    def narrow(self, v: str, bits: int) -> str:
        return v if bits == 64 else self.assign(f"trunc i64 {v} to i{bits}")

    def widen(self, v: str, bits: int, signed: bool = False) -> str:
        if bits == 64:
            return v
        return self.assign(f"{'sext' if signed else 'zext'} i{bits} {v} to i64")

    def intrinsic(self, name: str, bits: int, args: str, extra: str = "") -> str:
        types = [f"i{bits}"] * (3 if name in ("fshl", "fshr") else 1) + (["i1"] if extra else [])
        self.declares.add(f"declare i{bits} @llvm.{name}.i{bits}({', '.join(types)})")
        return self.assign(f"call i{bits} @llvm.{name}.i{bits}({args}{extra})")

    def cond(self, cond: Cond, bits: int, a, b) -> str:
        """An i1 of (a COND b), as the interpreter compares: equality and
        unsigned order on the values as they are, signed order at `bits`."""
        x, y = self.read(a), self.read(b)
        if cond in _ICMP_FULL:
            return self.assign(f"icmp {_ICMP_FULL[cond]} i64 {x}, {y}")
        xn, yn = self.narrow(x, bits), self.narrow(y, bits)
        return self.assign(f"icmp {_ICMP_SIGNED[cond]} i{bits} {xn}, {yn}")

    # -- guest state kept in SSA values ------------------------------------------------
    def sync(self) -> None:
        """Write the registers changed since the last sync back to the state
        (as TCG syncs its globals): before every memory access, helper call
        and exit, so the state is the interpreter's wherever Python can look
        or a fault can leave. Stores happen once per change, on the fast
        path; no slow path or fault exit carries spill code of its own."""
        for r in sorted(self.dirty):
            v = self.assign(f"load i64, ptr %r{r}")
            self.store_word(r, v)
        self.dirty = set()

    def spill(self) -> None:
        """sync, and the budget too (control leaves, or a helper reads it)."""
        self.sync()
        self.store_word(int(Word.BUDGET), self.assign("load i64, ptr %budget"))

    def reload(self) -> None:
        """After a helper: it may have written any register."""
        for r in sorted(self.regs_used):
            self.emit(f"store i64 {self.load_word(r)}, ptr %r{r}")

    # -- the function ---------------------------------------------------------------
    def build(self) -> str:
        for i, blk in enumerate(self.blocks):
            self.blk, self.member = blk, i
            self.insn = self.insn_seen = 0
            self.labels = {op.aux: f"m{i}L{op.aux}" for op in blk.ops if op.opc is Opc.LABEL}
            self.lines.append(f"m{i}start:")
            # Every way in (entry, another member's exit) has synced.
            self.dirty = set()
            self.terminated = False
            self.helper_called = False
            for op in blk.ops:
                self.op(op)
            if not self.terminated:
                # Ops ran out without an exit (never from the front end): the
                # PC stays, as on the interpreter, and control goes back to Python.
                self.spill()
                self.store_word(int(Word.PC), _lit(blk.pc))
                self._count(self.lines, blk.n_insns)
                self.emit(f"ret i32 {int(Status.STOPPED)}")
        body = self.lines
        for i, k in sorted(self.fault_insns):
            blk = self.blocks[i]
            body.append(f"m{i}fault{k}:")
            p = self.tmp()
            body.append(f"  {p} = getelementptr inbounds i64, ptr %s, i64 {int(Word.PC)}")
            body.append(f"  store i64 {_lit(blk.insn_pcs[k] if blk.insn_pcs else blk.pc)}, ptr {p}")
            # The instructions before the faulting one retired.
            b0, b1, bp = self.tmp(), self.tmp(), self.tmp()
            body.append(f"  {b0} = load i64, ptr %budget")
            body.append(f"  {b1} = sub i64 {b0}, {k}")
            body.append(f"  {bp} = getelementptr inbounds i64, ptr %s, i64 {int(Word.BUDGET)}")
            body.append(f"  store i64 {b1}, ptr {bp}")
            body.append(f"  ret i32 {int(Status.EXCEPTION)}")
        head = [f"define i32 @{self.name}(ptr %s) {{", "entry:"]
        # Guest registers and the budget live in stack slots that LLVM turns
        # into SSA values (machine registers across a self-loop); the state
        # in memory is brought up to date only where Python can look (spill).
        for r in sorted(self.regs_used):
            head.append(f"  %r{r} = alloca i64")
            head.append(f"  %r{r}.p = getelementptr inbounds i64, ptr %s, i64 {r}")
            head.append(f"  %r{r}.0 = load i64, ptr %r{r}.p")
            head.append(f"  store i64 %r{r}.0, ptr %r{r}")
        head.append("  %budget = alloca i64")
        head.append(f"  %budget.p = getelementptr inbounds i64, ptr %s, i64 {int(Word.BUDGET)}")
        head.append("  %budget.0 = load i64, ptr %budget.p")
        head.append("  store i64 %budget.0, ptr %budget")
        for t in sorted(self.temps):
            # A temporary starts as the register file's word, as on the
            # interpreter (the front end writes each before reading it, so
            # LLVM drops these loads).
            head.append(f"  %t{t} = alloca i64")
            head.append(f"  %t{t}.p = getelementptr inbounds i64, ptr %s, i64 {t}")
            head.append(f"  %t{t}.0 = load i64, ptr %t{t}.p")
            head.append(f"  store i64 %t{t}.0, ptr %t{t}")
        if len(self.blocks) > 1:
            # A region is entered at any member: the state's PC says which
            # (Python and chaining blocks store it before entering).
            pc_p = "%s.pc.p"
            head.append(f"  {pc_p} = getelementptr inbounds i64, ptr %s, i64 {int(Word.PC)}")
            head.append(f"  %s.pc = load i64, ptr {pc_p}")
            cases = " ".join(f"i64 {_lit(b.pc)}, label %m{i}start"
                             for i, b in enumerate(self.blocks) if i)
            head.append(f"  switch i64 %s.pc, label %m0start [ {cases} ]")
        else:
            head.append("  br label %m0start")
        return "\n".join(head + body + ["}"]) + "\n"

    def _count(self, out: list[str], n: int) -> None:
        """n more instructions retired: they come off the budget."""
        p = self.tmp()
        v = self.tmp()
        w = self.tmp()
        out.append(f"  {p} = getelementptr inbounds i64, ptr %s, i64 {int(Word.BUDGET)}")
        out.append(f"  {v} = load i64, ptr {p}")
        out.append(f"  {w} = sub i64 {v}, {n}")
        out.append(f"  store i64 {w}, ptr {p}")

    def check_status(self, st: str) -> None:
        """After a callback: its nonzero status leaves through the fault exit."""
        bad = self.assign(f"icmp ne i32 {st}, 0")
        ok = f"ok{self.n}"
        self.fault_insns.add((self.member, self.insn))
        self.emit(f"br i1 {bad}, label %m{self.member}fault{self.insn}, label %{ok}")
        self.lines.append(f"{ok}:")

    def op(self, op) -> None:
        opc = op.opc
        if opc is Opc.LABEL:
            name = self.labels[op.aux]
            # Branches are forward only: every way here is known by now.
            came = self.dirty_at.pop(name, set())
            self.dirty = came if self.terminated else self.dirty | came
            self.label(name)
            return
        if opc is Opc.INSN_START:
            self.insn = self.insn_seen
            self.insn_seen += 1
            return
        if self.terminated:
            # Unreachable code after an exit, up to the next label.
            return
        bits = op.bits
        m = (1 << bits) - 1
        if opc is Opc.MOV:
            v = self.read(op.a)
            self.write(op.d, v if bits == 64 else self.assign(f"and i64 {v}, {_lit(m)}"))
        elif opc in _BIN or opc in (Opc.ROTL, Opc.ROTR):
            a = self.narrow(self.read(op.a), bits)
            b = self.narrow(self.read(op.b), bits)
            if opc in (Opc.SHL, Opc.SHR, Opc.SAR, Opc.ROTL, Opc.ROTR):
                b = self.assign(f"and i{bits} {b}, {bits - 1}")
            if opc in _BIN:
                r = self.assign(f"{_BIN[opc]} i{bits} {a}, {b}")
            else:
                fn = "fshl" if opc is Opc.ROTL else "fshr"
                r = self.intrinsic(fn, bits, f"i{bits} {a}, i{bits} {a}, i{bits} {b}")
            self.write(op.d, self.widen(r, bits))
        elif opc in (Opc.MULH, Opc.MULHU, Opc.MULHSU):
            w2 = 2 * bits
            a = self.narrow(self.read(op.a), bits)
            b = self.narrow(self.read(op.b), bits)
            ea = self.assign(f"{'zext' if opc is Opc.MULHU else 'sext'} i{bits} {a} to i{w2}")
            eb = self.assign(f"{'sext' if opc is Opc.MULH else 'zext'} i{bits} {b} to i{w2}")
            p = self.assign(f"mul i{w2} {ea}, {eb}")
            h = self.assign(f"lshr i{w2} {p}, {bits}")
            r = self.assign(f"trunc i{w2} {h} to i{bits}")
            self.write(op.d, self.widen(r, bits))
        elif opc in (Opc.DIV, Opc.DIVU, Opc.REM, Opc.REMU):
            self.division(op, bits)
        elif opc is Opc.BSWAP and bits == 8:
            self.write(op.d, self.widen(self.narrow(self.read(op.a), 8), 8))
        elif opc in _UNARY:
            a = self.narrow(self.read(op.a), bits)
            extra = ", i1 false" if opc in (Opc.CLZ, Opc.CTZ) else ""
            r = self.intrinsic(_UNARY[opc], bits, f"i{bits} {a}", extra)
            self.write(op.d, self.widen(r, bits))
        elif opc is Opc.EXT:
            frm, signed = op.aux
            a = self.read(op.a)
            if signed:
                r = self.widen(self.narrow(a, frm), frm, signed=True)
                if bits < 64:
                    r = self.assign(f"and i64 {r}, {_lit(m)}")
            else:
                r = a if frm >= 64 else self.assign(f"and i64 {a}, {_lit((1 << frm) - 1)}")
            self.write(op.d, r)
        elif opc is Opc.SETCOND:
            c = self.cond(op.cond, bits, op.a, op.b)
            self.write(op.d, self.assign(f"zext i1 {c} to i64"))
        elif opc is Opc.MOVCOND:
            c = self.cond(op.cond, bits, op.a, op.b)
            x, y = self.read(op.c), self.read(op.e)
            self.write(op.d, self.assign(f"select i1 {c}, i64 {x}, i64 {y}"))
        elif opc is Opc.LD:
            self.load(op, m)
        elif opc is Opc.ST:
            self.store(op)
        elif opc is Opc.CALL:
            self.call(op)
        elif opc is Opc.BRCOND:
            c = self.cond(op.cond, bits, op.a, op.b)
            nxt = f"n{self.n}"
            target = self.labels[op.aux]
            self.dirty_at[target] = self.dirty_at.get(target, set()) | self.dirty
            self.emit(f"br i1 {c}, label %{target}, label %{nxt}")
            self.lines.append(f"{nxt}:")
        elif opc in (Opc.GOTO_TB, Opc.EXIT):
            self.exit(op.a)
        else:
            raise Unsupported(f"no native code for {opc}")

    def division(self, op, bits: int) -> None:
        opc = op.opc
        a = self.narrow(self.read(op.a), bits)
        b = self.narrow(self.read(op.b), bits)
        zero = self.assign(f"icmp eq i{bits} {b}, 0")
        if opc in (Opc.DIVU, Opc.REMU):
            safe = self.assign(f"select i1 {zero}, i{bits} 1, i{bits} {b}")
            if opc is Opc.DIVU:
                q = self.assign(f"udiv i{bits} {a}, {safe}")
                r = self.assign(f"select i1 {zero}, i{bits} -1, i{bits} {q}")
            else:
                q = self.assign(f"urem i{bits} {a}, {safe}")
                r = self.assign(f"select i1 {zero}, i{bits} {a}, i{bits} {q}")
        else:
            amin = self.assign(f"icmp eq i{bits} {a}, {_lit(1 << (bits - 1), bits)}")
            bm1 = self.assign(f"icmp eq i{bits} {b}, -1")
            ovf = self.assign(f"and i1 {amin}, {bm1}")
            bad = self.assign(f"or i1 {zero}, {ovf}")
            safe = self.assign(f"select i1 {bad}, i{bits} 1, i{bits} {b}")
            if opc is Opc.DIV:
                q = self.assign(f"sdiv i{bits} {a}, {safe}")
                q = self.assign(f"select i1 {ovf}, i{bits} {a}, i{bits} {q}")
                r = self.assign(f"select i1 {zero}, i{bits} -1, i{bits} {q}")
            else:
                q = self.assign(f"srem i{bits} {a}, {safe}")
                q = self.assign(f"select i1 {ovf}, i{bits} 0, i{bits} {q}")
                r = self.assign(f"select i1 {zero}, i{bits} {a}, i{bits} {q}")
        self.write(op.d, self.widen(r, bits))

    # -- memory ---------------------------------------------------------------------
    def address(self, op) -> str:
        base = self.read(op.a)
        va = self.assign(f"add i64 {base}, {_lit(op.offset)}")
        if self.addr_mask != M64:
            va = self.assign(f"and i64 {va}, {_lit(self.addr_mask)}")
        return va

    def tlb_hit(self, va: str, size: int, table: int) -> tuple[str, str]:
        """(i1 hit, i64 host address) of the native TLB lookup of va in the
        current set's load half (table 0) or store half (TLB_WRITE)."""
        page = self.assign(f"lshr i64 {va}, 12")
        idx = self.assign(f"and i64 {page}, {TLB_ENTRIES - 1}")
        slot = self.assign(f"shl i64 {idx}, 1")
        base = self.load_word(int(Word.TLB_SET))
        if table:
            base = self.assign(f"add i64 {base}, {table}")
        at = self.assign(f"add i64 {slot}, {base}")
        tag = self.load_word(at)
        at1 = self.assign(f"add i64 {at}, 1")
        addend = self.load_word(at1)
        hit = self.assign(f"icmp eq i64 {tag}, {page}")
        if size > 1:
            off = self.assign(f"and i64 {va}, 4095")
            fits = self.assign(f"icmp ule i64 {off}, {4096 - size}")
            hit = self.assign(f"and i1 {hit}, {fits}")
        host = self.assign(f"add i64 {addend}, {va}")
        return hit, host

    def user_hit(self, va: str, size: int, need: int, code_map: bool) -> tuple[str, str]:
        """(i1 hit, i64 host address) in user mode: the guest address space
        is one host mapping; the page protection table (and for stores the
        code map) decide, as UserCPU.translate_data does."""
        um = self.user
        inside = self.assign(f"icmp ult i64 {va}, {um.size}")
        page = self.assign(f"lshr i64 {va}, 12")
        page = self.assign(f"select i1 {inside}, i64 {page}, i64 0")
        pa = self.assign(f"add i64 {page}, {self.symbol(SYM_USER_PROT)}")
        pp = self.assign(f"inttoptr i64 {pa} to ptr")
        prot = self.assign(f"load i8, ptr {pp}")
        have = self.assign(f"and i8 {prot}, {_lit(need, 8)}")
        hit = self.assign(f"icmp eq i8 {have}, {_lit(need, 8)}")
        hit = self.assign(f"and i1 {hit}, {inside}")
        if code_map:
            ca = self.assign(f"add i64 {page}, {self.symbol(SYM_USER_CODE)}")
            cp = self.assign(f"inttoptr i64 {ca} to ptr")
            code = self.assign(f"load i8, ptr {cp}")
            clean = self.assign(f"icmp eq i8 {code}, 0")
            hit = self.assign(f"and i1 {hit}, {clean}")
        if size > 1:
            off = self.assign(f"and i64 {va}, 4095")
            fits = self.assign(f"icmp ule i64 {off}, {4096 - size}")
            hit = self.assign(f"and i1 {hit}, {fits}")
        host = self.assign(f"add i64 {va}, {self.symbol(SYM_USER_BASE)}")
        return hit, host

    def symbol(self, name: str) -> str:
        """The address of an external data symbol, as an i64 constant."""
        self.declares.add(f"@{name} = external global i8")
        return f"ptrtoint (ptr @{name} to i64)"

    def mem_call(self, kind: int, va: str, value: str) -> None:
        # The state was synced before the access (`sync`), and the slow path
        # never writes registers: nothing to spill or reload around it.
        self.declares.add(f"declare i32 @{SYM_MEM_CB}(ptr, i64, i64, i64)")
        st = self.assign(f"call i32 @{SYM_MEM_CB}(ptr %s, i64 {kind}, i64 {va}, i64 {value})")
        self.check_status(st)

    def load(self, op, m: int) -> None:
        size, signed = op.size, bool(op.aux)
        bits = size * 8
        va = self.address(op)
        self.sync()
        if self.user is not None:
            hit, host = self.user_hit(va, size, USER_READ, False)
        else:
            hit, host = self.tlb_hit(va, size, 0)
        k = self.n
        self.emit(f"br i1 {hit}, label %ldf{k}, label %lds{k}")
        self.lines.append(f"ldf{k}:")
        p = self.assign(f"inttoptr i64 {host} to ptr")
        raw = self.assign(f"load i{bits}, ptr {p}, align 1")
        fast = self.widen(raw, bits, signed)
        self.emit(f"br label %ldj{k}")
        self.lines.append(f"lds{k}:")
        self.mem_call(size | (MEM_SIGNED if signed else 0), va, "0")
        slow = self.load_word(int(Word.HRET))
        self.emit(f"br label %ldj{k}")
        # The slow block's last label is where the phi's edge comes from.
        slow_label = self._last_label()
        self.lines.append(f"ldj{k}:")
        v = self.assign(f"phi i64 [ {fast}, %ldf{k} ], [ {slow}, %{slow_label} ]")
        if m != M64:
            v = self.assign(f"and i64 {v}, {_lit(m)}")
        self.write(op.d, v)

    def _last_label(self) -> str:
        for line in reversed(self.lines):
            if line.endswith(":") and not line.startswith(" "):
                return line[:-1]
        raise AssertionError("no label")

    def store(self, op) -> None:
        size = op.size
        bits = size * 8
        va = self.address(op)
        value = self.read(op.b)
        self.sync()
        if self.user is not None:
            # No reservation to clear in user mode (LR/SC compare values).
            hit, host = self.user_hit(va, size, USER_WRITE, True)
        else:
            hit, host = self.tlb_hit(va, size, TLB_WRITE)
            resv = self.load_word(int(Word.RESV))
            free = self.assign(f"icmp eq i64 {resv}, 0")
            hit = self.assign(f"and i1 {hit}, {free}")
        k = self.n
        self.emit(f"br i1 {hit}, label %stf{k}, label %sts{k}")
        self.lines.append(f"stf{k}:")
        p = self.assign(f"inttoptr i64 {host} to ptr")
        self.emit(f"store i{bits} {self.narrow(value, bits)}, ptr {p}, align 1")
        self.emit(f"br label %stj{k}")
        self.lines.append(f"sts{k}:")
        self.mem_call(size | MEM_STORE, va, value)
        self.emit(f"br label %stj{k}")
        self.lines.append(f"stj{k}:")

    # -- helpers --------------------------------------------------------------------
    def call(self, op) -> None:
        inline = self.inline.get(op.aux)
        if inline is not None:
            value = inline(self, [self.read(x) for x in op.args], getattr(self.blk, "xlen", 64))
            if op.d is not None:
                self.write(op.d, value)
            return
        args = []
        slot = 0
        for x in op.args:
            if isinstance(x, Const):
                args.append((True, x.value))
            else:
                self.store_word(int(Word.ARGS) + slot, self.read(x))
                args.append((False, slot))
                slot += 1
        self.helper_called = True
        site = len(self.sites)
        self.sites.append(CallSite(op.aux, tuple(args), op.d is not None))
        # Helpers see the PC of the block being run, as on the Python tiers.
        self.store_word(int(Word.PC), _lit(self.blk.pc))
        self.spill()
        self.declares.add(f"declare i32 @{SYM_HELPER_CB}(ptr, i64, i64)")
        st = self.assign(f"call i32 @{SYM_HELPER_CB}(ptr %s, i64 ptrtoint (ptr @{self.name} to i64), "
                         f"i64 {site})")
        self.check_status(st)
        self.reload()
        if op.d is not None:
            self.write(op.d, self.load_word(int(Word.HRET)))

    # -- exits ----------------------------------------------------------------------
    def exit(self, target) -> None:
        """Leave the member: its instructions come off the budget; return
        when the budget is spent or Python asked for control; else go on in
        this function when the next PC is one of its members (a loop, a
        region) and the flags its code was made for still hold; else chain
        through the native block table (MISS when the next block is not
        there). The next PC goes to the state only when control leaves the
        function. Each exit has its own code (and indirect jump): one
        shared exit predicts worse."""
        nxt = self.read(target)
        # Once here for every way out (below, `spill` adds only the budget).
        self.sync()
        budget = self.assign("load i64, ptr %budget")
        left = self.assign(f"sub i64 {budget}, {self.blk.n_insns}")
        self.emit(f"store i64 {left}, ptr %budget")
        # Volatile: Python may ask from another thread, and a loop with no
        # call must not read it once for all iterations.
        req_p = self.word_ptr(int(Word.EXIT_REQ))
        req = self.assign(f"load volatile i64, ptr {req_p}")
        spent = self.assign(f"icmp sle i64 {left}, 0")
        asked = self.assign(f"icmp ne i64 {req}, 0")
        stop = self.assign(f"or i1 {spent}, {asked}")
        k = self.n
        self.emit(f"br i1 {stop}, label %x{k}stop, label %x{k}go")
        self.lines.append(f"x{k}stop:")
        self.spill()
        self.store_word(int(Word.PC), nxt)
        self.emit(f"ret i32 {int(Status.STOPPED)}")
        self.lines.append(f"x{k}go:")
        # A member is entered with the state's flags equal to its own (the
        # table and Python look blocks up by flags, members share theirs),
        # and only a helper (a CSR write) changes them while native code runs.
        same_flags = not self.helper_called
        flags = _lit(self.blk.flags) if same_flags else self.load_word(int(Word.FLAGS))
        member = None
        if isinstance(target, Const):
            member = next((i for i, b in enumerate(self.blocks)
                           if b.pc == (target.value & M64)), None)
        if member is not None and same_flags:
            self.br(f"m{member}start")
            return
        if member is not None:
            # Flags changed under the code (a helper wrote a CSR): Python
            # finds the block for the new ones. No table lookup here: the
            # code would be there for a case that almost never happens.
            same = self.assign(f"icmp eq i64 {flags}, {_lit(self.blocks[member].flags)}")
            self.emit(f"br i1 {same}, label %m{member}start, label %x{k}miss")
            self._miss(k, nxt)
            return
        idx = self.assign(f"lshr i64 {nxt}, 1")
        idx = self.assign(f"and i64 {idx}, {TB_ENTRIES - 1}")
        at = self.assign(f"mul i64 {idx}, {TB_ENTRY_WORDS}")
        at = self.assign(f"add i64 {at}, {TB_TABLE}")
        epc = self.load_word(at)
        at1 = self.assign(f"add i64 {at}, 1")
        eflags = self.load_word(at1)
        at2 = self.assign(f"add i64 {at}, 2")
        efn = self.load_word(at2)
        at3 = self.assign(f"add i64 {at}, 3")
        egen = self.load_word(at3)
        gen = self.load_word(int(Word.TB_GEN))
        h1 = self.assign(f"icmp eq i64 {epc}, {nxt}")
        h2 = self.assign(f"icmp eq i64 {eflags}, {flags}")
        h3 = self.assign(f"icmp eq i64 {egen}, {gen}")
        hit = self.assign(f"and i1 {h1}, {h2}")
        hit = self.assign(f"and i1 {hit}, {h3}")
        self.emit(f"br i1 {hit}, label %x{k}chain, label %x{k}miss")
        self.lines.append(f"x{k}chain:")
        self.spill()
        # The next function may be a region: its entry reads the PC.
        self.store_word(int(Word.PC), nxt)
        fp = self.assign(f"inttoptr i64 {efn} to ptr")
        r = self.assign(f"musttail call i32 {fp}(ptr %s)")
        self.emit(f"ret i32 {r}")
        self._miss(k, nxt)

    def _miss(self, k: int, nxt: str) -> None:
        """Exit k's way back to Python: the next block has no native code here."""
        self.lines.append(f"x{k}miss:")
        self.spill()
        self.store_word(int(Word.PC), nxt)
        self.emit(f"ret i32 {int(Status.MISS)}")
        self.terminated = True


def _guest_registers(blk: Block) -> tuple[set[int], set[int]]:
    """(guest registers the block reads or writes, those it writes)."""
    used: set[int] = set()
    written: set[int] = set()
    for op in blk.ops:
        for x in (op.a, op.b, op.c, op.e, *op.args):
            if type(x) is int and x < GUEST_REGS:
                used.add(x)
        if op.d is not None and op.d < GUEST_REGS:
            used.add(op.d)
            written.add(op.d)
    return used, written


def lower_block(blk: Block | list[Block], name: str, inline: dict | None = None,
                user: UserMemory | None = None) -> Lowered:
    """The LLVM IR function of a block, or of a region of blocks entered at
    any of them (raises Unsupported). `inline` maps helpers to emitters of
    their exact effect (llvm_inline.py); `user` is the user-mode memory
    layout (else memory goes through the native TLB)."""
    blocks = blk if isinstance(blk, list) else [blk]
    fb = _FunctionBuilder(blocks, name, inline or {}, user)
    return Lowered(name, fb.build(), fb.declares, fb.sites)
