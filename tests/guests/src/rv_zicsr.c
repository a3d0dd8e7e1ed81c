/* Zicsr: the six CSR instructions (read-only forms that must not write, x0
   sources), WARL fields, read-only and absent CSRs raising illegal
   instruction with the instruction bits in mtval. */
#include "runtime.h"

#define H_EXCEPTIONS ((1UL << 10) | (0xfUL << 20))
#define H_AND_LCOF_INTERRUPTS ((1UL << 2) | (1UL << 6) | (1UL << 10) | (1UL << 12) | (1UL << 13))

static void test_csr_instructions(void)
{
    ulong old;
    csr_write(mscratch, 0x1234);
    asm volatile("csrrw %0, mscratch, %1" : "=r"(old) : "r"(0xf0UL));
    check("csrrw_old", old, 0x1234);
    asm volatile("csrrs %0, mscratch, %1" : "=r"(old) : "r"(0x0fUL));
    check("csrrs_old", old, 0xf0);
    asm volatile("csrrc %0, mscratch, %1" : "=r"(old) : "r"(0x81UL));
    check("csrrc_old", old, 0xff);
    check("csrrc_result", csr_read(mscratch), 0x7e);
    asm volatile("csrrwi %0, mscratch, 31" : "=r"(old));
    check("csrrwi_old", old, 0x7e);
    asm volatile("csrrsi %0, mscratch, 0x40 >> 2" : "=r"(old));
    asm volatile("csrrci %0, mscratch, 1" : "=r"(old));
    check("csrrsi_csrrci", csr_read(mscratch), 0x1e);
    asm volatile("csrrs %0, mscratch, x0" : "=r"(old));
    check("csrrs_x0_reads", old, 0x1e);
    asm volatile("csrrwi x0, mscratch, 3");
    check("csrrwi_to_x0_writes", csr_read(mscratch), 3);
    csr_write(mscratch, (ulong)-1);
    check("mscratch_all_bits", csr_read(mscratch), (ulong)-1);
    /* the trap handler's stack pointer lives in mscratch */
    extern char __trap_stack_top[];
    csr_write(mscratch, (ulong)__trap_stack_top);
}

/* Reading a read-only CSR with csrrs x0 or csrrc x0 must not trap; writing
   it must.  cycle is read-only (0xc00) and exists. */
static void test_read_only(void)
{
    ulong v;
    expect_trap();
    asm volatile("csrrs %0, mvendorid, x0" : "=r"(v));
    trap_outcome("csrrs_mvendorid_x0");
    expect_trap();
    asm volatile("csrrsi %0, marchid, 0" : "=r"(v));
    trap_outcome("csrrsi_marchid_0");
    expect_trap();
    asm volatile("csrw mhartid, %0" :: "r"(0UL));
    check("csrw_mhartid_traps", trap_outcome("csrw_mhartid"), CAUSE_ILLEGAL_INSTRUCTION);
    check("mtval_is_instruction", last_trap.tval, *(volatile u32 *)last_trap.epc);
    expect_trap();
    asm volatile("csrrs %0, cycle, %1" : "=r"(v) : "r"(1UL));
    check("csrrs_cycle_nonzero_traps", trap_outcome("csrrs_cycle_t"), CAUSE_ILLEGAL_INSTRUCTION);
    expect_trap();
    asm volatile("csrrc %0, time, x0" : "=r"(v));
    trap_outcome("csrrc_time_x0");
}

static void test_absent(void)
{
    ulong v;
    /* 0x7ff is a custom M-mode read/write number nobody implements; 0x5c0
       is custom S-mode; 0xfff is M read-only custom */
    expect_trap();
    asm volatile("csrr %0, 0x7ff" : "=r"(v));
    check("csr_0x7ff_traps", trap_outcome("csrr_0x7ff"), CAUSE_ILLEGAL_INSTRUCTION);
    check("mtval_is_instruction", last_trap.tval, *(volatile u32 *)last_trap.epc);
    expect_trap();
    asm volatile("csrw 0x5c0, %0" :: "r"(1UL));
    check("csr_0x5c0_traps", trap_outcome("csrw_0x5c0"), CAUSE_ILLEGAL_INSTRUCTION);
    expect_trap();
    asm volatile("csrr %0, 0xfff" : "=r"(v));
    check("csr_0xfff_traps", trap_outcome("csrr_0xfff"), CAUSE_ILLEGAL_INSTRUCTION);
}

