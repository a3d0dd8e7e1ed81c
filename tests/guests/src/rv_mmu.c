/* The MMU: page-table walks for Sv32/Sv39/Sv48 (the scheme comes from
   mmu_sv*.c), hardware A/D updates, page faults and their stval, superpage
   alignment, U/SUM/MXR permissions, MPRV, sfence.vma, refusal of satp modes
   that are not supported, delegation of page faults to S, and an instruction
   that crosses into an unmapped page. */
#include "mmu.h"

static u8 page_pool[40 * PAGE_SIZE] __attribute__((aligned(4096), section(".pages")));
static unsigned pages_used;
static pte_t *root;

#define LEAF_SPAN(level) (1UL << (12 + (level) * VPN_BITS))
#define TEST_VA 0x40000000UL
#define VA_DATA (TEST_VA + 0x0000)
#define VA_AD (TEST_VA + 0x1000)
#define VA_RO (TEST_VA + 0x2000)
#define VA_XO (TEST_VA + 0x3000)
#define VA_USER (TEST_VA + 0x4000)
#define VA_WO (TEST_VA + 0x5000)
#define VA_UNMAPPED (TEST_VA + 0x6000)
#define VA_CROSS (TEST_VA + 0x7000)   /* VA_CROSS + 0x1000 stays unmapped */
#define VA_MISALIGNED_SUPER (TEST_VA + LEAF_SPAN(1))
/* An alias of the RAM with U set, so U-mode code can run. */
#define USER_ALIAS 0xc0000000UL
#define RAM_BASE 0x80000000UL
#define TO_USER_ALIAS(p) ((ulong)(p) - RAM_BASE + USER_ALIAS)

static void *alloc_page(void)
{
    u8 *page = page_pool + pages_used++ * PAGE_SIZE;
    for (ulong i = 0; i < PAGE_SIZE; i++)
        page[i] = 0;
    return page;
}

static ulong vpn(ulong va, int level) { return (va >> (12 + level * VPN_BITS)) & ((1UL << VPN_BITS) - 1); }

/* The slot for va's entry at `level`, creating the tables above it. */
static pte_t *pte_slot(ulong va, int level)
{
    pte_t *table = root;
    for (int l = paging.levels - 1; l > level; l--) {
        pte_t *entry = &table[vpn(va, l)];
        if (!(*entry & PTE_V))
            *entry = (pte_t)((((ulong)alloc_page()) >> 12) << PTE_PPN_SHIFT) | PTE_V;
        table = (pte_t *)(ulong)((*entry >> PTE_PPN_SHIFT) << 12);
    }
    return &table[vpn(va, level)];
}

static void map(ulong va, ulong pa, int level, ulong flags)
{
    *pte_slot(va, level) = (pte_t)(((pa >> 12) << PTE_PPN_SHIFT) | flags | PTE_V);
}

static ulong satp_value(void)
{
    return (paging.satp_mode << SATP_MODE_SHIFT) | ((ulong)root >> 12);
}

static void sfence_all(void) { asm volatile("sfence.vma" ::: "memory"); }

/* --- code that runs in S or U mode --- */
static ulong load_word(ulong va) { return *(volatile u32 *)va; }
static ulong store_word(ulong va) { *(volatile u32 *)va = 0x5a5a5a5a; return 0; }
static ulong call_at(ulong va) { return ((ulong (*)(ulong))va)(41); }
extern char return_stub[], user_exit_stub[];
asm(".text\n"
    "return_stub: ret\n"
    "user_exit_stub: li a0, -1\n li a7, 0x5e7e\n ecall\n");

static ulong user_load_then_exit(ulong va)
{
    register ulong a0 asm("a0") = *(volatile u32 *)va;
    register ulong a7 asm("a7") = ECALL_RETURN_TO_M;
    asm volatile("ecall" : "+r"(a0) : "r"(a7));
    return a0;   /* not reached: the ecall ends the U-mode run */
}

static void s_access(const char *label, ulong (*fn)(ulong), ulong va)
{
    expect_trap();
    trap_resume = fn == call_at ? (ulong)return_stub : 0;
    ulong value = run_in_mode(MODE_S, fn, va);
    if (trap_outcome(label) == -1 && fn != store_word)
        show("value", value);
    else if (last_trap.cause != (ulong)-1)
        check("tval_is_va", last_trap.tval, va);
    trap_resume = 0;
}

static void u_access(const char *label, ulong va)
{
    expect_trap();
    trap_resume = TO_USER_ALIAS(user_exit_stub);
    ulong value = run_in_mode(MODE_U, (ulong (*)(ulong))TO_USER_ALIAS(user_load_then_exit), va);
    if (trap_outcome(label) == -1)
        show("value", value);
    else
        check("tval_is_va", last_trap.tval, va);
    trap_resume = 0;
}

