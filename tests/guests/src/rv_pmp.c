/* PMP: TOR, NA4 and NAPOT regions, R/W/X checks from S mode, priority of the
   lowest-numbered match, locked entries that also bind M mode and ignore
   writes, and the WARL behaviour of pmpaddr/pmpcfg.  The last entry
   (set by _start) opens everything else. */
#include "ops.h"

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_TOR 0x08
#define PMP_NA4 0x10
#define PMP_NAPOT 0x18
#define PMP_L 0x80

static u8 area[4 * 4096] __attribute__((aligned(16384), section(".pages")));

static void set_pmpaddr(int i, ulong v)
{
    switch (i) {
    case 0: csr_write(pmpaddr0, v); break;
    case 1: csr_write(pmpaddr1, v); break;
    case 2: csr_write(pmpaddr2, v); break;
    case 3: csr_write(pmpaddr3, v); break;
    case 4: csr_write(pmpaddr4, v); break;
    case 5: csr_write(pmpaddr5, v); break;
    }
}

static ulong get_pmpaddr(int i)
{
    switch (i) {
    case 0: return csr_read(pmpaddr0);
    case 4: return csr_read(pmpaddr4);
    case 5: return csr_read(pmpaddr5);
    }
    return 0;
}

/* entries 0-7 live in pmpcfg0 (rv64) or pmpcfg0/pmpcfg1 (rv32) */
static ulong read_cfg_reg(int i)
{
#if XLEN == 64
    (void)i;
    return csr_read(pmpcfg0);
#else
    return i < 4 ? csr_read(pmpcfg0) : csr_read(pmpcfg1);
#endif
}

static void write_cfg_reg(int i, ulong v)
{
#if XLEN == 64
    (void)i;
    csr_write(pmpcfg0, v);
#else
    if (i < 4)
        csr_write(pmpcfg0, v);
    else
        csr_write(pmpcfg1, v);
#endif
}

static int cfg_shift(int i) { return 8 * (i % (XLEN / 8)); }

static void set_pmpcfg(int i, ulong cfg)
{
    ulong v = read_cfg_reg(i);
    v &= ~(0xffUL << cfg_shift(i));
    v |= (cfg & 0xff) << cfg_shift(i);
    write_cfg_reg(i, v);
    asm volatile("sfence.vma" ::: "memory");
}

static ulong get_pmpcfg(int i) { return (read_cfg_reg(i) >> cfg_shift(i)) & 0xff; }

static ulong load_word(ulong pa) { return *(volatile u32 *)pa; }
static ulong store_word(ulong pa) { *(volatile u32 *)pa = 0xabcdef01; return 0; }
static ulong call_at(ulong pa) { return ((ulong (*)(ulong))pa)(41); }
extern char pmp_return_stub[];
asm(".text\npmp_return_stub: ret\n");

static void s_access(const char *label, ulong (*fn)(ulong), ulong pa)
{
    expect_trap();
    trap_resume = fn == call_at ? (ulong)pmp_return_stub : 0;
    ulong v = run_in_mode(MODE_S, fn, pa);
    if (trap_outcome(label) == -1) {
        if (fn != store_word)
            show("value", v);
    } else {
        check("tval_is_address", last_trap.tval, pa);
    }
    trap_resume = 0;
}

static ulong napot(ulong base, ulong size) { return (base >> 2) | ((size >> 3) - 1); }

