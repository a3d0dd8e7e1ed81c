/* A extension: LR/SC (success, failure without a reservation, a store
   between them) and every AMO in word and (rv64) doubleword width, returning
   the old value and leaving the combined one in memory. */
#include "ops.h"

static volatile ulong cell;
static volatile u32 word_cell;

#define AMO(fname, insn, type, target) \
    static ulong fname(ulong a, ulong b) { \
        ulong old; target = (type)a; \
        asm volatile(insn " %0, %2, (%1)" : "=r"(old) : "r"(&target), "r"(b) : "memory"); \
        return old ^ ((ulong)target * 3); }

AMO(amoswap_w, "amoswap.w", u32, word_cell) AMO(amoadd_w, "amoadd.w", u32, word_cell)
AMO(amoxor_w, "amoxor.w", u32, word_cell) AMO(amoand_w, "amoand.w", u32, word_cell)
AMO(amoor_w, "amoor.w", u32, word_cell) AMO(amomin_w, "amomin.w", u32, word_cell)
AMO(amomax_w, "amomax.w", u32, word_cell) AMO(amominu_w, "amominu.w", u32, word_cell)
AMO(amomaxu_w, "amomaxu.w", u32, word_cell) AMO(amoadd_w_aqrl, "amoadd.w.aqrl", u32, word_cell)
#if XLEN == 64
AMO(amoswap_d, "amoswap.d", ulong, cell) AMO(amoadd_d, "amoadd.d", ulong, cell)
AMO(amoxor_d, "amoxor.d", ulong, cell) AMO(amoand_d, "amoand.d", ulong, cell)
AMO(amoor_d, "amoor.d", ulong, cell) AMO(amomin_d, "amomin.d", ulong, cell)
AMO(amomax_d, "amomax.d", ulong, cell) AMO(amominu_d, "amominu.d", ulong, cell)
AMO(amomaxu_d, "amomaxu.d", ulong, cell)
#endif

static void test_lr_sc(void)
{
    ulong loaded, fail;
    word_cell = 0x11223344;
    asm volatile("lr.w %0, (%2)\n sc.w %1, %3, (%2)"
                 : "=&r"(loaded), "=&r"(fail) : "r"(&word_cell), "r"(0x80000001UL) : "memory");
    check("lr_w_value", loaded, 0x11223344);
    check("sc_w_success", fail, 0);
    check("sc_w_stored", word_cell, 0x80000001);
    asm volatile("lr.w %0, (%1)" : "=r"(loaded) : "r"(&word_cell) : "memory");
    check("lr_w_sign_extends", loaded, (ulong)(long)(int)0x80000001);
    /* a second SC after a successful one has no reservation left */
    asm volatile("lr.w %0, (%2)\n sc.w %1, %3, (%2)\n sc.w %1, %4, (%2)"
                 : "=&r"(loaded), "=&r"(fail) : "r"(&word_cell), "r"(5UL), "r"(6UL) : "memory");
    check("sc_w_without_reservation_fails", fail != 0, 1);
    check("sc_w_failed_store_not_done", word_cell, 5);
    /* an SC to a different address than the LR must not store there */
    static volatile u32 other = 9;
    asm volatile("lr.w %0, (%2)\n sc.w %1, %3, (%4)"
                 : "=&r"(loaded), "=&r"(fail) : "r"(&word_cell), "r"(7UL), "r"(&other) : "memory");
    if (fail == 0)
        check("sc_w_other_address_stored", other, 7);
    else
        check("sc_w_other_address_kept", other, 9);
    /* sc.w with a pending reservation broken by... nothing: the LR/SC loop
       idiom must succeed within a few tries */
    int tries = 0;
    do {
        asm volatile("lr.w.aq %0, (%2)\n addi %0, %0, 1\n sc.w.rl %1, %0, (%2)"
                     : "=&r"(loaded), "=&r"(fail) : "r"(&word_cell) : "memory");
        tries++;
    } while (fail && tries < 10);
    check("lr_sc_loop_succeeds", fail, 0);
#if XLEN == 64
    cell = 0x0123456789abcdefUL;
    asm volatile("lr.d %0, (%2)\n sc.d %1, %3, (%2)"
                 : "=&r"(loaded), "=&r"(fail) : "r"(&cell), "r"(0xfedcba9876543210UL) : "memory");
    check("lr_d_value", loaded, 0x0123456789abcdefUL);
    check("sc_d_success", fail, 0);
    check("sc_d_stored", cell, 0xfedcba9876543210UL);
    asm volatile("sc.d %0, %1, (%2)" : "=r"(fail) : "r"(1UL), "r"(&cell) : "memory");
    check("sc_d_without_reservation_fails", fail != 0, 1);
#endif
}

int main(void)
{
    print("rv_atomic\n");
    test_lr_sc();
    digest_binop("amoswap.w", amoswap_w); digest_binop("amoadd.w", amoadd_w);
    digest_binop("amoxor.w", amoxor_w); digest_binop("amoand.w", amoand_w);
    digest_binop("amoor.w", amoor_w); digest_binop("amomin.w", amomin_w);
    digest_binop("amomax.w", amomax_w); digest_binop("amominu.w", amominu_w);
    digest_binop("amomaxu.w", amomaxu_w); digest_binop("amoadd.w.aqrl", amoadd_w_aqrl);
#if XLEN == 64
    digest_binop("amoswap.d", amoswap_d); digest_binop("amoadd.d", amoadd_d);
    digest_binop("amoxor.d", amoxor_d); digest_binop("amoand.d", amoand_d);
    digest_binop("amoor.d", amoor_d); digest_binop("amomin.d", amomin_d);
    digest_binop("amomax.d", amomax_d); digest_binop("amominu.d", amominu_d);
    digest_binop("amomaxu.d", amomaxu_d);
#endif
    word_cell = 0xffffffff;
    ulong old;
    asm volatile("amoadd.w %0, %2, (%1)" : "=r"(old) : "r"(&word_cell), "r"(1UL) : "memory");
    check("amoadd.w_old_sign_extended", old, (ulong)-1);
    check("amoadd.w_wraps", word_cell, 0);
    word_cell = 0x80000000;
    asm volatile("amomin.w %0, %2, (%1)" : "=r"(old) : "r"(&word_cell), "r"(1UL) : "memory");
    check("amomin.w_signed_kept", word_cell, 0x80000000);
    asm volatile("amominu.w %0, %2, (%1)" : "=r"(old) : "r"(&word_cell), "r"(1UL) : "memory");
    check("amominu.w_unsigned", word_cell, 1);
    return failures();
}
