"""The decode tables against GNU binutils: every instruction we implement,
assembled by the real assembler, must decode to the mnemonic that objdump
(without aliases) names for it; and encodings that are not instructions
must not decode."""

from __future__ import annotations

import re
import subprocess

import pytest

from pyqemu.target.riscv import insn16, insn32
from pyqemu.target.riscv.cpu import EXTENSIONS
from pyqemu.target.riscv.decode import Decoder

# One sample operand list per format (registers chosen in x8..x15 / f8..f15
# so that the compressed forms are encodable too).
SAMPLES = {
    "R": "a0, a1, a2", "R1": "a0, a1", "I": "a0, a1, 12", "S": "a0, 8(a1)", "B": "a0, a1, 1f",
    "U": "a0, 0x12", "J": "a0, 1f", "SH": "a0, a1, 3", "CSR": "a0, mscratch, a1",
    "AMO": "a0, a1, (a2)", "none": "", "SFENCE": "a0, a1",
}
FP_SAMPLES = {"Rrm": "fa0, fa1, fa2", "R4": "fa0, fa1, fa2, fa3", "R": "fa0, fa1, fa2"}
SPECIAL = {
    "lr.w": "a0, (a1)", "lr.d": "a0, (a1)", "csrrwi": "a0, mscratch, 5", "csrrsi": "a0, mscratch, 5",
    "csrrci": "a0, mscratch, 5", "flw": "fa0, 8(a1)", "fld": "fa0, 8(a1)", "fsw": "fa0, 8(a1)",
    "fsd": "fa0, 8(a1)", "fsqrt.s": "fa0, fa1", "fsqrt.d": "fa0, fa1", "fcvt.s.d": "fa0, fa1",
    "fcvt.d.s": "fa0, fa1", "fclass.s": "a0, fa1", "fclass.d": "a0, fa1", "fmv.x.w": "a0, fa1",
    "fmv.x.d": "a0, fa1", "fmv.w.x": "fa0, a1", "fmv.d.x": "fa0, a1",
    "feq.s": "a0, fa1, fa2", "flt.s": "a0, fa1, fa2", "fle.s": "a0, fa1, fa2",
    "feq.d": "a0, fa1, fa2", "flt.d": "a0, fa1, fa2", "fle.d": "a0, fa1, fa2",
    "fence": "", "fence.i": "", "slli.uw": "a0, a1, 3", "jalr": "a0, 12(a1)",
}
SPECIAL.update({ld: "a0, 12(a1)" for ld in ("lb", "lh", "lw", "ld", "lbu", "lhu", "lwu")})


def _operands(enc):
    m = enc.mnemonic
    if m in SPECIAL:
        return SPECIAL[m]
    if m.startswith("fcvt."):
        _, dst, src = m.split(".")
        d = "a0" if dst in ("w", "wu", "l", "lu") else "fa0"
        s = "a1" if src in ("w", "wu", "l", "lu") else "fa1"
        return f"{d}, {s}"
    if m.startswith("f") and enc.ext in ("F", "D"):
        return FP_SAMPLES.get(_fmt_name(enc), "fa0, fa1, fa2")
    return SAMPLES[_fmt_name(enc)]


def _fmt_name(enc):
    for name, fn in insn32.FORMATS.items():
        if fn is enc.fmt:
            return name
    raise KeyError(enc.mnemonic)


def _assemble(lines: list[str], march: str, tmp_path) -> list[tuple[int, int, str]]:
    src = tmp_path / "all.S"
    src.write_text(".option norvc\n" + "\n".join(lines) + "\n1: nop\n")
    obj = tmp_path / "all.o"
    subprocess.run(["riscv64-unknown-elf-as", f"-march={march}", "-o", str(obj), str(src)],
                   check=True, capture_output=True)
    dump = subprocess.run(["riscv64-unknown-elf-objdump", "-d", "-M", "no-aliases", str(obj)],
                          check=True, capture_output=True, text=True).stdout
    out = []
    for m in re.finditer(r"^\s+[0-9a-f]+:\s+([0-9a-f]+)\s+(\S+)", dump, re.M):
        word = int(m.group(1), 16)
        out.append((word, 2 if len(m.group(1)) == 4 else 4, m.group(2)))
    return out


