/* Zicntr: cycle, time and instret count up, their M-mode aliases agree, and
   mcounteren/scounteren gate them for S and U mode.  No counter value is
   printed: those legitimately differ between emulators. */
#include "runtime.h"

static ulong read_cycle(ulong unused) { ulong v; asm volatile("rdcycle %0" : "=r"(v)); return v; }
static ulong read_time(ulong unused) { ulong v; asm volatile("rdtime %0" : "=r"(v)); return v; }
static ulong read_instret(ulong unused) { ulong v; asm volatile("rdinstret %0" : "=r"(v)); return v; }

static void test_counts_up(const char *name, ulong (*read)(ulong))
{
    ulong first = read(0);
    for (volatile int i = 0; i < 2000; i++)
        ;
    ulong second = read(0);
    print(name);
    print(second > first ? ": counts up\n" : ": does not count up\n");
    if (second <= first)
        check(name, second, first + 1);
}

static void try_in_mode(const char *label, ulong mode, ulong (*read)(ulong))
{
    expect_trap();
    run_in_mode(mode, read, 0);
    trap_outcome(label);
}


/* Zihpm: which of mhpmcounter3..31 / mhpmevent3..31 exist (QEMU 7.2's virt
   has 16 programmable counters, 3..18, that hold what is written; the others
   are not there: illegal instruction, which is how OpenSBI counts them), and
   which mcountinhibit bits exist. With event 0 selected a counter does not
   count. Each probe returns 0 (traps), 1 (ignores writes) or 2 (holds them). */