static u32 *data_page, *ad_page, *ro_page, *xo_page, *user_page, *cross_page, *other_page;

static void build_tables(void)
{
    root = alloc_page();
    int top = paging.levels - 1;
    int big = paging.levels == 2 ? 1 : 2;   /* 4 MiB (Sv32) or 1 GiB leaves */
    /* identity maps: devices (test device, CLINT, UART) and RAM */
    map(0x00000000, 0x00000000, big, PTE_R | PTE_W | PTE_A | PTE_D);
    if (LEAF_SPAN(big) <= 0x10000000)   /* a 1 GiB leaf at 0 covers the UART too */
        map(0x10000000, 0x10000000, big, PTE_R | PTE_W | PTE_A | PTE_D);
    map(RAM_BASE, RAM_BASE, big, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
    map(USER_ALIAS, RAM_BASE, big, PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
    (void)top;
    data_page = alloc_page(); ad_page = alloc_page(); ro_page = alloc_page();
    xo_page = alloc_page(); user_page = alloc_page(); cross_page = alloc_page();
    other_page = alloc_page();
    data_page[0] = 0x11111111; ad_page[0] = 0x22222222; ro_page[0] = 0x33333333;
    user_page[0] = 0x55555555; other_page[0] = 0x77777777;
    /* execute-only page: addi a0, a0, 1; ret */
    xo_page[0] = 0x00150513; xo_page[1] = 0x00008067;
    /* the crossing page ends with the first half of addi a0, a0, 1 */
    ((u16 *)cross_page)[PAGE_SIZE / 2 - 1] = 0x0513;
    map(VA_DATA, (ulong)data_page, 0, PTE_R | PTE_W | PTE_A | PTE_D);
    map(VA_AD, (ulong)ad_page, 0, PTE_R | PTE_W);
    map(VA_RO, (ulong)ro_page, 0, PTE_R | PTE_A);
    map(VA_XO, (ulong)xo_page, 0, PTE_X | PTE_A);
    map(VA_USER, (ulong)user_page, 0, PTE_R | PTE_W | PTE_U | PTE_A | PTE_D);
    map(VA_WO, (ulong)data_page, 0, PTE_W | PTE_A | PTE_D);
    map(VA_CROSS, (ulong)cross_page, 0, PTE_R | PTE_X | PTE_A);
    /* a level-1 leaf whose physical address is not aligned to its size */
    map(VA_MISALIGNED_SUPER, (ulong)data_page, 1, PTE_R | PTE_W | PTE_A | PTE_D);
}

static void test_satp(void)
{
    ulong good = satp_value();
    csr_write(satp, good);
    check("satp_accepted", csr_read(satp), good);
#if XLEN == 64
    /* Sv64 (11) and the reserved modes are refused: the write is ignored */
    csr_write(satp, (11UL << 60) | 5);
    check("satp_sv64_refused", csr_read(satp), good);
    csr_write(satp, (5UL << 60) | 5);
    check("satp_mode5_refused", csr_read(satp), good);
    csr_write(satp, (15UL << 60) | 5);
    check("satp_mode15_refused", csr_read(satp), good);
#endif
    csr_write(satp, 0);
    check("satp_bare", csr_read(satp), 0);
    csr_write(satp, good);
    sfence_all();
}

static void test_basic_and_faults(void)
{
    s_access("load_data", load_word, VA_DATA);
    s_access("store_data", store_word, VA_DATA);
    check("store_reached_page", data_page[0], 0x5a5a5a5a);
    s_access("load_ro", load_word, VA_RO);
    s_access("store_ro", store_word, VA_RO);
    s_access("load_unmapped", load_word, VA_UNMAPPED);
    s_access("store_unmapped", store_word, VA_UNMAPPED);
    s_access("fetch_unmapped", call_at, VA_UNMAPPED);
    s_access("fetch_ro", call_at, VA_RO);
    s_access("fetch_xo", call_at, VA_XO);
    s_access("load_xo", load_word, VA_XO);
    s_access("load_write_only_reserved", load_word, VA_WO);
    s_access("load_misaligned_superpage", load_word, VA_MISALIGNED_SUPER + 8);
    /* a non-canonical address (bits above the VA width not a sign copy) */
#if XLEN == 64
    s_access("load_noncanonical", load_word, 1UL << 62);
#endif
}

static void test_accessed_dirty(void)
{
    pte_t *pte = pte_slot(VA_AD, 0);
    show("ad_before", *pte & 0xff);
    s_access("load_ad", load_word, VA_AD);
    show("ad_after_load", *pte & 0xff);
    s_access("store_ad", store_word, VA_AD);
    show("ad_after_store", *pte & 0xff);
}

static void test_permissions(void)
{
    csr_clear(mstatus, MSTATUS_SUM | MSTATUS_MXR);
    s_access("s_load_user_no_sum", load_word, VA_USER);
    csr_set(mstatus, MSTATUS_SUM);
    s_access("s_load_user_sum", load_word, VA_USER);
    s_access("s_fetch_user_sum", call_at, TO_USER_ALIAS(return_stub));
    csr_clear(mstatus, MSTATUS_SUM);
    csr_set(mstatus, MSTATUS_MXR);
    s_access("load_xo_mxr", load_word, VA_XO);
    csr_clear(mstatus, MSTATUS_MXR);
    u_access("u_load_user", VA_USER);
    u_access("u_load_supervisor", VA_DATA);
}

static void test_mprv(void)
{
    ulong v;
    /* MPRV with MPP = S: M-mode loads translate */
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, 1UL << 11);
    asm volatile("csrs mstatus, %1\n lw %0, 0(%2)\n csrc mstatus, %1"
                 : "=&r"(v) : "r"(MSTATUS_MPRV), "r"(VA_DATA) : "memory");
    check("mprv_s_load", v, data_page[0]);
    expect_trap();
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, 1UL << 11);
    asm volatile("csrs mstatus, %1\n lw %0, 0(%2)\n csrc mstatus, %1"
                 : "=&r"(v) : "r"(MSTATUS_MPRV), "r"(VA_UNMAPPED) : "memory");
    check("mprv_fault", trap_outcome("mprv_load_unmapped"), CAUSE_LOAD_PAGE_FAULT);
    check("mprv_fault_tval", last_trap.tval, VA_UNMAPPED);
    csr_clear(mstatus, MSTATUS_MPRV);
    /* MPRV with MPP = U: the S page is out of reach */
    expect_trap();
    csr_clear(mstatus, MSTATUS_MPP);
    asm volatile("csrs mstatus, %1\n lw %0, 0(%2)\n csrc mstatus, %1"
                 : "=&r"(v) : "r"(MSTATUS_MPRV), "r"(VA_DATA) : "memory");
    trap_outcome("mprv_u_load_supervisor");
    csr_clear(mstatus, MSTATUS_MPRV);
    /* instruction fetches ignore MPRV: we are still running */
    csr_set(mstatus, MSTATUS_MPP);
    print("mprv done\n");
}

