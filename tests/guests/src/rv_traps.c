/* Traps and privilege: ecall from U/S/M, delegation to S through
   medeleg/mideleg, mret/sret and the mstatus stack, vectored mtvec,
   illegal instructions (mtval = the instruction), ebreak, TVM/TW/TSR,
   and wfi with an interrupt pending. */
#include "runtime.h"

extern char vector_table[];
extern volatile ulong last_vector;

static ulong do_ecall(ulong arg)
{
    register ulong a0 asm("a0") = arg;
    register ulong a7 asm("a7") = 0;   /* not run_in_mode's return request */
    asm volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
    return a0;
}

static void show_status_stack(const char *name, ulong status)
{
    print(name);
    print(": MIE="); print_dec((status >> 3) & 1);
    print(" MPIE="); print_dec((status >> 7) & 1);
    print(" MPP="); print_dec((status >> 11) & 3);
    print(" SIE="); print_dec((status >> 1) & 1);
    print(" SPIE="); print_dec((status >> 5) & 1);
    print(" SPP="); print_dec((status >> 8) & 1);
    putchar_uart('\n');
}

static void test_ecalls(void)
{
    expect_trap();
    do_ecall(0);
    check("ecall_from_m", trap_outcome("ecall_m"), CAUSE_MACHINE_ECALL);
    check("ecall_m_mtval", last_trap.tval, 0);
    show_status_stack("after_ecall_m", last_trap.status);
    expect_trap();
    run_in_mode(MODE_S, do_ecall, 0);
    check("ecall_from_s", trap_outcome("ecall_s"), CAUSE_SUPERVISOR_ECALL);
    show_status_stack("after_ecall_s", last_trap.status);
    expect_trap();
    run_in_mode(MODE_U, do_ecall, 0);
    check("ecall_from_u", trap_outcome("ecall_u"), CAUSE_USER_ECALL);
    show_status_stack("after_ecall_u", last_trap.status);
}

static void test_delegation(void)
{
    install_s_trap();
    csr_write(medeleg, (1UL << CAUSE_USER_ECALL) | (1UL << CAUSE_ILLEGAL_INSTRUCTION)
                       | (1UL << CAUSE_BREAKPOINT));
    expect_trap();
    run_in_mode(MODE_U, do_ecall, 0);
    trap_outcome("delegated_ecall_u");
    check("handled_in_s", last_trap_mode, 'S');
    show_status_stack("sstatus_after_delegated", last_trap.status);
    /* ecall from S is not delegated: M takes it */
    expect_trap();
    run_in_mode(MODE_S, do_ecall, 0);
    trap_outcome("ecall_s_not_delegated");
    check("handled_in_m", last_trap_mode, 'M');
    /* delegation never moves a trap taken in M mode down to S */
    expect_trap();
    asm volatile(".word 0x0000000b");
    trap_outcome("illegal_in_m_with_medeleg");
    check("m_trap_stays_in_m", last_trap_mode, 'M');
    csr_write(medeleg, 0);
    /* delegated interrupt: supervisor software interrupt raised by M */
    csr_write(mideleg, 1UL << IRQ_S_SOFT);
    csr_write(mie, 1UL << IRQ_S_SOFT);
    csr_set(mip, 1UL << IRQ_S_SOFT);
    show("sip_view", csr_read(sip));
    csr_clear(mip, 1UL << IRQ_S_SOFT);
    csr_write(mie, 0);
    csr_write(mideleg, 0);
}

static void wfi_in_mode_fn(ulong unused) { asm volatile("wfi"); }
static ulong do_wfi(ulong unused) { wfi_in_mode_fn(0); return 0; }
static ulong do_sret(ulong unused) { asm volatile("sret"); return 0; }
static ulong do_mret(ulong unused) { asm volatile("mret"); return 0; }
static ulong do_satp_read(ulong unused) { return csr_read(satp); }
static ulong do_sfence(ulong unused) { asm volatile("sfence.vma"); return 0; }
static ulong do_mcsr(ulong unused) { return csr_read(mstatus); }

static void try_in_mode(const char *label, ulong mode, ulong (*fn)(ulong))
{
    expect_trap();
    run_in_mode(mode, fn, 0);
    trap_outcome(label);
}