#define HPM_PROBE(n) \
    static int probe_counter##n(void) { \
        expect_trap_quietly(); \
        ulong old = csr_read(mhpmcounter##n); \
        if (trap_outcome("") != -1) \
            return 0; \
        csr_write(mhpmcounter##n, 0x5a5a0000UL + n); \
        int held = csr_read(mhpmcounter##n) == 0x5a5a0000UL + n; \
        csr_write(mhpmcounter##n, old); \
        return 1 + held; \
    } \
    static int probe_event##n(void) { \
        expect_trap_quietly(); \
        ulong old = csr_read(mhpmevent##n); \
        if (trap_outcome("") != -1) \
            return 0; \
        csr_write(mhpmevent##n, 0x3); \
        int held = csr_read(mhpmevent##n) == 0x3; \
        csr_write(mhpmevent##n, old); \
        return 1 + held; \
    }
HPM_PROBE(3) HPM_PROBE(4) HPM_PROBE(5) HPM_PROBE(6) HPM_PROBE(7) HPM_PROBE(8)
HPM_PROBE(9) HPM_PROBE(10) HPM_PROBE(11) HPM_PROBE(12) HPM_PROBE(13) HPM_PROBE(14)
HPM_PROBE(15) HPM_PROBE(16) HPM_PROBE(17) HPM_PROBE(18) HPM_PROBE(19) HPM_PROBE(20)
HPM_PROBE(21) HPM_PROBE(22) HPM_PROBE(23) HPM_PROBE(24) HPM_PROBE(25) HPM_PROBE(26)
HPM_PROBE(27) HPM_PROBE(28) HPM_PROBE(29) HPM_PROBE(30) HPM_PROBE(31)
#define HPM_ENTRY(n) { probe_counter##n, probe_event##n }
static const struct { int (*counter)(void); int (*event)(void); } hpm[] = {
    HPM_ENTRY(3), HPM_ENTRY(4), HPM_ENTRY(5), HPM_ENTRY(6), HPM_ENTRY(7), HPM_ENTRY(8),
    HPM_ENTRY(9), HPM_ENTRY(10), HPM_ENTRY(11), HPM_ENTRY(12), HPM_ENTRY(13), HPM_ENTRY(14),
    HPM_ENTRY(15), HPM_ENTRY(16), HPM_ENTRY(17), HPM_ENTRY(18), HPM_ENTRY(19), HPM_ENTRY(20),
    HPM_ENTRY(21), HPM_ENTRY(22), HPM_ENTRY(23), HPM_ENTRY(24), HPM_ENTRY(25), HPM_ENTRY(26),
    HPM_ENTRY(27), HPM_ENTRY(28), HPM_ENTRY(29), HPM_ENTRY(30), HPM_ENTRY(31),
};

static ulong read_hpm3(ulong unused) { return csr_read(hpmcounter3); }

static void test_hpm(void)
{
    ulong counters_there = 0, counters_held = 0, events_there = 0, events_held = 0;
    for (int i = 0; i < 29; i++) {
        int c = hpm[i].counter(), e = hpm[i].event();
        counters_there |= (ulong)(c != 0) << (i + 3);
        counters_held |= (ulong)(c == 2) << (i + 3);
        events_there |= (ulong)(e != 0) << (i + 3);
        events_held |= (ulong)(e == 2) << (i + 3);
    }
    check("mhpmcounter_present", counters_there, 0x7fff8);
    check("mhpmcounter_hold_writes", counters_held, 0x7fff8);
    check("mhpmevent_present", events_there, 0xfffffff8);
    check("mhpmevent_hold_writes", events_held, 0xfffffff8);
    /* the unprivileged views of counters that do not exist */
    expect_trap();
    (void)csr_read(hpmcounter19);
    trap_outcome("hpmcounter19");
    ulong inhibit = csr_read(mcountinhibit);
    csr_write(mcountinhibit, (ulong)-1);
    ulong inhibit_bits = csr_read(mcountinhibit) & 0xffffffffUL;
    check("mcountinhibit_bits", inhibit_bits & ~2UL, 0xfffffffd);
    /* "there is no inhibit bit for time" (QEMU 7.2 keeps a written bit 1) */
    check_spec("mcountinhibit_time_bit", (inhibit_bits >> 1) & 1, 0);
    csr_write(mcountinhibit, inhibit);
    /* event 2 (instructions) counts; an inhibit bit stops it */
    csr_write(mhpmevent4, 2);
    csr_write(mhpmcounter4, 0);
    for (volatile int i = 0; i < 100; i++)
        ;
    ulong counted = csr_read(mhpmcounter4);
    check("mhpmcounter4_counts_instructions", counted > 100, 1);
    csr_write(mcountinhibit, 1UL << 4);
    ulong stopped = csr_read(mhpmcounter4);
    for (volatile int i = 0; i < 100; i++)
        ;
    /* (QEMU 7.2 keeps counting: its hpm counters ignore mcountinhibit) */
    check_spec("mhpmcounter4_inhibited", csr_read(mhpmcounter4) == stopped, 1);
    csr_write(mcountinhibit, 0);
    csr_write(mhpmevent4, 0);
    /* event 0: the counter keeps what was written */
    csr_write(mhpmcounter3, 1234);
    for (volatile int i = 0; i < 100; i++)
        ;
    check("mhpmcounter3_event0_still", csr_read(mhpmcounter3), 1234);
    /* S mode reads it through hpmcounter3 when mcounteren.HPM3 allows */
    csr_write(mcounteren, 1UL << 3);
    check("s_hpmcounter3", run_in_mode(MODE_S, read_hpm3, 0), 1234);
    csr_write(mcounteren, 0);
    try_in_mode("s_hpmcounter3_blocked", MODE_S, read_hpm3);
    csr_write(mhpmcounter3, 0);
}

int main(void)
{
    print("rv_zicntr\n");
    test_hpm();
    test_counts_up("cycle", read_cycle);
    test_counts_up("time", read_time);
    test_counts_up("instret", read_instret);
    ulong instret = csr_read(minstret), later;
    asm volatile("rdinstret %0" : "=r"(later));
    check("minstret_not_ahead", later >= instret, 1);
#if XLEN == 32
    /* the high halves: a 64-bit count read as hi/lo/hi never goes back */
    ulong hi1, lo, hi2;
    asm volatile("1: rdcycleh %0\n rdcycle %1\n rdcycleh %2\n bne %0, %2, 1b"
                 : "=r"(hi1), "=r"(lo), "=r"(hi2));
    check("cycleh_stable", hi1 == hi2, 1);
    asm volatile("rdtimeh %0" : "=r"(hi1));
    check("timeh_matches_mtime_high", hi1, (ulong)(*(volatile u64 *)CLINT_MTIME >> 32));
    asm volatile("rdinstreth %0" : "=r"(hi1));
    check("instreth_readable", hi1 == csr_read(minstreth), 1);
    (void)lo;
#endif
    /* mtime at the CLINT and the time CSR are one clock */
    ulong clint = (ulong)*(volatile u64 *)CLINT_MTIME, csr = read_time(0);
    check("time_follows_mtime", csr >= clint, 1);

    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);
    try_in_mode("u_cycle_blocked", MODE_U, read_cycle);
    try_in_mode("s_time_blocked", MODE_S, read_time);
    csr_write(mcounteren, 7);
    try_in_mode("s_instret_allowed", MODE_S, read_instret);
    try_in_mode("u_instret_blocked_by_scounteren", MODE_U, read_instret);
    csr_write(scounteren, 5);
    try_in_mode("u_cycle_allowed", MODE_U, read_cycle);
    try_in_mode("u_time_blocked_by_scounteren", MODE_U, read_time);
    csr_write(scounteren, 7);
    try_in_mode("u_instret_allowed", MODE_U, read_instret);
    return failures();
}
