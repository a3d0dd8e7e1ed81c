/* D extension: see fp_common.h; plus conversions between single and
   double, and the double canonical NaN. */
typedef unsigned long long FT;
#define SUF "d"
#define FLOAD "fld"
#define FSTORE "fsd"
#define FROM_WORD_IS_EXACT
static const FT fp_operands[] = {
    0x0000000000000000ULL, 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0xbff0000000000000ULL,
    0x3ff8000000000000ULL, 0x4008000000000000ULL, 0x3fb999999999999aULL, 0x7fefffffffffffffULL,
    0x0010000000000000ULL, 0x0000000000000001ULL, 0x800fffffffffffffULL, 0x7ff0000000000000ULL,
    0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0x7ff0000000000001ULL, 0x41e0000000000000ULL,
    0xc1e0000000200000ULL, 0x3fd5555555555555ULL, 0x43e0000000000000ULL, 0xbfe0000000000000ULL,
    0x41dfffffffffffffULL, 0x47efffffe0000000ULL,
};
#include "fp_common.h"

static u32 to_single(FT d, int rm_variant)
{
    u32 r;
    switch (rm_variant) {
    case 0: asm volatile("fld ft0, %1\n fcvt.s.d ft1, ft0, rne\n fsw ft1, %0" : "=m"(r) : "m"(d) : "ft0", "ft1"); break;
    case 1: asm volatile("fld ft0, %1\n fcvt.s.d ft1, ft0, rtz\n fsw ft1, %0" : "=m"(r) : "m"(d) : "ft0", "ft1"); break;
    case 2: asm volatile("fld ft0, %1\n fcvt.s.d ft1, ft0, rdn\n fsw ft1, %0" : "=m"(r) : "m"(d) : "ft0", "ft1"); break;
    case 3: asm volatile("fld ft0, %1\n fcvt.s.d ft1, ft0, rup\n fsw ft1, %0" : "=m"(r) : "m"(d) : "ft0", "ft1"); break;
    default: asm volatile("fld ft0, %1\n fcvt.s.d ft1, ft0, rmm\n fsw ft1, %0" : "=m"(r) : "m"(d) : "ft0", "ft1"); break;
    }
    return r;
}

static void conversions(void)
{
    for (int rm = 0; rm < 5; rm++) {
        fp_digest = 0;
        for (unsigned a = 0; a < N_FP; a++) {
            fold(to_single(fp_operands[a], rm));
            fold(take_fflags());
        }
        report("fcvt.s.d", rm_names[rm]);
    }
    static const u32 singles[] = { 0x3f800000, 0x7f800001, 0xff800000, 0x00000001, 0x7f7fffff, 0x80000000 };
    fp_digest = 0;
    for (unsigned a = 0; a < sizeof(singles) / sizeof(singles[0]); a++) {
        FT r;
        asm volatile("flw ft0, %1\n fcvt.d.s ft1, ft0\n fsd ft1, %0" : "=m"(r) : "m"(singles[a]) : "ft0", "ft1");
        fold(r);
        fold(take_fflags());
    }
    report("fcvt.d.s", 0);
    FT r;
    static const u32 snan = 0x7f800001;
    asm volatile("flw ft0, %1\n fcvt.d.s ft1, ft0\n fsd ft1, %0" : "=m"(r) : "m"(snan) : "ft0", "ft1");
    check64("fcvt_d_s_snan_canonical", r, 0x7ff8000000000000ULL);
    check("fcvt_d_s_snan_nv", take_fflags(), 0x10);
    static const FT big = 0x47effffff0000001ULL;   /* just over FLT_MAX + half an ulp */
    check("fcvt_s_d_overflow_rne", to_single(big, 0), 0x7f800000);
    check("fcvt_s_d_overflow_flags", take_fflags(), 0x05);
    check("fcvt_s_d_overflow_rtz", to_single(big, 1), 0x7f7fffff);
    take_fflags();
    /* fclass of the double classes */
    static const FT one = 0x3ff0000000000000ULL;
    ulong cls;
    asm volatile("fld ft0, %1\n fclass.d %0, ft0" : "=r"(cls) : "m"(one) : "ft0");
    check("fclass_positive_normal", cls, 1 << 6);
}

int main(void)
{
    print("rv_fp_d\n");
    fp_common_tests();
    conversions();
    fp_rounding_mode_traps();
    return failures();
}
