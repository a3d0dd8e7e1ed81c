"""The RISC-V register file as GDB sees it: the target description
(GDB manual, "Target Descriptions"; the RISC-V features
org.gnu.gdb.riscv.cpu, .fpu, .virtual and .csr) and the register numbers
the `g`, `p` and `P` packets use.

Numbering (ours, announced with `regnum` in target.xml, laid out as QEMU's
stub lays it out so the numbers look familiar):

    0..31   x0..x31            (cpu)
    32      pc                 (cpu)
    33..64  f0..f31, raw bits  (fpu)
    65      priv               (virtual: the hart's privilege level)
    66 + N  CSR number N       (csr: the CSRs the hart implements)

`g` carries the 33 cpu registers only; GDB reads the others one by one.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

PC_REGNUM = 32
FPR_BASE = 33
PRIV_REGNUM = 65
CSR_BASE = 66
G_REGISTERS = 33

GPR_NAMES = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2",
             "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
             "s10", "s11", "t3", "t4", "t5", "t6"]
FPR_NAMES = ["ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1",
             "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
             "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"]
_GPR_TYPES = {1: "code_ptr", 2: "data_ptr"}


def _csr_names() -> dict[int, str]:
    """CSR numbers and names (privileged spec 1.12, tables 2.2-2.5; F's fcsr;
    the Sdtrig trigger CSRs; Sstc's stimecmp)."""
    n = {0x001: "fflags", 0x002: "frm", 0x003: "fcsr",
         0x100: "sstatus", 0x104: "sie", 0x105: "stvec", 0x106: "scounteren",
         0x10A: "senvcfg", 0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval",
         0x144: "sip", 0x14D: "stimecmp", 0x15D: "stimecmph", 0x180: "satp",
         0x300: "mstatus", 0x301: "misa", 0x302: "medeleg", 0x303: "mideleg", 0x304: "mie",
         0x305: "mtvec", 0x306: "mcounteren", 0x30A: "menvcfg", 0x310: "mstatush",
         0x31A: "menvcfgh", 0x320: "mcountinhibit", 0x340: "mscratch", 0x341: "mepc",
         0x342: "mcause", 0x343: "mtval", 0x344: "mip", 0x34A: "mtinst", 0x34B: "mtval2",
         0x7A0: "tselect", 0x7A1: "tdata1", 0x7A2: "tdata2", 0x7A3: "tdata3", 0x7A4: "tinfo",
         0x7A5: "tcontrol",
         0xB00: "mcycle", 0xB02: "minstret", 0xB80: "mcycleh", 0xB82: "minstreth",
         0xC00: "cycle", 0xC01: "time", 0xC02: "instret",
         0xC80: "cycleh", 0xC81: "timeh", 0xC82: "instreth",
         0xF11: "mvendorid", 0xF12: "marchid", 0xF13: "mimpid", 0xF14: "mhartid",
         0xF15: "mconfigptr"}
    for i in range(3, 32):
        n[0x320 + i] = f"mhpmevent{i}"
        n[0xB00 + i] = f"mhpmcounter{i}"
        n[0xB80 + i] = f"mhpmcounter{i}h"
        n[0xC00 + i] = f"hpmcounter{i}"
        n[0xC80 + i] = f"hpmcounter{i}h"
    for i in range(16):
        n[0x3A0 + i] = f"pmpcfg{i}"
    for i in range(64):
        n[0x3B0 + i] = f"pmpaddr{i}"
    return n


CSR_NAMES = _csr_names()


class RegisterFile:
    """Reads and writes one hart's registers by GDB number. Call on the vCPU
    thread (or with the machine stopped)."""

    def __init__(self, xlen: int, csr_numbers):
        self.xlen = xlen
        self.size = xlen // 8
        self.xmask = (1 << xlen) - 1
        self.csrs = sorted(n for n in csr_numbers if n in CSR_NAMES)

    def width(self, regnum: int) -> int | None:
        """The register's size in bytes, None if there is no such register."""
        if 0 <= regnum <= PC_REGNUM or regnum == PRIV_REGNUM:
            return self.size
        if FPR_BASE <= regnum < FPR_BASE + 32:
            return 8
        if regnum >= CSR_BASE and (regnum - CSR_BASE) in CSR_NAMES and \
                (regnum - CSR_BASE) in self.csrs:
            return self.size
        return None

    def read(self, cpu, regnum: int) -> int:
        if regnum < 32:
            return cpu.r[regnum] & self.xmask if regnum else 0
        if regnum == PC_REGNUM:
            return cpu.pc & self.xmask
        if regnum < FPR_BASE + 32:
            return cpu.r[regnum - FPR_BASE + 32] & ((1 << 64) - 1)
        if regnum == PRIV_REGNUM:
            return cpu.priv
        read, _write, _pred = cpu.csrs.table[regnum - CSR_BASE]
        try:
            return read(cpu) & self.xmask
        except Exception:      # a counter the hart cannot read now reads as 0
            return 0

    def write(self, cpu, regnum: int, value: int) -> bool:
        """False if the register cannot be written."""
        if regnum < 32:
            if regnum:
                cpu.r[regnum] = value & self.xmask
            return True
        if regnum == PC_REGNUM:
            cpu.pc = value & self.xmask
            return True
        if regnum < FPR_BASE + 32:
            cpu.r[regnum - FPR_BASE + 32] = value & ((1 << 64) - 1)
            return True
        if regnum == PRIV_REGNUM:
            return False
        _read, write, _pred = cpu.csrs.table[regnum - CSR_BASE]
        if write is None:
            return False
        write(cpu, value & self.xmask)
        return True

    def encode(self, regnum: int, value: int) -> str:
        return value.to_bytes(self.width(regnum), "little").hex()

    def target_xml(self) -> str:
        """One target.xml holding the four features."""
        x = self.xlen
        out = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
               "<target>", f"<architecture>riscv:rv{x}</architecture>",
               '<feature name="org.gnu.gdb.riscv.cpu">']
        for i, name in enumerate(GPR_NAMES):
            out.append(f'<reg name="{name}" bitsize="{x}" type="{_GPR_TYPES.get(i, "int")}" '
                       f'regnum="{i}"/>')
        out.append(f'<reg name="pc" bitsize="{x}" type="code_ptr" regnum="{PC_REGNUM}"/>')
        out += ["</feature>", '<feature name="org.gnu.gdb.riscv.fpu">',
                '<union id="riscv_double"><field name="float" type="ieee_single"/>'
                '<field name="double" type="ieee_double"/></union>']
        for i, name in enumerate(FPR_NAMES):
            out.append(f'<reg name="{name}" bitsize="64" type="riscv_double" '
                       f'regnum="{FPR_BASE + i}"/>')
        out += ["</feature>", '<feature name="org.gnu.gdb.riscv.virtual">',
                f'<reg name="priv" bitsize="{x}" regnum="{PRIV_REGNUM}"/>', "</feature>",
                '<feature name="org.gnu.gdb.riscv.csr">']
        for n in self.csrs:
            out.append(f'<reg name={quoteattr(CSR_NAMES[n])} bitsize="{x}" '
                       f'regnum="{CSR_BASE + n}" group="csr"/>')
        out += ["</feature>", "</target>"]
        return "\n".join(out) + "\n"
