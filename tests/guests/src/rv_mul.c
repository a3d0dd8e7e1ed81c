/* M extension: multiplication (low and the three high halves), division and
   remainder including division by zero and the signed overflow case. */
#include "ops.h"

RR(op_mul, "mul") RR(op_mulh, "mulh") RR(op_mulhsu, "mulhsu") RR(op_mulhu, "mulhu")
RR(op_div, "div") RR(op_divu, "divu") RR(op_rem, "rem") RR(op_remu, "remu")
#if XLEN == 64
RR(op_mulw, "mulw") RR(op_divw, "divw") RR(op_divuw, "divuw") RR(op_remw, "remw") RR(op_remuw, "remuw")
#endif

int main(void)
{
    print("rv_mul\n");
    digest_binop("mul", op_mul); digest_binop("mulh", op_mulh);
    digest_binop("mulhsu", op_mulhsu); digest_binop("mulhu", op_mulhu);
    digest_binop("div", op_div); digest_binop("divu", op_divu);
    digest_binop("rem", op_rem); digest_binop("remu", op_remu);
#if XLEN == 64
    digest_binop("mulw", op_mulw); digest_binop("divw", op_divw); digest_binop("divuw", op_divuw);
    digest_binop("remw", op_remw); digest_binop("remuw", op_remuw);
#endif
    ulong min = X(0x8000000000000000, 0x80000000);
    /* the spec's table of division corner cases ("Division Operations") */
    check("div_by_zero", op_div(7, 0), (ulong)-1);
    check("divu_by_zero", op_divu(7, 0), (ulong)-1);
    check("rem_by_zero", op_rem(7, 0), 7);
    check("remu_by_zero", op_remu(7, 0), 7);
    check("div_overflow", op_div(min, (ulong)-1), min);
    check("rem_overflow", op_rem(min, (ulong)-1), 0);
    check("div_rounds_to_zero", op_div((ulong)-7, 2), (ulong)-3);
    check("rem_sign_of_dividend", op_rem((ulong)-7, 2), (ulong)-1);
    check("mulh_-1_-1", op_mulh((ulong)-1, (ulong)-1), 0);
    check("mulhu_-1_-1", op_mulhu((ulong)-1, (ulong)-1), (ulong)-2);
    check("mulhsu_-1_-1", op_mulhsu((ulong)-1, (ulong)-1), (ulong)-1);
#if XLEN == 64
    check("divw_overflow", op_divw(0x80000000, (ulong)-1), 0xffffffff80000000UL);
    check("remw_overflow", op_remw(0x80000000, (ulong)-1), 0);
    check("divuw_by_zero", op_divuw(0x123456789UL, 0), (ulong)-1);
    check("remuw_by_zero", op_remuw(0x1f0000000UL, 0), 0xfffffffff0000000UL);
#endif
    return failures();
}
