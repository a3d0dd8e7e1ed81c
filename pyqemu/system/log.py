"""`-d` logging: named categories, written to stderr or the `-D` file.

The categories follow QEMU's names; the ones we implement are listed by
`-d help`. Hot paths ask `enabled(name)` once per block, never per insn.
"""

from __future__ import annotations

import sys

CATEGORIES = {
    "in_asm": "show target assembly code for each compiled TB",
    "op": "show the IR of each compiled TB",
    "out_asm": "show the host assembly of each natively compiled TB (llvm backend)",
    "int": "show interrupts/exceptions in short format",
    "exec": "show trace before each executed TB (lots of logs)",
    "cpu": "show CPU registers before entering a TB (lots of logs)",
    "unimp": "log unimplemented functionality",
    "guest_errors": "log when the guest OS does something invalid (eg accessing a non-existent register)",
}

_ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
        "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        "t3", "t4", "t5", "t6"]


# The names QEMU's `-d int` prints, by cause number.
_EXCP_NAMES = ["misaligned_fetch", "fault_fetch", "illegal_instruction", "breakpoint",
               "misaligned_load", "fault_load", "misaligned_store", "fault_store", "user_ecall",
               "supervisor_ecall", "hypervisor_ecall", "machine_ecall", "exec_page_fault",
               "load_page_fault", "reserved", "store_page_fault"]
_IRQ_NAMES = ["u_software", "s_software", "vs_software", "m_software", "u_timer", "s_timer",
              "vs_timer", "m_timer", "u_external", "s_external", "vs_external", "m_external"]


class LogError(Exception):
    pass


class Log:
    def __init__(self, spec: str | None = None, path: str | None = None):
        self.mask: set[str] = set()
        if spec:
            for item in spec.split(","):
                if item not in CATEGORIES:
                    raise LogError(f"Log items (comma separated):\n" + help_text()
                                   if item == "help" else f"-d {spec}: unknown log item '{item}'")
                self.mask.add(item)
        self._out = None
        self._path = path
        self._disasm = None

    def enabled(self, name: str) -> bool:
        return name in self.mask

    @property
    def out(self):
        if self._out is None:
            if self._path:
                try:
                    self._out = open(self._path, "w", buffering=1)
                except OSError as e:
                    raise LogError(f"-D {self._path}: {e.strerror}") from None
            else:
                self._out = sys.stderr
        return self._out

    def write(self, text: str) -> None:
        self.out.write(text)

    def guest_error(self, msg: str) -> None:
        if "guest_errors" in self.mask:
            self.write(msg.rstrip("\n") + "\n")

    def unimp(self, msg: str) -> None:
        if "unimp" in self.mask:
            self.write(msg.rstrip("\n") + "\n")

    # -- CPU-facing -------------------------------------------------------------
    def _disassembler(self, xlen: int):
        if self._disasm is None:
            try:
                import capstone
                mode = capstone.CS_MODE_RISCV64 if xlen == 64 else capstone.CS_MODE_RISCV32
                md = capstone.Cs(capstone.CS_ARCH_RISCV, mode | capstone.CS_MODE_RISCVC)
                self._disasm = md
            except Exception:        # capstone missing: fall back to raw words
                self._disasm = False
        return self._disasm

    def in_asm(self, cpu, tb) -> None:
        md = self._disassembler(cpu.xlen)
        self.write("----------------\nIN: \n")
        for pc in tb.insn_pcs:
            try:
                word, length, _ = cpu.fetch_insn(pc, True)
            except Exception:
                continue
            raw = word.to_bytes(length, "little")
            text = ""
            if md:
                for ins in md.disasm(raw, pc):
                    text = f"{ins.mnemonic}\t{ins.op_str}"
                    break
            hexw = f"{word:08x}" if length == 4 else f"    {word:04x}"
            self.write(f"0x{pc:016x}:  {hexw}          {text or '.insn'}\n")
        self.write("\n")
        if "op" in self.mask:
            self.write("OP:\n" + tb.dump() + "\n\n")

    def trap(self, cpu, cause: int, tval: int, interrupt: bool) -> None:
        names = _IRQ_NAMES if interrupt else _EXCP_NAMES
        kind = names[cause] if cause < len(names) else "reserved"
        self.write(f"riscv_cpu_do_interrupt: hart:{cpu.hart_id}, async:{int(interrupt)}, "
                   f"cause:{cause:016x}, epc:0x{cpu.pc:016x}, tval:0x{tval:016x}, desc={kind}\n")

    def exec_tb(self, cpu) -> None:
        self.write(f"Trace {cpu.hart_id}: [{cpu.pc:016x}] \n")

    def cpu_state(self, cpu) -> None:
        self.write(format_registers(cpu))


def format_registers(cpu) -> str:
    w = 16 if cpu.xlen == 64 else 8
    lines = [f" pc       {cpu.pc:0{w}x}",
             f" mhartid  {cpu.hart_id:0{w}x}",
             f" mstatus  {cpu.read_mstatus():0{w}x}",
             f" mip      {cpu.mip:0{w}x}",
             f" mie      {cpu.mie:0{w}x}",
             f" mideleg  {cpu.mideleg:0{w}x}",
             f" medeleg  {cpu.medeleg:0{w}x}",
             f" mtvec    {cpu.mtvec:0{w}x}",
             f" stvec    {cpu.stvec:0{w}x}",
             f" mepc     {cpu.mepc:0{w}x}",
             f" sepc     {cpu.sepc:0{w}x}",
             f" mcause   {cpu.mcause:0{w}x}",
             f" scause   {cpu.scause:0{w}x}",
             f" mtval    {cpu.mtval:0{w}x}",
             f" stval    {cpu.stval:0{w}x}",
             f" satp     {cpu.satp:0{w}x}",
             f" priv     {'USHM'[cpu.priv]}"]
    regs = []
    for i in range(32):
        regs.append(f" x{i:<2}/{_ABI[i]:<4} {cpu.r[i]:0{w}x}")
        if i % 4 == 3:
            lines.append("".join(regs))
            regs = []
    for i in range(32):
        regs.append(f" f{i:<2}     {cpu.r[32 + i]:016x}")
        if i % 4 == 3:
            lines.append("".join(regs))
            regs = []
    return "\n".join(lines) + "\n"


def help_text() -> str:
    return "".join(f"{k:<12} {v}\n" for k, v in CATEGORIES.items())
