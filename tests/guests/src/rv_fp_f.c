/* F extension: see fp_common.h; plus NaN-boxing of singles in the 64-bit
   FP registers, the canonical NaN, and fmv.x.w sign extension. */
typedef unsigned int FT;
#define SUF "s"
#define FLOAD "flw"
#define FSTORE "fsw"
static const FT fp_operands[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40400000,
    0x3dcccccd, 0x7f7fffff, 0x00800000, 0x00000001, 0x807fffff, 0x7f800000,
    0xff800000, 0x7fc00000, 0x7f800001, 0x4f000000, 0xcf000001, 0x3eaaaaab,
    0x5f000000, 0xbf000000,
};
#include "fp_common.h"

static void nan_boxing(void)
{
    /* a double in the register is not a boxed single: fadd.s must treat it
       as the canonical NaN */
    static const u64 not_boxed = 0x3ff0000000000000ULL, boxed_one = 0xffffffff3f800000ULL;
    u32 r;
    asm volatile("fld ft0, %1\n fadd.s ft1, ft0, ft0\n fsw ft1, %0" : "=m"(r) : "m"(not_boxed) : "ft0", "ft1");
    check("unboxed_is_canonical_nan", r, 0x7fc00000);
    take_fflags();
    asm volatile("fld ft0, %1\n fadd.s ft1, ft0, ft0\n fsw ft1, %0" : "=m"(r) : "m"(boxed_one) : "ft0", "ft1");
    check("boxed_one_plus_one", r, 0x40000000);
    /* flw and single results box with all ones in the upper half */
    u64 wide;
    static const u32 three = 0x40400000;
    asm volatile("flw ft0, %1\n fsd ft0, %0" : "=m"(wide) : "m"(three) : "ft0");
    check64("flw_boxes", wide, 0xffffffff40400000ULL);
    asm volatile("flw ft0, %1\n fadd.s ft1, ft0, ft0\n fsd ft1, %0" : "=m"(wide) : "m"(three) : "ft0", "ft1");
    check64("result_boxed", wide, 0xffffffff40c00000ULL);
    /* fsgnj.s on an unboxed input works on the canonical NaN too */
    asm volatile("fld ft0, %1\n fsgnjn.s ft1, ft0, ft0\n fsd ft1, %0" : "=m"(wide) : "m"(not_boxed) : "ft0", "ft1");
    check64("fsgnjn_unboxed", wide, 0xffffffffffc00000ULL);
    /* fmv.x.w copies the low 32 bits and sign-extends on rv64 */
    ulong x;
    static const u32 neg = 0xbf800000;
    asm volatile("flw ft0, %1\n fmv.x.w %0, ft0" : "=r"(x) : "m"(neg) : "ft0");
    check("fmv_x_w", x, (ulong)(long)(int)0xbf800000);
    asm volatile("fmv.w.x ft0, %1\n fsd ft0, %0" : "=m"(wide) : "r"((ulong)0x12345678) : "ft0");
    check64("fmv_w_x_boxes", wide, 0xffffffff12345678ULL);
    /* an sNaN input gives the canonical NaN and NV */
    static const u32 snan = 0x7f800001;
    take_fflags();
    asm volatile("flw ft0, %1\n fmul.s ft1, ft0, ft0\n fsw ft1, %0" : "=m"(r) : "m"(snan) : "ft0", "ft1");
    check("snan_result", r, 0x7fc00000);
    check("snan_flags", take_fflags(), 0x10);
    /* fmin of an sNaN and a number is the number, with NV */
    static const u32 two = 0x40000000;
    asm volatile("flw ft0, %1\n flw ft1, %2\n fmin.s ft2, ft0, ft1\n fsw ft2, %0"
                 : "=m"(r) : "m"(snan), "m"(two) : "ft0", "ft1", "ft2");
    check("fmin_snan", r, 0x40000000);
    check("fmin_snan_flags", take_fflags(), 0x10);
    /* fmin(-0, +0) = -0 */
    static const u32 pz = 0, nz = 0x80000000;
    asm volatile("flw ft0, %1\n flw ft1, %2\n fmin.s ft2, ft0, ft1\n fsw ft2, %0"
                 : "=m"(r) : "m"(pz), "m"(nz) : "ft0", "ft1", "ft2");
    check("fmin_signed_zero", r, 0x80000000);
    /* fcvt.w.s saturates: NaN -> max, -inf -> min, with NV */
    ulong i;
    static const u32 qnan = 0x7fc00000, ninf = 0xff800000;
    asm volatile("flw ft0, %1\n fcvt.w.s %0, ft0, rtz" : "=r"(i) : "m"(qnan) : "ft0");
    check("fcvt_w_nan", i, 0x7fffffff);
    asm volatile("flw ft0, %1\n fcvt.w.s %0, ft0, rtz" : "=r"(i) : "m"(ninf) : "ft0");
    check("fcvt_w_-inf", i, (ulong)(long)(int)0x80000000);
    asm volatile("flw ft0, %1\n fcvt.wu.s %0, ft0, rtz" : "=r"(i) : "m"(ninf) : "ft0");
    check("fcvt_wu_-inf", i, 0);
    check("fcvt_flags", take_fflags(), 0x10);
}

int main(void)
{
    print("rv_fp_f\n");
    fp_common_tests();
    nan_boxing();
    fp_rounding_mode_traps();
    return failures();
}