int main(void)
{
    print("rv_pmp\n");
    ulong a = (ulong)area;
    for (int i = 0; i < 4; i++) {
        *(u32 *)(a + i * 4096) = 0x10101010 * (i + 1);
        *(u32 *)(a + i * 4096 + 8) = 0x0a0a0a0a;
        *(u32 *)(a + i * 4096 + 12) = 0x0c0c0c0c;
    }
    /* addi a0, a0, 1; ret at the start of page 2 */
    *(u32 *)(a + 8192) = 0x00150513;
    *(u32 *)(a + 8196) = 0x00008067;
    asm volatile("fence.i");

    /* WARL: pmpaddr holds address bits 55:2 on rv64 (so its top 10 bits
       read zero) and 33:2 on rv32 (privileged spec, "Physical Memory
       Protection CSRs"); QEMU 7.2 keeps all 64 bits on rv64. */
    set_pmpaddr(0, (ulong)-1);
    check_spec("pmpaddr_all_ones", get_pmpaddr(0), X(0x003fffffffffffff, 0xffffffff));
    /* R=0 W=1 is reserved in the collective WARL field: the entry must not
       hold it; QEMU 7.2 does. */
    set_pmpcfg(0, PMP_W);
    check_spec("pmpcfg_w_only_kept", (get_pmpcfg(0) & 3) == PMP_W, 0);
    set_pmpcfg(0, 0);

    /* TOR: entry 1 covers [pmpaddr0, pmpaddr1) = page 0, read only */
    set_pmpaddr(0, a >> 2);
    set_pmpaddr(1, (a + 4096) >> 2);
    set_pmpcfg(1, PMP_TOR | PMP_R);
    check("pmpcfg1", get_pmpcfg(1), PMP_TOR | PMP_R);
    s_access("tor_load", load_word, a);
    s_access("tor_store", store_word, a + 4);
    s_access("tor_fetch", call_at, a);
    s_access("tor_below", load_word, a - 4);
    s_access("tor_top_exclusive", store_word, a + 4096);
    /* M mode is not bound by unlocked entries */
    *(volatile u32 *)(a + 4) = 0x4d4d4d4d;
    check("m_store_through_unlocked", *(volatile u32 *)(a + 4), 0x4d4d4d4d);

    /* NA4: entry 2 denies exactly the 4 bytes at page1 + 8 */
    set_pmpaddr(2, (a + 4096 + 8) >> 2);
    set_pmpcfg(2, PMP_NA4);
    s_access("na4_hit", load_word, a + 4096 + 8);
    s_access("na4_next_word", load_word, a + 4096 + 12);
    s_access("na4_previous_word", load_word, a + 4096 + 4);

    /* NAPOT: entry 3 = page 2 execute only; entry 4 (same range, R) loses
       to it because the lowest-numbered matching entry decides */
    set_pmpaddr(3, napot(a + 8192, 4096));
    set_pmpcfg(3, PMP_NAPOT | PMP_X);
    set_pmpaddr(4, napot(a + 8192, 4096));
    set_pmpcfg(4, PMP_NAPOT | PMP_R | PMP_W);
    s_access("napot_fetch", call_at, a + 8192);
    s_access("napot_load_lowest_entry_wins", load_word, a + 8192 + 8);
    s_access("napot_end", load_word, a + 8192 + 4092);
    s_access("napot_past_end", load_word, a + 12288);
    /* an access that straddles the region's end must not pass partly */
    s_access("napot_straddle", load_word, a + 8192 + 4094);

    /* a locked entry binds M mode too and ignores further writes */
    set_pmpaddr(5, napot(a + 12288, 4096));
    set_pmpcfg(5, PMP_NAPOT | PMP_L);
    expect_trap();
    ulong v = *(volatile u32 *)(a + 12288);
    check("locked_m_load", trap_outcome("locked_m_load"), CAUSE_LOAD_ACCESS);
    check("locked_m_load_tval", last_trap.tval, a + 12288);
    (void)v;
    expect_trap();
    *(volatile u32 *)(a + 12288 + 4) = 1;
    check("locked_m_store", trap_outcome("locked_m_store"), CAUSE_STORE_ACCESS);
    set_pmpcfg(5, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    check("locked_cfg_unchanged", get_pmpcfg(5), PMP_NAPOT | PMP_L);
    set_pmpaddr(5, 0);
    check("locked_addr_unchanged", get_pmpaddr(5), napot(a + 12288, 4096));
    /* entries before the locked one still change */
    set_pmpcfg(4, 0);
    check("unlocked_neighbour_changes", get_pmpcfg(4), 0);
    return failures();
}