static void test_sfence(void)
{
    s_access("before_remap", load_word, VA_DATA);
    map(VA_DATA, (ulong)other_page, 0, PTE_R | PTE_W | PTE_A | PTE_D);
    asm volatile("sfence.vma %0, zero" :: "r"(VA_DATA) : "memory");
    s_access("after_remap_and_sfence", load_word, VA_DATA);
    /* unmap and flush everything: the page is gone */
    *pte_slot(VA_DATA, 0) = 0;
    sfence_all();
    s_access("after_unmap", load_word, VA_DATA);
    map(VA_DATA, (ulong)data_page, 0, PTE_R | PTE_W | PTE_A | PTE_D);
    sfence_all();
}

static void test_delegated_fault(void)
{
    install_s_trap();
    csr_write(medeleg, 1UL << CAUSE_LOAD_PAGE_FAULT);
    s_access("delegated_load_fault", load_word, VA_UNMAPPED);
    check("handled_in_s", last_trap_mode, 'S');
    csr_write(medeleg, 0);
}

static void test_crossing(void)
{
    expect_trap();
    trap_resume = (ulong)return_stub;
    run_in_mode(MODE_S, call_at, VA_CROSS + PAGE_SIZE - 2);
    check("crossing_fault", trap_outcome("crossing_fetch"), CAUSE_FETCH_PAGE_FAULT);
    check("crossing_epc", last_trap.epc, VA_CROSS + PAGE_SIZE - 2);
    /* the fault names the page the second half is on */
    check("crossing_tval", last_trap.tval, VA_CROSS + PAGE_SIZE);
    trap_resume = 0;
}

int main(void)
{
    print("rv_mmu ");
    print(paging.name);
    putchar_uart('\n');
    build_tables();
    test_satp();
    test_basic_and_faults();
    test_accessed_dirty();
    test_permissions();
    test_mprv();
    test_sfence();
    test_delegated_fault();
    test_crossing();
    csr_write(satp, 0);
    return failures();
}
