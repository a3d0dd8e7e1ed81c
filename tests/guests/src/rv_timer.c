/* Timer interrupts from the CLINT: mtimecmp raises MTIP and a machine timer
   interrupt; M turns it into a supervisor timer interrupt (STIP) that is
   delegated through mideleg and taken in S mode, and in U mode even with
   sstatus.SIE clear.  No time values are printed. */
#include "runtime.h"

static volatile u64 *const mtimecmp = (volatile u64 *)CLINT_MTIMECMP0;
static volatile u64 *const mtime = (volatile u64 *)CLINT_MTIME;
static volatile int m_ticks, s_ticks;
static volatile ulong s_seen_cause, s_seen_mode_spp;

static void m_timer_hook(ulong cause)
{
    print("m interrupt: mcause=");
    print_hex(cause);
    print(" from mode ");
    print_dec((csr_read(mstatus) >> 11) & 3);
    putchar_uart('\n');
    if (cause == (CAUSE_INTERRUPT | IRQ_M_TIMER)) {
        *mtimecmp = (u64)-1;   /* also clears MTIP */
        m_ticks++;
        if (csr_read(mideleg) & (1UL << IRQ_S_TIMER))
            csr_set(mip, 1UL << IRQ_S_TIMER);
    }
}

static void s_timer_hook(ulong cause)
{
    s_seen_cause = cause;
    s_seen_mode_spp = (csr_read(sstatus) & MSTATUS_SPP) != 0;
    /* S cannot clear STIP; it masks the source and leaves clearing to M */
    csr_clear(sie, 1UL << IRQ_S_TIMER);
    s_ticks++;
}

static void arm_timer(u64 delta) { *mtimecmp = *mtime + delta; }

/* How long to wait for an interrupt that must come (it ends the wait) or
   must not come (keep that short: every spin is a few instructions). */
static volatile long spin_limit = 20000000;

static ulong wait_for_s_tick(ulong enable_sie)
{
    if (enable_sie)
        csr_set(sstatus, MSTATUS_SIE);
    for (long spins = 0; !s_ticks && spins < spin_limit; spins++)
        ;
    if (enable_sie)   /* U mode may not touch sstatus */
        csr_clear(sstatus, MSTATUS_SIE);
    return s_ticks;
}

/* Sstc with menvcfg.STCE: STIP in mip follows time >= stimecmp and is
   read-only. A csrs/csrc of another mip bit (OpenSBI sets and clears SSIP
   this way on every IPI) while STIP is high must not latch it: with a later
   stimecmp STIP drops again. (A latched STIP kept a -smp 2 Linux guest in an
   endless timer interrupt.) rv64 only: on rv32 STCE sits in menvcfgh. */
static void sstc_stip_is_read_only(void)
{
#if __riscv_xlen == 64
    csr_write(0x30a, 1UL << 63);               /* menvcfg.STCE */
    csr_write(0x14d, 0);                       /* stimecmp: due at once */
    check("sstc_stip_when_due", (csr_read(mip) >> IRQ_S_TIMER) & 1, 1);
    csr_set(mip, 1UL << IRQ_S_SOFT);
    csr_clear(mip, 1UL << IRQ_S_SOFT);
    csr_write(0x14d, (ulong)-1);
    check("sstc_stip_after_rmw_when_far", (csr_read(mip) >> IRQ_S_TIMER) & 1, 0);
    csr_write(0x14d, 0);
    csr_clear(mip, 1UL << IRQ_S_TIMER);        /* read-only: no effect */
    check("sstc_stip_not_cleared_by_csrc", (csr_read(mip) >> IRQ_S_TIMER) & 1, 1);
    csr_write(0x14d, (ulong)-1);
    csr_set(mip, 1UL << IRQ_S_TIMER);          /* read-only: no effect */
    check("sstc_stip_not_set_by_csrs", (csr_read(mip) >> IRQ_S_TIMER) & 1, 0);
    csr_write(0x30a, 0);
#endif
}

int main(void)
{
    print("rv_timer\n");
    m_interrupt_hook = m_timer_hook;
    s_interrupt_hook = s_timer_hook;
    install_s_trap();

    /* MTIP follows mtime >= mtimecmp, whatever mie says */
    *mtimecmp = 0;
    check("mtip_when_due", (csr_read(mip) >> IRQ_M_TIMER) & 1, 1);
    *mtimecmp = (u64)-1;
    check("mtip_when_far", (csr_read(mip) >> IRQ_M_TIMER) & 1, 0);
    /* mtimecmp is readable back as a 64-bit register */
    *mtimecmp = 0x123456789aULL;
    check64("mtimecmp_readback", *mtimecmp, 0x123456789aULL);
    *mtimecmp = (u64)-1;

    /* machine timer interrupt in M mode */
    csr_write(mie, 1UL << IRQ_M_TIMER);
    arm_timer(2000);
    csr_set(mstatus, MSTATUS_MIE);
    while (!m_ticks)
        asm volatile("wfi");
    csr_clear(mstatus, MSTATUS_MIE);
    check("m_ticks", m_ticks, 1);

    /* supervisor timer: the M handler forwards MTI as STIP to S */
    csr_write(mideleg, 1UL << IRQ_S_TIMER);
    csr_write(mie, (1UL << IRQ_M_TIMER) | (1UL << IRQ_S_TIMER));
    arm_timer(2000);
    ulong ticks = run_in_mode(MODE_S, wait_for_s_tick, 1);
    check("s_ticks_in_s", ticks, 1);
    check("s_cause", s_seen_cause, CAUSE_INTERRUPT | IRQ_S_TIMER);
    check("s_interrupted_s_mode", s_seen_mode_spp, 1);
    csr_clear(mip, 1UL << IRQ_S_TIMER);

    /* U mode takes S interrupts even with sstatus.SIE clear */
    s_ticks = 0;
    csr_set(sie, 1UL << IRQ_S_TIMER);
    arm_timer(2000);
    ticks = run_in_mode(MODE_U, wait_for_s_tick, 0);
    check("s_ticks_in_u", ticks, 1);
    check("s_interrupted_u_mode", s_seen_mode_spp, 0);
    csr_clear(mip, 1UL << IRQ_S_TIMER);

    /* S mode with SIE clear does not take the S interrupt */
    s_ticks = 0;
    csr_set(sie, 1UL << IRQ_S_TIMER);
    csr_set(mip, 1UL << IRQ_S_TIMER);
    spin_limit = 2000;
    ticks = run_in_mode(MODE_S, wait_for_s_tick, 0);
    check("s_masked_in_s", ticks, 0);
    check("stip_pending", (csr_read(sip) >> IRQ_S_TIMER) & 1, 1);
    csr_clear(mip, 1UL << IRQ_S_TIMER);
    csr_write(mie, 0);
    csr_write(mideleg, 0);
    sstc_stip_is_read_only();
    return failures();
}
