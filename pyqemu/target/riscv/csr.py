"""Control and status registers (privileged spec 1.12, chapter 2 and the
CSR sections of chapters 3 and 4; F/D's fcsr; Zicntr/Zihpm counters; Sstc).

Each CSR is a read function and a write function in one table. Access rules
come from the address (bits 9:8 the lowest privilege, bits 11:10 == 3 read
only) and from per-CSR predicates (FS for the FP CSRs, mcounteren and
scounteren for counters, TVM for satp, STCE for stimecmp). A CSR not in the
table raises illegal instruction: OpenSBI and Linux probe by trapping.
"""

from __future__ import annotations

from .hpm import EVENTS as HPM_EVENTS, IMPLEMENTED
from .trap import Cause, GuestTrap

CSRRW, CSRRS, CSRRC = 0, 1, 2

# mstatus bits
SIE, MIE, SPIE, MPIE = 1 << 1, 1 << 3, 1 << 5, 1 << 7
SPP = 1 << 8
MPP_SHIFT = 11
MPP = 3 << MPP_SHIFT
FS_SHIFT = 13
FS = 3 << FS_SHIFT
MPRV, SUM, MXR, TVM, TW, TSR = (1 << b for b in (17, 18, 19, 20, 21, 22))
UXL_SXL_64 = (2 << 32) | (2 << 34)

MSTATUS_WMASK = SIE | MIE | SPIE | MPIE | SPP | MPP | FS | MPRV | SUM | MXR | TVM | TW | TSR
SSTATUS_MASK = SIE | SPIE | SPP | FS | SUM | MXR | (3 << 32)

# interrupt bits
SSIP, MSIP, STIP, MTIP, SEIP, MEIP = (1 << b for b in (1, 3, 5, 7, 9, 11))
S_INTS = SSIP | STIP | SEIP
ALL_INTS = S_INTS | MSIP | MTIP | MEIP
MIP_SW_WRITABLE = SSIP | STIP | SEIP
MEDELEG_MASK = 0xB3FF        # every exception but ecall from M (11) and the reserved 10/14

MENVCFG_STCE = 1 << 63
MENVCFG_FIOM = 1


def _illegal(cpu):
    raise GuestTrap(Cause.ILLEGAL_INSN, cpu.cur_insn)