static void test_warl_fields(void)
{
    ulong saved = csr_read(mtvec);
    /* mtvec MODE >= 2 is reserved: the write must not produce it */
    csr_write(mtvec, 0x80001002UL);
    show("mtvec_mode_2_written", csr_read(mtvec) & 3);
    csr_write(mtvec, saved);
    csr_write(mepc, 0x80000003UL);
    /* "mepc[0] is always zero" (privileged spec, mepc); QEMU 7.2 keeps the
       bit in the register and only drops it on mret */
    check_spec("mepc_bit0", csr_read(mepc), 0x80000002UL);
    ulong mstatus = csr_read(mstatus);
    csr_set(mstatus, MSTATUS_MPP);
    check("mstatus_mpp_m", csr_read(mstatus) & MSTATUS_MPP, MSTATUS_MPP);
    /* MPP is WARL and 2 is not a privilege mode: a write of 2 must leave a
       legal value (privileged spec, "Privilege and Global Interrupt-Enable
       Stack in mstatus register"); QEMU 7.2 keeps the 2. */
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, 2UL << 11);
    check_spec("mstatus_mpp_after_2_is_legal", ((csr_read(mstatus) & MSTATUS_MPP) >> 11) == 2, 0);
    csr_write(mstatus, mstatus);
    /* sstatus is a view of mstatus */
    csr_set(mstatus, MSTATUS_SUM);
    check("sstatus_sees_sum", (csr_read(sstatus) & MSTATUS_SUM) != 0, 1);
    csr_clear(sstatus, MSTATUS_SUM);
    check("mstatus_sees_sstatus_write", (csr_read(mstatus) & MSTATUS_SUM) != 0, 0);
    /* sie/sip are views of mie/mip restricted by mideleg */
    csr_write(mideleg, 1UL << IRQ_S_SOFT);
    csr_write(mie, 0);
    csr_write(sie, (1UL << IRQ_S_SOFT) | (1UL << IRQ_S_TIMER));
    check("mie_after_sie_write", csr_read(mie), 1UL << IRQ_S_SOFT);
    csr_write(mie, 0);
    csr_write(mideleg, 0);
    csr_write(mcause, 0x11);
    check("mcause_rw", csr_read(mcause), 0x11);
    csr_write(medeleg, (ulong)-1);
    /* "medeleg[11] is read-only zero" (privileged spec, medeleg); QEMU 7.2
       lets it be written */
    /* QEMU 7.2 also implements the hypervisor extension and Sscofpmf: their
       bits (VS ecall 10, guest page faults 20-23; VS interrupts 2, 6, 10,
       SGEI 12, LCOFI 13) are left out of the comparison */
    show("medeleg_all_but_11", csr_read(medeleg) & ~(1UL << 11) & ~H_EXCEPTIONS);
    check_spec("medeleg_bit11", (csr_read(medeleg) >> 11) & 1, 0);
    csr_write(medeleg, 0);
    csr_write(mideleg, (ulong)-1);
    show("mideleg_all", csr_read(mideleg) & ~H_AND_LCOF_INTERRUPTS);
    csr_write(mideleg, 0);
    csr_write(mie, (ulong)-1);
    show("mie_all", csr_read(mie) & ~H_AND_LCOF_INTERRUPTS);
    csr_write(mie, 0);
    csr_write(satp, 0);
    check("satp_bare", csr_read(satp), 0);
#if XLEN == 32
    check("mstatush", csr_read(mstatush), 0);
#endif
}

int main(void)
{
    print("rv_zicsr\n");
    test_csr_instructions();
    test_read_only();
    test_absent();
    test_warl_fields();
    return failures();
}
