"""The hart's migratable state (the whole architectural state a TCG hart
holds), as one versioned field list. The hart itself is in cpu.py; this
module only describes it. Derived state (TLBs, translated blocks, the
translation flags, the armed-trigger and PMP rule caches) is rebuilt after
loading, never carried."""

from __future__ import annotations

from ...migration.vmstate import (Kind, VMStateDescription, VMStateError, array, boolean, i64, struct_, u8,
                                  u64)


def _pmp_post_load(pmp, version_id: int) -> None:
    pmp._recompile()


VMSTATE_RISCV_PMP = VMStateDescription(
    "riscv-cpu/pmp", 1, 1, (
        array("_cfg", Kind.U8),
        array("_addr", Kind.U64),
    ), post_load=_pmp_post_load)


def _triggers_post_load(triggers, version_id: int) -> None:
    triggers._recompile()


VMSTATE_RISCV_TRIGGERS = VMStateDescription(
    "riscv-cpu/triggers", 1, 1, (
        u64("tselect"),
        array("_tdata1", Kind.U64),
        array("_tdata2", Kind.U64),
    ), post_load=_triggers_post_load)


def _set_regs(cpu, values) -> None:
    cpu.r[:64] = values


def _get_reservation(cpu):
    return cpu.reservation[0] if cpu.reservation is not None else 0


def _get_reservation_size(cpu):
    return cpu.reservation[1] if cpu.reservation is not None else 0


def _set_reservation_size(cpu, size) -> None:
    # Written after the address (field order): both or none.
    cpu.reservation = (cpu._vmstate_resv_addr, size) if size else None


def _hpm_array(values, what: str) -> list:
    if len(values) != 32:
        raise VMStateError(f"riscv-cpu: {len(values)} {what}, expected 32")
    return list(values)


def _set_hpm_values(cpu, values) -> None:
    # Counted from here on: instret is already restored (it comes first).
    for idx, v in enumerate(_hpm_array(values, "hpm counters")):
        cpu.hpm.values[idx] = v
        cpu.hpm.base_instret[idx] = cpu.instret


def _post_load(cpu, version_id: int) -> None:
    cpu.flush_tlb()
    cpu.flush_translations()
    cpu._update_mmu_state()
    cpu._recompute_mip()
    # Sstc: re-arm the stimecmp timer against the (already restored) clock.
    cpu._update_stip()


VMSTATE_RISCV_CPU = VMStateDescription(
    "riscv-cpu", 2, 1, (
        u64("pc"),
        u8("priv"),
        array("regs", Kind.U64, get=lambda c: c.r[:64], set=_set_regs),  # x0-x31, f0-f31
        u64("mstatus"), u64("medeleg"), u64("mideleg"), u64("mie"),
        u64("mip_sw"), u64("mip_hw"),
        u64("mtvec"), u64("stvec"), u64("mepc"), u64("sepc"),
        u64("mcause"), u64("scause"), u64("mtval"), u64("stval"),
        u64("mscratch"), u64("sscratch"), u64("satp"),
        u64("mcounteren"), u64("scounteren"), u64("mcountinhibit"),
        u64("menvcfg"), u64("senvcfg"), u64("stimecmp"),
        u8("fflags"), u8("frm"),
        i64("instret"), i64("cycle_offset"),
        # Version 2: the hpm counters (hpm.py), as they read now.
        array("hpm_values", Kind.U64, since=2,
              get=lambda c: [c.hpm.read(i) for i in range(32)], set=_set_hpm_values),
        array("hpm_events", Kind.U64, since=2, get=lambda c: list(c.hpm.events),
              set=lambda c, v: c.hpm.events.__setitem__(slice(None), _hpm_array(v, "hpm events"))),
        u64("resv_addr", get=_get_reservation,
            set=lambda c, v: setattr(c, "_vmstate_resv_addr", v)),
        u8("resv_size", get=_get_reservation_size, set=_set_reservation_size),
        boolean("waiting"),
        struct_("pmp", VMSTATE_RISCV_PMP),
        struct_("triggers", VMSTATE_RISCV_TRIGGERS),
    ), post_load=_post_load)
