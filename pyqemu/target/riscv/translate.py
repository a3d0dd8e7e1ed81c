"""RISC-V front end: guest instructions to IR.

`Translator.translate` decodes instructions from a PC (through the CPU's
instruction fetch, so the MMU and PMP apply) and emits the IR of one
translation block. Each `trans_<name>` method holds only the semantics of
one instruction (the decoder tables in insn32.py and insn16.py say which
bits select it).

Register file layout seen by the IR: 0-31 the integer registers (x0 is never
written: writes to it are dropped here), 32-63 the floating-point registers
(64-bit, single values NaN-boxed), 64 on block temporaries.
"""

from __future__ import annotations

from ...accel.tcg.ir import Block, Cond, Const, Op, Opc, fast_members
from . import csr as csrmod
from . import fpu_helper as fh
from . import op_helper as oh
from .decode import Decoder
from .insn16 import ENCODINGS as ENC16
from .insn32 import ENCODINGS as ENC32
from .trap import Cause, GuestTrap

Opc = fast_members(Opc)      # plain attributes: see ir.fast_members
Cond = fast_members(Cond)

FREG = 32
TEMP_BASE = 64
MAX_BLOCK_INSNS = 64

# Block flags: what the translated code depends on besides the PC.
FLAG_PRIV_MASK = 3          # privilege at translation time
FLAG_FS_SHIFT = 2           # mstatus.FS (2 bits)

# Instructions that must be the first of their block: they read or change
# state (instret, privilege, interrupt enables) that must be exact there.
_BLOCK_FIRST = {"csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci", "mret", "sret",
                "wfi", "sfence_vma", "fence_i", "ecall", "ebreak"}


class EndBlock(Exception):
    """Raised by the fetch of a later instruction: finish the block before it."""