static void test_privileged_instructions(void)
{
    try_in_mode("mret_in_s", MODE_S, do_mret);
    try_in_mode("sret_in_u", MODE_U, do_sret);
    try_in_mode("mstatus_in_s", MODE_S, do_mcsr);
    try_in_mode("satp_in_s", MODE_S, do_satp_read);
    try_in_mode("sfence_in_s", MODE_S, do_sfence);
    try_in_mode("sfence_in_u", MODE_U, do_sfence);
    csr_set(mstatus, MSTATUS_TVM);
    try_in_mode("satp_in_s_tvm", MODE_S, do_satp_read);
    try_in_mode("sfence_in_s_tvm", MODE_S, do_sfence);
    csr_clear(mstatus, MSTATUS_TVM);
    csr_set(mstatus, MSTATUS_TSR);
    try_in_mode("sret_in_s_tsr", MODE_S, do_sret);
    csr_clear(mstatus, MSTATUS_TSR);
    /* wfi in U mode traps (S mode exists); in S with TW it traps */
    try_in_mode("wfi_in_u", MODE_U, do_wfi);
    csr_set(mstatus, MSTATUS_TW);
    try_in_mode("wfi_in_s_tw", MODE_S, do_wfi);
    csr_clear(mstatus, MSTATUS_TW);
}

static void test_mret_sret(void)
{
    ulong status;
    /* mret: MIE <- MPIE, MPIE <- 1, MPP <- U; we stay in M with MPP = M */
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPIE);
    csr_set(mstatus, MSTATUS_MPP);
    asm volatile("la t0, 1f\n csrw mepc, t0\n mret\n 1: csrr %0, mstatus" : "=r"(status) :: "t0");
    show_status_stack("after_mret_mpie0", status);
    csr_set(mstatus, MSTATUS_MPIE | MSTATUS_MPP);
    asm volatile("la t0, 1f\n csrw mepc, t0\n mret\n 1: csrr %0, mstatus" : "=r"(status) :: "t0");
    csr_clear(mstatus, MSTATUS_MIE);
    show_status_stack("after_mret_mpie1", status);
    /* sret executed in M mode returns to SPP (S here) and is then in S:
       the following ecall must come from S */
    csr_set(mstatus, MSTATUS_SPP | MSTATUS_SPIE);
    expect_trap();
    asm volatile("la t0, 1f\n csrw sepc, t0\n sret\n 1: li a7, 0\n ecall" ::: "t0", "a7", "memory");
    trap_outcome("sret_from_m_lands_in_s");
    show_status_stack("status_at_ecall", last_trap.status);
    /* we are back in M (the handler's mret with MPP = S would return to S:
       return to M instead by leaving through run_in_mode's exit) */
}

static void test_illegal(void)
{
    expect_trap();
    asm volatile(".word 0xfe000033");   /* OP with funct7 0x7f */
    trap_outcome("op_funct7_reserved");
    show("mtval", last_trap.tval);
    expect_trap();
    asm volatile(".word 0x00007003");   /* LOAD with funct3 7 */
    trap_outcome("load_funct3_7");
    show("mtval", last_trap.tval);
    expect_trap();
    asm volatile(".word 0x0000000b");   /* custom-0 opcode */
    trap_outcome("custom0");
    show("mtval", last_trap.tval);
    expect_trap();
    asm volatile(".option push\n.option rvc\n.half 0x0000\n.option pop");   /* c.unimp */
    trap_outcome("c_unimp");
    show("mtval", last_trap.tval);
    expect_trap();
    asm volatile(".half 0x0004");   /* c.addi4spn with a zero immediate: reserved */
    trap_outcome("c_addi4spn_zero");
    show("mtval", last_trap.tval);
    expect_trap();
    asm volatile(".half 0x6101");   /* c.addi16sp with a zero immediate: reserved */
    trap_outcome("c_addi16sp_zero");
    show("mtval", last_trap.tval);
    /* FPU instructions trap when mstatus.FS is Off */
    csr_clear(mstatus, MSTATUS_FS);
    expect_trap();
    asm volatile("fmv.w.x ft0, zero");
    trap_outcome("fp_with_fs_off");
    show("mtval", last_trap.tval);
    csr_set(mstatus, 1UL << 13);
    /* ebreak and c.ebreak: breakpoint, mtval = pc (or 0) */
    expect_trap();
    asm volatile(".option push\n.option norvc\nebreak\n.option pop");
    trap_outcome("ebreak");
    check("ebreak_mtval_pc_or_zero", last_trap.tval == last_trap.epc || last_trap.tval == 0, 1);
    show("ebreak_mtval_is_pc", last_trap.tval == last_trap.epc);
    expect_trap();
    asm volatile(".option push\n.option rvc\nc.ebreak\n.option pop");
    trap_outcome("c_ebreak");
}