@pytest.mark.parametrize("xlen", [64, 32])
def test_every_32bit_encoding_matches_binutils(xlen, tmp_path):
    encs = [e for e in insn32.ENCODINGS if xlen in e.xlens]
    lines = [f"{e.mnemonic} {_operands(e)}" for e in encs]
    march = f"rv{xlen}gc_zba_zbb_zbs"
    got = _assemble(lines, march, tmp_path)[:-1]           # drop the final nop
    assert len(got) == len(encs)
    dec = Decoder(insn32.ENCODINGS + insn16.ENCODINGS, xlen, EXTENSIONS)
    for enc, (word, length, objdump_name) in zip(encs, got):
        r = dec.decode(word, length)
        assert r is not None, f"{objdump_name} {word:08x} does not decode"
        assert r[0].mnemonic == objdump_name == enc.mnemonic, (hex(word), r[0].mnemonic, objdump_name)


@pytest.mark.parametrize("xlen", [64, 32])
def test_compressed_encodings_match_binutils(xlen, tmp_path):
    # Let the assembler compress what it can; every 16-bit word it emits must
    # decode to the c.* mnemonic objdump names.
    lines = ["add s0, s0, s1", "addi s0, s0, 5", "addi sp, sp, 64", "addi s0, sp, 16",
             "lw s0, 4(s1)", "sw s0, 4(s1)", "lui s0, 3", "li s0, -3", "andi s0, s0, 7",
             "srli s0, s0, 3", "srai s0, s0, 3", "slli s0, s0, 3", "sub s0, s0, s1",
             "xor s0, s0, s1", "or s0, s0, s1", "and s0, s0, s1", "mv s0, s1", "jr s0",
             "jalr s0", "ebreak", "lw s0, 8(sp)", "sw s0, 8(sp)", "beqz s0, 1f", "bnez s0, 1f",
             "j 1f", "fld fs0, 8(s1)", "fsd fs0, 8(s1)", "fld fs0, 8(sp)", "fsd fs0, 8(sp)"]
    if xlen == 64:
        lines += ["ld s0, 8(s1)", "sd s0, 8(s1)", "ld s0, 8(sp)", "sd s0, 8(sp)",
                  "addiw s0, s0, 1", "addw s0, s0, s1", "subw s0, s0, s1"]
    else:
        lines += ["jal 1f", "flw fs0, 4(s1)", "fsw fs0, 4(s1)", "flw fs0, 4(sp)", "fsw fs0, 4(sp)"]
    src = tmp_path / "c.S"
    src.write_text("\n".join(lines) + "\n1: nop\n")
    obj = tmp_path / "c.o"
    subprocess.run(["riscv64-unknown-elf-as", f"-march=rv{xlen}gc", "-o", str(obj), str(src)],
                   check=True, capture_output=True)
    dump = subprocess.run(["riscv64-unknown-elf-objdump", "-d", "-M", "no-aliases", str(obj)],
                          check=True, capture_output=True, text=True).stdout
    dec = Decoder(insn32.ENCODINGS + insn16.ENCODINGS, xlen, EXTENSIONS)
    seen = 0
    for m in re.finditer(r"^\s+[0-9a-f]+:\s+([0-9a-f]{4})\s+(\S+)", dump, re.M):
        word, name = int(m.group(1), 16), m.group(2)
        r = dec.decode(word, 2)
        assert r is not None, f"{name} {word:04x} does not decode"
        assert r[0].mnemonic == name, (hex(word), r[0].mnemonic, name)
        seen += 1
    assert seen >= len(lines)


def test_reserved_encodings_do_not_decode():
    dec = Decoder(insn32.ENCODINGS + insn16.ENCODINGS, 64, EXTENSIONS)
    assert dec.decode(0x0000, 2) is None                 # all-zero: defined illegal
    assert dec.decode(0x6141, 2) is not None             # c.addi16sp sp, 16
    assert dec.decode(0x6101, 2) is None                 # c.addi16sp with imm 0: reserved
    assert dec.decode(0x6081, 2) is None                 # c.lui x1, 0: reserved (imm 0)
    assert dec.decode(0x4002, 2) is None                 # c.lwsp x0: reserved
    assert dec.decode(0xFFFFFFFF, 4) is None
    rv32 = Decoder(insn32.ENCODINGS + insn16.ENCODINGS, 32, EXTENSIONS)
    assert rv32.decode(0x02051513, 4) is None            # slli a0, a0, 32 does not exist on RV32
    assert rv32.decode(0x0000B503, 4) is None            # ld does not exist on RV32
