"""Encodings of the compressed (C) instructions, each expanded to the 32-bit
instruction whose semantics it shares (unprivileged spec, chapter "C").

A format returns the operands of the expanded instruction, or None for a
reserved encoding (then decoding goes on and, failing all, the instruction
is illegal).
"""

from __future__ import annotations

from types import SimpleNamespace as A

from .decode import _bits as b, _sext, table


def _r(i, lo):                     # a 3-bit register field: x8..x15
    return 8 + ((i >> lo) & 7)


def _rd_full(i): return (i >> 7) & 31
def _rs2_full(i): return (i >> 2) & 31


def _ci_imm(i):                   # imm[5] at 12, imm[4:0] at 6:2
    return _sext((b(i, 12, 12) << 5) | b(i, 6, 2), 6)


def _ci_shamt(i):
    return (b(i, 12, 12) << 5) | b(i, 6, 2)


def _cj_imm(i):
    v = ((b(i, 12, 12) << 11) | (b(i, 8, 8) << 10) | (b(i, 10, 9) << 8) | (b(i, 6, 6) << 7)
         | (b(i, 7, 7) << 6) | (b(i, 2, 2) << 5) | (b(i, 11, 11) << 4) | (b(i, 5, 3) << 1))
    return _sext(v, 12)


def _cb_imm(i):
    v = ((b(i, 12, 12) << 8) | (b(i, 6, 5) << 6) | (b(i, 2, 2) << 5)
         | (b(i, 11, 10) << 3) | (b(i, 4, 3) << 1))
    return _sext(v, 9)


def _addi4spn(i):
    imm = (b(i, 10, 7) << 6) | (b(i, 12, 11) << 4) | (b(i, 5, 5) << 3) | (b(i, 6, 6) << 2)
    return A(rd=_r(i, 2), rs1=2, imm=imm) if imm else None


def _lw(i):                       # c.lw / c.flw: offset[5:3] at 12:10, [2] at 6, [6] at 5
    return A(rd=_r(i, 2), rs1=_r(i, 7),
             imm=(b(i, 12, 10) << 3) | (b(i, 6, 6) << 2) | (b(i, 5, 5) << 6))


def _ld(i):                       # c.ld / c.fld: offset[5:3] at 12:10, [7:6] at 6:5
    return A(rd=_r(i, 2), rs1=_r(i, 7), imm=(b(i, 12, 10) << 3) | (b(i, 6, 5) << 6))


def _sw(i):
    a = _lw(i)
    return A(rs1=a.rs1, rs2=a.rd, imm=a.imm)


def _sd(i):
    a = _ld(i)
    return A(rs1=a.rs1, rs2=a.rd, imm=a.imm)


def _addi(i):                     # c.addi (rd=0 is c.nop or a hint: both do nothing)
    rd = _rd_full(i)
    return A(rd=rd, rs1=rd, imm=_ci_imm(i))


def _addiw(i):
    rd = _rd_full(i)
    return A(rd=rd, rs1=rd, imm=_ci_imm(i)) if rd else None


def _li(i):
    return A(rd=_rd_full(i), rs1=0, imm=_ci_imm(i))


def _addi16sp(i):
    imm = _sext((b(i, 12, 12) << 9) | (b(i, 4, 3) << 7) | (b(i, 5, 5) << 6)
                | (b(i, 2, 2) << 5) | (b(i, 6, 6) << 4), 10)
    return A(rd=2, rs1=2, imm=imm) if imm else None


def _lui(i):
    rd = _rd_full(i)
    imm = _ci_imm(i) << 12
    return A(rd=rd, imm=imm) if imm and rd != 2 else None


def _shift_cb(xlen):
    def f(i):
        shamt = _ci_shamt(i)
        if xlen == 32 and shamt & 32:
            return None
        return A(rd=_r(i, 7), rs1=_r(i, 7), shamt=shamt)
    return f


def _andi(i):
    return A(rd=_r(i, 7), rs1=_r(i, 7), imm=_ci_imm(i))


def _ca(i):
    return A(rd=_r(i, 7), rs1=_r(i, 7), rs2=_r(i, 2))


def _j(i):
    return A(rd=0, imm=_cj_imm(i))


def _jal(i):
    return A(rd=1, imm=_cj_imm(i))


def _beqz(i):
    return A(rs1=_r(i, 7), rs2=0, imm=_cb_imm(i))


def _slli(xlen):
    def f(i):
        shamt = _ci_shamt(i)
        if xlen == 32 and shamt & 32:
            return None
        rd = _rd_full(i)
        return A(rd=rd, rs1=rd, shamt=shamt)
    return f


def _lwsp(need_rd):
    def f(i):
        rd = _rd_full(i)
        if need_rd and rd == 0:
            return None
        return A(rd=rd, rs1=2, imm=(b(i, 12, 12) << 5) | (b(i, 6, 4) << 2) | (b(i, 3, 2) << 6))
    return f


def _ldsp(need_rd):
    def f(i):
        rd = _rd_full(i)
        if need_rd and rd == 0:
            return None
        return A(rd=rd, rs1=2, imm=(b(i, 12, 12) << 5) | (b(i, 6, 5) << 3) | (b(i, 4, 2) << 6))
    return f