static void test_vectored(void)
{
    ulong saved = csr_read(mtvec);
    csr_write(mtvec, (ulong)vector_table | 1);
    check("mtvec_vectored", csr_read(mtvec), (ulong)vector_table | 1);
    /* exceptions use the base */
    last_vector = 99;
    expect_trap();
    asm volatile("ecall");
    trap_outcome("ecall_vectored");
    check("exception_vector", last_vector, 0);
    /* machine software interrupt through the CLINT: vector 3 */
    static volatile ulong interrupts;
    m_interrupt_hook = 0;
    last_vector = 99;
    csr_write(mie, 1UL << IRQ_M_SOFT);
    mmio_write32(CLINT_MSIP0, 1);
    check("msip_pending", (csr_read(mip) >> IRQ_M_SOFT) & 1, 1);
    void msoft_hook(ulong cause);
    m_interrupt_hook = msoft_hook;
    csr_set(mstatus, MSTATUS_MIE);
    for (volatile int i = 0; i < 10; i++)
        interrupts++;
    csr_clear(mstatus, MSTATUS_MIE);
    check("software_interrupt_vector", last_vector, IRQ_M_SOFT);
    /* machine timer interrupt: vector 7 */
    last_vector = 99;
    csr_write(mie, 1UL << IRQ_M_TIMER);
    *(volatile u64 *)CLINT_MTIMECMP0 = 0;
    csr_set(mstatus, MSTATUS_MIE);
    for (volatile int i = 0; i < 10; i++)
        interrupts++;
    csr_clear(mstatus, MSTATUS_MIE);
    check("timer_interrupt_vector", last_vector, IRQ_M_TIMER);
    csr_write(mie, 0);
    m_interrupt_hook = 0;
    csr_write(mtvec, saved);
}

static volatile ulong seen_cause;

void msoft_hook(ulong cause)
{
    print("interrupt: mcause=");
    print_hex(cause);
    putchar_uart('\n');
    seen_cause = cause;
    if (cause == (CAUSE_INTERRUPT | IRQ_M_SOFT))
        mmio_write32(CLINT_MSIP0, 0);
    if (cause == (CAUSE_INTERRUPT | IRQ_M_TIMER))
        *(volatile u64 *)CLINT_MTIMECMP0 = (u64)-1;
}

static void test_wfi_pending(void)
{
    /* wfi must not sleep when an enabled interrupt is pending, even with
       mstatus.MIE clear; no trap is taken */
    csr_clear(mstatus, MSTATUS_MIE);
    csr_write(mie, 1UL << IRQ_M_SOFT);
    mmio_write32(CLINT_MSIP0, 1);
    asm volatile("wfi");
    print("wfi returned with msip pending\n");
    check("msip_still_pending", (csr_read(mip) >> IRQ_M_SOFT) & 1, 1);
    mmio_write32(CLINT_MSIP0, 0);
    check("msip_cleared", (csr_read(mip) >> IRQ_M_SOFT) & 1, 0);
    /* wfi wakes on the timer: mtimecmp a little ahead */
    csr_write(mie, 1UL << IRQ_M_TIMER);
    volatile u64 *mtimecmp = (volatile u64 *)CLINT_MTIMECMP0;
    *mtimecmp = *(volatile u64 *)CLINT_MTIME + 1000;
    while (!((csr_read(mip) >> IRQ_M_TIMER) & 1))
        asm volatile("wfi");
    print("wfi woke on the timer\n");
    *mtimecmp = (u64)-1;
    check("mtip_cleared", (csr_read(mip) >> IRQ_M_TIMER) & 1, 0);
    csr_write(mie, 0);
}

int main(void)
{
    print("rv_traps\n");
    test_ecalls();
    test_delegation();
    test_privileged_instructions();
    test_illegal();
    test_vectored();
    test_wfi_pending();
    test_mret_sret();
    return failures();
}