class Translator:
    def __init__(self, xlen: int, extensions: set[str]):
        self.xlen = xlen
        self.mask = (1 << xlen) - 1
        self.ext = extensions
        self.decoder = Decoder(ENC32 + ENC16, xlen, extensions)

    # ------------------------------------------------------------------
    def translate(self, cpu, pc: int, flags: int) -> Block:
        self.cpu = cpu
        self.block = blk = Block(pc, flags)
        blk.xlen = self.xlen
        self.ops = blk.ops
        self.ntemps = 0
        self.nlabels = 0
        self.priv = flags & FLAG_PRIV_MASK
        self.fs = (flags >> FLAG_FS_SHIFT) & 3
        self.pc = pc
        self.done = False
        phys_pages = set()
        while not self.done:
            try:
                word, length, ppages = cpu.fetch_insn(self.pc, first=not blk.insn_pcs)
            except EndBlock:
                self.goto(self.pc)
                break
            decoded = self.decoder.decode(word, length)
            name = decoded[0].name if decoded else None
            if name in _BLOCK_FIRST and blk.insn_pcs:
                self.goto(self.pc)
                break
            phys_pages.update(ppages)
            blk.insn_pcs.append(self.pc)
            self.ops.append(Op(Opc.INSN_START, a=Const(self.pc)))
            self.insn = word
            self.len = length
            self.next_pc = (self.pc + length) & self.mask
            if cpu.triggers.any_exec and cpu.triggers.match_exec(self.pc, self.priv):
                # mtval 0, as QEMU 7.2 (the spec allows 0 or the address).
                self.raise_trap(Cause.BREAKPOINT, 0)
            elif decoded is None:
                self.illegal()
            else:
                enc, args = decoded
                getattr(self, "trans_" + enc.name)(args)
            self.pc = self.next_pc
            if not self.done and (len(blk.insn_pcs) >= MAX_BLOCK_INSNS
                                  or (self.pc & 0xFFF) > 0xFFE or (self.pc & 0xFFF) == 0):
                self.goto(self.pc)
        blk.size = (self.pc - pc) & self.mask
        blk.phys_pages = tuple(sorted(phys_pages))
        blk.ntemps = self.ntemps
        return blk

    # -- emission helpers ---------------------------------------------
    def temp(self) -> int:
        t = TEMP_BASE + self.ntemps
        self.ntemps += 1
        return t

    def label(self) -> int:
        self.nlabels += 1
        return self.nlabels

    def emit(self, opc, d=None, a=None, b=None, bits=None, **kw) -> None:
        self.ops.append(Op(opc, d, a, b, bits=bits or self.xlen, **kw))

    def gpr(self, i):
        return Const(0) if i == 0 else i

    def call(self, fn, *args, d=None):
        self.ops.append(Op(Opc.CALL, d=d, aux=fn, args=tuple(args)))

    def goto(self, pc: int) -> None:
        self.ops.append(Op(Opc.GOTO_TB, a=Const(pc & self.mask)))
        self.done = True

    def exit_to(self, reg) -> None:
        self.ops.append(Op(Opc.EXIT, a=reg))
        self.done = True

    def raise_trap(self, cause: int, tval: int = 0) -> None:
        self.call(oh.raise_exception, Const(cause), Const(tval))
        self.done = True

    def illegal(self, *_):
        # mtval holds the instruction bits (as QEMU 7.1+ does); 16 for RVC.
        self.raise_trap(Cause.ILLEGAL_INSN, self.insn & (0xFFFF if self.len == 2 else 0xFFFFFFFF))

    # -- integer ALU ------------------------------------------------------
    def _alu(self, opc, a, bits=None):
        if a.rd:
            self.emit(opc, a.rd, self.gpr(a.rs1), self.gpr(a.rs2), bits)

    def _alui(self, opc, a, imm=None):
        if a.rd:
            self.emit(opc, a.rd, self.gpr(a.rs1), Const((a.imm if imm is None else imm) & self.mask))

    def _aluw(self, opc, a, b):
        """An RV64 *W operation: 32-bit result, sign-extended."""
        if a.rd:
            self.emit(opc, a.rd, self.gpr(a.rs1), b, 32)
            self.emit(Opc.EXT, a.rd, a.rd, aux=(32, True))

    def _setc(self, cond, a, b):
        if a.rd:
            self.emit(Opc.SETCOND, a.rd, self.gpr(a.rs1), b, cond=cond)

    def trans_lui(self, a):
        if a.rd:
            self.emit(Opc.MOV, a.rd, Const(a.imm & self.mask))

    def trans_auipc(self, a):
        if a.rd:
            self.emit(Opc.MOV, a.rd, Const((self.pc + a.imm) & self.mask))

    def trans_addi(self, a): self._alui(Opc.ADD, a)
    def trans_slti(self, a): self._setc(Cond.LT, a, Const(a.imm & self.mask))
    def trans_sltiu(self, a): self._setc(Cond.LTU, a, Const(a.imm & self.mask))
    def trans_xori(self, a): self._alui(Opc.XOR, a)
    def trans_ori(self, a): self._alui(Opc.OR, a)
    def trans_andi(self, a): self._alui(Opc.AND, a)
    def trans_slli(self, a): self._alui(Opc.SHL, a, a.shamt)
    def trans_srli(self, a): self._alui(Opc.SHR, a, a.shamt)
    def trans_srai(self, a): self._alui(Opc.SAR, a, a.shamt)
    def trans_add(self, a): self._alu(Opc.ADD, a)
    def trans_sub(self, a): self._alu(Opc.SUB, a)
    def trans_sll(self, a): self._alu(Opc.SHL, a)
    def trans_slt(self, a): self._setc(Cond.LT, a, self.gpr(a.rs2))
    def trans_sltu(self, a): self._setc(Cond.LTU, a, self.gpr(a.rs2))
    def trans_xor(self, a): self._alu(Opc.XOR, a)
    def trans_srl(self, a): self._alu(Opc.SHR, a)
    def trans_sra(self, a): self._alu(Opc.SAR, a)
    def trans_or(self, a): self._alu(Opc.OR, a)
    def trans_and(self, a): self._alu(Opc.AND, a)
    def trans_addiw(self, a): self._aluw(Opc.ADD, a, Const(a.imm & 0xFFFFFFFF))
    def trans_slliw(self, a): self._aluw(Opc.SHL, a, Const(a.shamt))
    def trans_srliw(self, a): self._aluw(Opc.SHR, a, Const(a.shamt))
    def trans_sraiw(self, a): self._aluw(Opc.SAR, a, Const(a.shamt))
    def trans_addw(self, a): self._aluw(Opc.ADD, a, self.gpr(a.rs2))
    def trans_subw(self, a): self._aluw(Opc.SUB, a, self.gpr(a.rs2))
    def trans_sllw(self, a): self._aluw(Opc.SHL, a, self.gpr(a.rs2))
    def trans_srlw(self, a): self._aluw(Opc.SHR, a, self.gpr(a.rs2))
    def trans_sraw(self, a): self._aluw(Opc.SAR, a, self.gpr(a.rs2))

    # M
    def trans_mul(self, a): self._alu(Opc.MUL, a)
    def trans_mulh(self, a): self._alu(Opc.MULH, a)
    def trans_mulhsu(self, a): self._alu(Opc.MULHSU, a)
    def trans_mulhu(self, a): self._alu(Opc.MULHU, a)
    def trans_div(self, a): self._alu(Opc.DIV, a)
    def trans_divu(self, a): self._alu(Opc.DIVU, a)
    def trans_rem(self, a): self._alu(Opc.REM, a)
    def trans_remu(self, a): self._alu(Opc.REMU, a)
    def trans_mulw(self, a): self._aluw(Opc.MUL, a, self.gpr(a.rs2))
    def trans_divw(self, a): self._aluw(Opc.DIV, a, self.gpr(a.rs2))
    def trans_divuw(self, a): self._aluw(Opc.DIVU, a, self.gpr(a.rs2))
    def trans_remw(self, a): self._aluw(Opc.REM, a, self.gpr(a.rs2))
    def trans_remuw(self, a): self._aluw(Opc.REMU, a, self.gpr(a.rs2))

    # -- Zba ---------------------------------------------------------------
    def _shadd(self, a, sh, uw=False):
        if not a.rd:
            return
        t = self.temp()
        src = self.gpr(a.rs1)
        if uw:
            self.emit(Opc.EXT, t, src, aux=(32, False))
            src = t
        self.emit(Opc.SHL, t, src, Const(sh))
        self.emit(Opc.ADD, a.rd, t, self.gpr(a.rs2))

    def trans_sh1add(self, a): self._shadd(a, 1)
    def trans_sh2add(self, a): self._shadd(a, 2)
    def trans_sh3add(self, a): self._shadd(a, 3)
    def trans_add_uw(self, a): self._shadd(a, 0, True)
    def trans_sh1add_uw(self, a): self._shadd(a, 1, True)
    def trans_sh2add_uw(self, a): self._shadd(a, 2, True)
    def trans_sh3add_uw(self, a): self._shadd(a, 3, True)

    def trans_slli_uw(self, a):
        if a.rd:
            t = self.temp()
            self.emit(Opc.EXT, t, self.gpr(a.rs1), aux=(32, False))
            self.emit(Opc.SHL, a.rd, t, Const(a.shamt))

    # -- Zbb ---------------------------------------------------------------
    def _not_then(self, opc, a):
        if a.rd:
            t = self.temp()
            self.emit(Opc.XOR, t, self.gpr(a.rs2), Const(self.mask))
            self.emit(opc, a.rd, self.gpr(a.rs1), t)

    def trans_andn(self, a): self._not_then(Opc.AND, a)
    def trans_orn(self, a): self._not_then(Opc.OR, a)

    def trans_xnor(self, a):
        if a.rd:
            self.emit(Opc.XOR, a.rd, self.gpr(a.rs1), self.gpr(a.rs2))
            self.emit(Opc.XOR, a.rd, a.rd, Const(self.mask))

    def _unary(self, opc, a, bits=None):
        if a.rd:
            self.emit(opc, a.rd, self.gpr(a.rs1), bits=bits)

    def trans_clz(self, a): self._unary(Opc.CLZ, a)
    def trans_ctz(self, a): self._unary(Opc.CTZ, a)
    def trans_cpop(self, a): self._unary(Opc.CPOP, a)

    def _unaryw(self, opc, a):
        if a.rd:
            self.emit(opc, a.rd, self.gpr(a.rs1), bits=32)

    def trans_clzw(self, a): self._unaryw(Opc.CLZ, a)
    def trans_ctzw(self, a): self._unaryw(Opc.CTZ, a)
    def trans_cpopw(self, a): self._unaryw(Opc.CPOP, a)

    def _minmax(self, a, cond):
        if a.rd:
            x, y = self.gpr(a.rs1), self.gpr(a.rs2)
            self.ops.append(Op(Opc.MOVCOND, a.rd, x, y, x, y, cond=cond, bits=self.xlen))

    def trans_max(self, a): self._minmax(a, Cond.GE)
    def trans_maxu(self, a): self._minmax(a, Cond.GEU)
    def trans_min(self, a): self._minmax(a, Cond.LT)
    def trans_minu(self, a): self._minmax(a, Cond.LTU)

    def _ext(self, a, frm, signed):
        if a.rd:
            self.emit(Opc.EXT, a.rd, self.gpr(a.rs1), aux=(frm, signed))

    def trans_sext_b(self, a): self._ext(a, 8, True)
    def trans_sext_h(self, a): self._ext(a, 16, True)
    def trans_zext_h(self, a): self._ext(a, 16, False)
    def trans_rol(self, a): self._alu(Opc.ROTL, a)
    def trans_ror(self, a): self._alu(Opc.ROTR, a)
    def trans_rolw(self, a): self._aluw(Opc.ROTL, a, self.gpr(a.rs2))
    def trans_rorw(self, a): self._aluw(Opc.ROTR, a, self.gpr(a.rs2))
    def trans_rori(self, a): self._alui(Opc.ROTR, a, a.shamt)
    def trans_roriw(self, a): self._aluw(Opc.ROTR, a, Const(a.shamt))
    def trans_rev8(self, a): self._unary(Opc.BSWAP, a)

    def trans_orc_b(self, a):
        if a.rd:
            self.call(oh.orc_b, self.gpr(a.rs1), d=a.rd)

    # -- Zbs ---------------------------------------------------------------
    def _bitop(self, a, opc, idx):
        if not a.rd:
            return
        t = self.temp()
        if isinstance(idx, Const):
            self.emit(Opc.MOV, t, Const(1 << (idx.value & (self.xlen - 1))))
        else:
            self.emit(Opc.SHL, t, Const(1), idx)
        if opc == "clr":
            self.emit(Opc.XOR, t, t, Const(self.mask))
            self.emit(Opc.AND, a.rd, self.gpr(a.rs1), t)
        elif opc == "inv":
            self.emit(Opc.XOR, a.rd, self.gpr(a.rs1), t)
        elif opc == "set":
            self.emit(Opc.OR, a.rd, self.gpr(a.rs1), t)

    def _bext(self, a, idx):
        if a.rd:
            self.emit(Opc.SHR, a.rd, self.gpr(a.rs1), idx)
            self.emit(Opc.AND, a.rd, a.rd, Const(1))

    def trans_bclr(self, a): self._bitop(a, "clr", self.gpr(a.rs2))
    def trans_binv(self, a): self._bitop(a, "inv", self.gpr(a.rs2))
    def trans_bset(self, a): self._bitop(a, "set", self.gpr(a.rs2))
    def trans_bext(self, a): self._bext(a, self.gpr(a.rs2))
    def trans_bclri(self, a): self._bitop(a, "clr", Const(a.shamt))
    def trans_binvi(self, a): self._bitop(a, "inv", Const(a.shamt))
    def trans_bseti(self, a): self._bitop(a, "set", Const(a.shamt))
    def trans_bexti(self, a): self._bext(a, Const(a.shamt))

    # -- control transfer ---------------------------------------------------
    def trans_jal(self, a):
        if a.rd:
            self.emit(Opc.MOV, a.rd, Const(self.next_pc))
        self.goto(self.pc + a.imm)

    def trans_jalr(self, a):
        t = self.temp()
        self.emit(Opc.ADD, t, self.gpr(a.rs1), Const(a.imm & self.mask))
        self.emit(Opc.AND, t, t, Const(self.mask & ~1))
        if a.rd:
            self.emit(Opc.MOV, a.rd, Const(self.next_pc))
        self.exit_to(t)

    def _branch(self, a, cond):
        taken = self.label()
        self.ops.append(Op(Opc.BRCOND, a=self.gpr(a.rs1), b=self.gpr(a.rs2), cond=cond,
                           aux=taken, bits=self.xlen))
        self.goto(self.next_pc)
        self.ops.append(Op(Opc.LABEL, aux=taken))
        self.goto(self.pc + a.imm)

    def trans_beq(self, a): self._branch(a, Cond.EQ)
    def trans_bne(self, a): self._branch(a, Cond.NE)
    def trans_blt(self, a): self._branch(a, Cond.LT)
    def trans_bge(self, a): self._branch(a, Cond.GE)
    def trans_bltu(self, a): self._branch(a, Cond.LTU)
    def trans_bgeu(self, a): self._branch(a, Cond.GEU)

    # -- loads and stores ---------------------------------------------------
    def _load(self, a, size, signed, dst=None):
        d = dst if dst is not None else a.rd
        if d == 0:
            # A load to x0 still accesses memory (and may fault).
            d = self.temp()
        self.emit(Opc.LD, d, self.gpr(a.rs1), size=size, offset=a.imm, aux=signed)

    def _store(self, a, size, src=None):
        self.emit(Opc.ST, None, self.gpr(a.rs1), src if src is not None else self.gpr(a.rs2),
                  size=size, offset=a.imm)

    def trans_lb(self, a): self._load(a, 1, True)
    def trans_lh(self, a): self._load(a, 2, True)
    def trans_lw(self, a): self._load(a, 4, True)
    def trans_ld(self, a): self._load(a, 8, True)
    def trans_lbu(self, a): self._load(a, 1, False)
    def trans_lhu(self, a): self._load(a, 2, False)
    def trans_lwu(self, a): self._load(a, 4, False)
    def trans_sb(self, a): self._store(a, 1)
    def trans_sh(self, a): self._store(a, 2)
    def trans_sw(self, a): self._store(a, 4)
    def trans_sd(self, a): self._store(a, 8)

    # -- A ---------------------------------------------------------------------
    def _amo(self, a, op, size):
        # The helper does the whole read-modify-write (and its faults) before
        # rd is written, so a faulting AMO leaves rd unchanged.
        d = a.rd if a.rd else None
        self.call(oh.AMO_HELPERS[op], self.gpr(a.rs1), self.gpr(a.rs2), Const(size), d=d)

    def trans_lr_w(self, a): self._amo(a, "lr", 4)
    def trans_sc_w(self, a): self._amo(a, "sc", 4)
    def trans_lr_d(self, a): self._amo(a, "lr", 8)
    def trans_sc_d(self, a): self._amo(a, "sc", 8)

    for _op in ("swap", "add", "xor", "and", "or", "min", "max", "minu", "maxu"):
        for _sfx, _sz in (("w", 4), ("d", 8)):
            locals()[f"trans_amo{_op}_{_sfx}"] = (lambda op, sz: lambda self, a: self._amo(a, op, sz))(_op, _sz)
    del _op, _sfx, _sz

    # -- system ------------------------------------------------------------------
    def trans_fence(self, a):
        pass

    def trans_fence_i(self, a):
        self.call(oh.fence_i)
        self.goto(self.next_pc)

    def trans_ecall(self, a):
        cause = {0: Cause.ECALL_U, 1: Cause.ECALL_S, 3: Cause.ECALL_M}[self.priv]
        self.raise_trap(cause, 0)

    def trans_ebreak(self, a):
        # QEMU 7.2 leaves mtval 0 for ebreak (the spec allows 0 or the PC).
        self.raise_trap(Cause.BREAKPOINT, 0)

    def trans_mret(self, a):
        if self.priv < 3:
            return self.illegal()
        t = self.temp()
        self.call(oh.mret, d=t)
        self.exit_to(t)

    def trans_sret(self, a):
        if self.priv < 1:
            return self.illegal()
        t = self.temp()
        self.call(oh.sret, Const(self.insn), d=t)
        self.exit_to(t)

    def trans_wfi(self, a):
        self.call(oh.wfi, Const(self.insn))
        self.goto(self.next_pc)

    def trans_sfence_vma(self, a):
        if self.priv < 1:
            return self.illegal()
        self.call(oh.sfence_vma, Const(self.insn), self.gpr(a.rs1), self.gpr(a.rs2))
        self.goto(self.next_pc)

    def _csr(self, a, kind, operand, writes):
        d = a.rd if a.rd else None
        self.call(csrmod.csr_insn, Const(a.csr), Const(kind), operand, Const(writes),
                  Const(a.rd != 0), Const(self.insn), d=d)
        self.goto(self.next_pc)

    def trans_csrrw(self, a): self._csr(a, csrmod.CSRRW, self.gpr(a.rs1), True)
    def trans_csrrs(self, a): self._csr(a, csrmod.CSRRS, self.gpr(a.rs1), a.rs1 != 0)
    def trans_csrrc(self, a): self._csr(a, csrmod.CSRRC, self.gpr(a.rs1), a.rs1 != 0)
    def trans_csrrwi(self, a): self._csr(a, csrmod.CSRRW, Const(a.rs1), True)
    def trans_csrrsi(self, a): self._csr(a, csrmod.CSRRS, Const(a.rs1), a.rs1 != 0)
    def trans_csrrci(self, a): self._csr(a, csrmod.CSRRC, Const(a.rs1), a.rs1 != 0)

    # -- F and D ---------------------------------------------------------------
    def _fp_ok(self) -> bool:
        if self.fs == 0:
            self.illegal()
            return False
        return True

    def _fs_dirty(self):
        if self.fs != 3:
            self.call(oh.mark_fs_dirty)

    def _rm(self, rm) -> bool:
        """Static rounding modes 5 and 6 are reserved: illegal at translation.
        Dynamic (7) is checked by the helper against frm at run time."""
        if rm in (5, 6):
            self.illegal()
            return False
        return True

    def _fload(self, a, size):
        if not self._fp_ok():
            return
        t = self.temp()
        self.emit(Opc.LD, t, self.gpr(a.rs1), size=size, offset=a.imm, aux=False, bits=64)
        if size == 4:
            self.emit(Opc.OR, FREG + a.rd, t, Const(0xFFFFFFFF00000000), bits=64)
        else:
            self.emit(Opc.MOV, FREG + a.rd, t, bits=64)
        self._fs_dirty()

    def _fstore(self, a, size):
        if not self._fp_ok():
            return
        self._store(a, size, src=FREG + a.rs2)

    def trans_flw(self, a): self._fload(a, 4)
    def trans_fld(self, a): self._fload(a, 8)
    def trans_fsw(self, a): self._fstore(a, 4)
    def trans_fsd(self, a): self._fstore(a, 8)

    def _fop(self, helper, a, srcs, rm=None, dest_f=True, dirty=True):
        """A floating-point operation done by a helper.

        srcs are register indices (FREG-relative for FP sources, or ('x', i)
        for integer sources); rm, if given, is the instruction's rm field.
        """
        if not self._fp_ok():
            return
        if rm is not None and not self._rm(rm):
            return
        args = []
        for s in srcs:
            if isinstance(s, tuple):
                args.append(self.gpr(s[1]))
            else:
                args.append(FREG + s)
        if rm is not None:
            args.append(Const(rm))
            args.append(Const(self.insn))
        if dest_f:
            d = FREG + a.rd
        else:
            d = a.rd if a.rd else None
        self.call(helper, *args, d=d)
        if dirty:
            self._fs_dirty()

    def _define_fp():
        """Generate trans_ methods for the FP table: name -> (helper, operand shape)."""
        methods = {}
        for p, fmt in (("s", "F32"), ("d", "F64")):
            for op in ("add", "sub", "mul", "div"):
                methods[f"f{op}_{p}"] = (f"f{op}_{p}", "rr_rm")
            methods[f"fsqrt_{p}"] = (f"fsqrt_{p}", "r_rm")
            for op in ("fmadd", "fmsub", "fnmsub", "fnmadd"):
                methods[f"{op}_{p}"] = (f"{op}_{p}", "rrr_rm")
            for op in ("fsgnj", "fsgnjn", "fsgnjx", "fmin", "fmax"):
                methods[f"{op}_{p}"] = (f"{op}_{p}", "rr")
            for op in ("feq", "flt", "fle"):
                methods[f"{op}_{p}"] = (f"{op}_{p}", "rr_x")
            methods[f"fclass_{p}"] = (f"fclass_{p}", "r_x_nodirty")
            for i in ("w", "wu", "l", "lu"):
                methods[f"fcvt_{i}_{p}"] = (f"fcvt_{i}_{p}", "r_x_rm")
                methods[f"fcvt_{p}_{i}"] = (f"fcvt_{p}_{i}", "x_rm")
        methods["fcvt_s_d"] = ("fcvt_s_d", "r_rm")
        methods["fcvt_d_s"] = ("fcvt_d_s", "r_rm")
        methods["fmv_x_w"] = ("fmv_x_w", "r_x_nodirty")
        methods["fmv_x_d"] = ("fmv_x_d", "r_x_nodirty")
        methods["fmv_w_x"] = ("fmv_w_x", "x")
        methods["fmv_d_x"] = ("fmv_d_x", "x")

        def make(helper_name, shape):
            helper = getattr(fh, helper_name)

            def trans(self, a):
                if shape == "rr_rm":
                    self._fop(helper, a, (a.rs1, a.rs2), rm=a.rm)
                elif shape == "r_rm":
                    self._fop(helper, a, (a.rs1,), rm=a.rm)
                elif shape == "rrr_rm":
                    self._fop(helper, a, (a.rs1, a.rs2, a.rs3), rm=a.rm)
                elif shape == "rr":
                    self._fop(helper, a, (a.rs1, a.rs2))
                elif shape == "rr_x":
                    self._fop(helper, a, (a.rs1, a.rs2), dest_f=False)
                elif shape == "r_x_nodirty":
                    self._fop(helper, a, (a.rs1,), dest_f=False, dirty=False)
                elif shape == "r_x_rm":
                    self._fop(helper, a, (a.rs1,), rm=a.rm, dest_f=False)
                elif shape == "x_rm":
                    self._fop(helper, a, (("x", a.rs1),), rm=a.rm)
                elif shape == "x":
                    self._fop(helper, a, (("x", a.rs1),))
            trans.__name__ = "trans_" + helper_name
            return trans

        return {"trans_" + k: make(*v) for k, v in methods.items()}

    locals().update(_define_fp())
    del _define_fp