class CSRFile:
    """The table of CSRs of one hart; a CSR is (read, write, predicate)."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.table: dict[int, tuple] = {}
        # CSRs whose read-modify-write (csrrs/csrrc) starts from a value other
        # than what a read returns: mip's SEIP reads as the OR of the software
        # bit and the PLIC's line, but only the software bit takes part in
        # the RMW (privileged spec, "Machine Interrupt Registers").
        self.rmw_base: dict[int, object] = {}
        self._build()

    def add(self, num, read, write=None, pred=None):
        self.table[num] = (read, write, pred)

    # -- access --------------------------------------------------------------
    def access(self, num: int, kind: int, operand: int, writes: bool, reads: bool) -> int:
        cpu = self.cpu
        entry = self.table.get(num)
        if entry is None or cpu.priv < ((num >> 8) & 3):
            _illegal(cpu)
        read, write, pred = entry
        if writes and (num >> 10) == 3:
            _illegal(cpu)
        if pred is not None:
            pred(cpu)
        old = read(cpu) if (reads or kind != CSRRW) else 0
        if writes:
            if kind == CSRRW:
                new = operand
            else:
                base = self.rmw_base.get(num)
                base = old if base is None else base(cpu)
                new = base | operand if kind == CSRRS else base & ~operand
            write(cpu, new & cpu.xmask)
        return old & cpu.xmask

    # -- the table ---------------------------------------------------------------
    def _build(self):
        cpu = self.cpu
        rv32 = cpu.xlen == 32
        add = self.add
        ignore = lambda c, v: None                      # noqa: E731
        zero = lambda c: 0                              # noqa: E731

        # F/D (fcsr) — need mstatus.FS != Off
        def fs_on(c):
            if (c.mstatus & FS) == 0:
                _illegal(c)

        def w_fflags(c, v):
            c.fflags = v & 0x1F
            c.set_fs_dirty()

        def w_frm(c, v):
            c.frm = v & 7
            c.set_fs_dirty()

        def w_fcsr(c, v):
            c.fflags = v & 0x1F
            c.frm = (v >> 5) & 7
            c.set_fs_dirty()

        add(0x001, lambda c: c.fflags, w_fflags, fs_on)
        add(0x002, lambda c: c.frm, w_frm, fs_on)
        add(0x003, lambda c: c.fflags | (c.frm << 5), w_fcsr, fs_on)

        # Counters: cycle, time, instret, hpmcounter3..18 (hpm.py).
        def ctr_pred(idx):
            def pred(c):
                if c.priv < 3 and not (c.mcounteren >> idx) & 1:
                    _illegal(c)
                if c.priv == 0 and not (c.scounteren >> idx) & 1:
                    _illegal(c)
            return pred

        def lo(f):
            return lambda c: f(c) & 0xFFFFFFFF if rv32 else f(c)

        def hi(f):
            return lambda c: f(c) >> 32

        counters = {0: lambda c: c.read_cycle(), 1: lambda c: c.read_time(),
                    2: lambda c: c.read_instret()}
        for idx in IMPLEMENTED:
            counters[idx] = (lambda i: lambda c: c.hpm.read(i))(idx)
        for idx, f in counters.items():
            add(0xC00 + idx, lo(f), None, ctr_pred(idx))
            if rv32:
                add(0xC80 + idx, hi(f), None, ctr_pred(idx))

        # Machine counters (writable).
        def w_mcycle(c, v): c.write_cycle(v)
        def w_minstret(c, v): c.write_instret(v)

        def w_lo(getter, setter):
            return lambda c, v: setter(c, (getter(c) & ~0xFFFFFFFF) | (v & 0xFFFFFFFF))

        def w_hi(getter, setter):
            return lambda c, v: setter(c, (getter(c) & 0xFFFFFFFF) | ((v & 0xFFFFFFFF) << 32))

        machine_counters = [(0xB00, counters[0], w_mcycle), (0xB02, counters[2], w_minstret)]
        for idx in IMPLEMENTED:
            machine_counters.append((0xB00 + idx, counters[idx],
                                     (lambda i: lambda c, v: c.hpm.write(i, v))(idx)))
        for num, getter, setter in machine_counters:
            if rv32:
                add(num, lo(getter), w_lo(getter, setter))
                add(num + 0x80, hi(getter), w_hi(getter, setter))
            else:
                add(num, getter, setter)
        for idx in HPM_EVENTS:
            add(0x320 + idx, (lambda i: lambda c: c.hpm.events[i])(idx),
                (lambda i: lambda c, v: c.hpm.write_event(i, v))(idx))

        def w_mcountinhibit(c, v):
            c.hpm.before_inhibit_change()
            c.mcountinhibit = v & 0xFFFFFFFD        # bit 1: time cannot be inhibited
        add(0x320, lambda c: c.mcountinhibit, w_mcountinhibit)

        # Machine information
        add(0xF11, zero)                             # mvendorid
        add(0xF12, zero)                             # marchid
        add(0xF13, zero)                             # mimpid
        add(0xF14, lambda c: c.hart_id)
        add(0xF15, zero)                             # mconfigptr

        # mstatus and friends
        add(0x300, lambda c: c.read_mstatus(), lambda c, v: c.write_mstatus(v, MSTATUS_WMASK))
        if rv32:
            add(0x310, zero, ignore)                 # mstatush: MBE/SBE read 0
        add(0x301, lambda c: c.misa, ignore)         # misa: read-only here (WARL)
        add(0x302, lambda c: c.medeleg, lambda c, v: setattr(c, "medeleg", v & MEDELEG_MASK))
        add(0x303, lambda c: c.mideleg, lambda c, v: c.write_mideleg(v & S_INTS))
        add(0x304, lambda c: c.mie, lambda c, v: c.write_mie(v & ALL_INTS))
        add(0x305, lambda c: c.mtvec, lambda c, v: c.write_tvec("mtvec", v))
        add(0x306, lambda c: c.mcounteren, lambda c, v: setattr(c, "mcounteren", v & 0xFFFFFFFF))
        add(0x340, lambda c: c.mscratch, lambda c, v: setattr(c, "mscratch", v))
        add(0x341, lambda c: c.mepc, lambda c, v: setattr(c, "mepc", v & ~1))
        add(0x342, lambda c: c.mcause, lambda c, v: setattr(c, "mcause", v))
        add(0x343, lambda c: c.mtval, lambda c, v: setattr(c, "mtval", v))
        add(0x344, lambda c: c.mip, lambda c, v: c.write_mip(v, MIP_SW_WRITABLE))
        self.rmw_base[0x344] = lambda c: (c.mip & ~SEIP) | (c.mip_sw & SEIP)

        menvcfg_mask = MENVCFG_FIOM | (MENVCFG_STCE if cpu.has_sstc else 0)
        if rv32:
            add(0x30A, lambda c: c.menvcfg & 0xFFFFFFFF,
                lambda c, v: c.write_menvcfg((c.menvcfg & ~0xFFFFFFFF) | (v & menvcfg_mask)))
            add(0x31A, lambda c: c.menvcfg >> 32,
                lambda c, v: c.write_menvcfg((c.menvcfg & 0xFFFFFFFF) | ((v << 32) & menvcfg_mask)))
        else:
            add(0x30A, lambda c: c.menvcfg, lambda c, v: c.write_menvcfg(v & menvcfg_mask))

        # PMP: pmpcfg0..15 (odd ones do not exist on RV64), pmpaddr0..15
        # 16 entries: pmpcfg0..3 on RV32, pmpcfg0 and pmpcfg2 on RV64 (the
        # others do not exist, as on QEMU 7.2).
        for i in range(4):
            if rv32 or i % 2 == 0:
                add(0x3A0 + i, (lambda i: lambda c: c.pmp.read_cfg(i))(i),
                    (lambda i: lambda c, v: c.pmp_write(c.pmp.write_cfg, i, v))(i))
        for i in range(16):
            add(0x3B0 + i, (lambda i: lambda c: c.pmp.read_addr(i))(i),
                (lambda i: lambda c, v: c.pmp_write(c.pmp.write_addr, i, v))(i))

        # Debug triggers (Sdtrig)
        for num in (0x7A0, 0x7A1, 0x7A2, 0x7A3, 0x7A4):
            add(num, (lambda n: lambda c: c.triggers.read_csr(n))(num),
                (lambda n: lambda c, v: c.write_trigger(n, v))(num))

        # Supervisor
        add(0x100, lambda c: c.read_mstatus() & (SSTATUS_MASK | (1 << (c.xlen - 1))),
            lambda c, v: c.write_mstatus(v, SSTATUS_MASK & ~(3 << 32)))
        add(0x104, lambda c: c.mie & c.mideleg,
            lambda c, v: c.write_mie((c.mie & ~c.mideleg) | (v & c.mideleg)))
        add(0x105, lambda c: c.stvec, lambda c, v: c.write_tvec("stvec", v))
        add(0x106, lambda c: c.scounteren, lambda c, v: setattr(c, "scounteren", v & 0xFFFFFFFF))
        add(0x10A, lambda c: c.senvcfg, lambda c, v: setattr(c, "senvcfg", v & MENVCFG_FIOM))
        add(0x140, lambda c: c.sscratch, lambda c, v: setattr(c, "sscratch", v))
        add(0x141, lambda c: c.sepc, lambda c, v: setattr(c, "sepc", v & ~1))
        add(0x142, lambda c: c.scause, lambda c, v: setattr(c, "scause", v))
        add(0x143, lambda c: c.stval, lambda c, v: setattr(c, "stval", v))
        add(0x144, lambda c: c.mip & c.mideleg,
            lambda c, v: c.write_mip(v, SSIP & c.mideleg))

        def tvm(c):
            if c.priv == 1 and c.mstatus & TVM:
                _illegal(c)

        add(0x180, lambda c: c.satp, lambda c, v: c.write_satp(v), tvm)

        if cpu.has_sstc:
            def stce(c):
                if c.priv < 3 and not c.menvcfg & MENVCFG_STCE:
                    _illegal(c)
                if c.priv < 3 and not c.mcounteren & 2:     # TM gates stimecmp too
                    _illegal(c)
            if rv32:
                add(0x14D, lambda c: c.stimecmp & 0xFFFFFFFF,
                    lambda c, v: c.write_stimecmp((c.stimecmp & ~0xFFFFFFFF) | v), stce)
                add(0x15D, lambda c: c.stimecmp >> 32,
                    lambda c, v: c.write_stimecmp((c.stimecmp & 0xFFFFFFFF) | (v << 32)), stce)
            else:
                add(0x14D, lambda c: c.stimecmp, lambda c, v: c.write_stimecmp(v), stce)


def csr_insn(cpu, num, kind, operand, writes, reads, insn):
    """The helper behind csrrw/csrrs/csrrc and their immediate forms."""
    cpu.cur_insn = insn
    return cpu.csrs.access(num, kind, operand, writes, reads)
