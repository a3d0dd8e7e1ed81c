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

int main(void)
{
    print("rv_zicntr\n");
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