def _swsp(i):
    return A(rs1=2, rs2=_rs2_full(i), imm=(b(i, 12, 9) << 2) | (b(i, 8, 7) << 6))


def _sdsp(i):
    return A(rs1=2, rs2=_rs2_full(i), imm=(b(i, 12, 10) << 3) | (b(i, 9, 7) << 6))


def _jr(i):
    rs1 = _rd_full(i)
    return A(rd=0, rs1=rs1, imm=0) if rs1 else None


def _jalr(i):
    rs1 = _rd_full(i)
    return A(rd=1, rs1=rs1, imm=0) if rs1 else None


def _mv(i):
    return A(rd=_rd_full(i), rs1=0, rs2=_rs2_full(i))


def _add(i):
    rd = _rd_full(i)
    return A(rd=rd, rs1=rd, rs2=_rs2_full(i))


FORMATS = {
    "addi4spn": _addi4spn, "lw": _lw, "ld": _ld, "sw": _sw, "sd": _sd,
    "addi": _addi, "addiw": _addiw, "li": _li, "addi16sp": _addi16sp, "lui": _lui,
    "sh32": _shift_cb(32), "sh64": _shift_cb(64), "andi": _andi, "ca": _ca,
    "j": _j, "jal": _jal, "beqz": _beqz,
    "slli32": _slli(32), "slli64": _slli(64), "lwsp": _lwsp(True), "flwsp": _lwsp(False),
    "ldsp": _ldsp(True), "fldsp": _ldsp(False), "swsp": _swsp, "sdsp": _sdsp,
    "jr": _jr, "jalr": _jalr, "mv": _mv, "add": _add, "none": lambda i: A(),
}

TABLE = """
# Quadrant 0
c.addi4spn  000 ........ ...   00  addi4spn C       -> addi
c.fld       001 ... ... .. ... 00  ld       CD      -> fld
c.lw        010 ... ... .. ... 00  lw       C       -> lw
c.flw       011 ... ... .. ... 00  lw       CF   32 -> flw
c.ld        011 ... ... .. ... 00  ld       C    64 -> ld
c.fsd       101 ... ... .. ... 00  sd       CD      -> fsd
c.sw        110 ... ... .. ... 00  sw       C       -> sw
c.fsw       111 ... ... .. ... 00  sw       CF   32 -> fsw
c.sd        111 ... ... .. ... 00  sd       C    64 -> sd
# Quadrant 1
c.addi      000 . ..... ..... 01   addi     C       -> addi
c.jal       001 ...........   01   jal      C    32 -> jal
c.addiw     001 . ..... ..... 01   addiw    C    64 -> addiw
c.li        010 . ..... ..... 01   li       C       -> addi
c.addi16sp  011 . 00010 ..... 01   addi16sp C       -> addi
c.lui       011 . ..... ..... 01   lui      C       -> lui
c.srli      100 . 00 ... ..... 01  sh32     C    32 -> srli
c.srai      100 . 01 ... ..... 01  sh32     C    32 -> srai
c.srli      100 . 00 ... ..... 01  sh64     C    64 -> srli
c.srai      100 . 01 ... ..... 01  sh64     C    64 -> srai
c.andi      100 . 10 ... ..... 01  andi     C       -> andi
c.sub       100 0 11 ... 00 ... 01 ca       C       -> sub
c.xor       100 0 11 ... 01 ... 01 ca       C       -> xor
c.or        100 0 11 ... 10 ... 01 ca       C       -> or
c.and       100 0 11 ... 11 ... 01 ca       C       -> and
c.subw      100 1 11 ... 00 ... 01 ca       C    64 -> subw
c.addw      100 1 11 ... 01 ... 01 ca       C    64 -> addw
c.j         101 ...........   01   j        C       -> jal
c.beqz      110 ... ... ..... 01   beqz     C       -> beq
c.bnez      111 ... ... ..... 01   beqz     C       -> bne
# Quadrant 2
c.slli      000 . ..... ..... 10   slli32   C    32 -> slli
c.slli      000 . ..... ..... 10   slli64   C    64 -> slli
c.fldsp     001 . ..... ..... 10   fldsp    CD      -> fld
c.lwsp      010 . ..... ..... 10   lwsp     C       -> lw
c.flwsp     011 . ..... ..... 10   flwsp    CF   32 -> flw
c.ldsp      011 . ..... ..... 10   ldsp     C    64 -> ld
c.jr        100 0 ..... 00000 10   jr       C       -> jalr
c.mv        100 0 ..... ..... 10   mv       C       -> add
c.ebreak    100 1 00000 00000 10   none     C       -> ebreak
c.jalr      100 1 ..... 00000 10   jalr     C       -> jalr
c.add       100 1 ..... ..... 10   add      C       -> add
c.fsdsp     101 . ..... ..... 10   sdsp     CD      -> fsd
c.swsp      110 . ..... ..... 10   swsp     C       -> sw
c.fswsp     111 . ..... ..... 10   swsp     CF   32 -> fsw
c.sdsp      111 . ..... ..... 10   sdsp     C    64 -> sd
"""

ENCODINGS = table(TABLE, FORMATS, 16)
