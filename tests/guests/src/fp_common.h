/* The floating-point guest body, shared by single (rv_fp_f.c) and double
   (rv_fp_d.c) precision: the including file defines FT (the bit type), SUF
   ("s" or "d"), FLOAD/FSTORE and the operand table, then includes this.
   Every operation runs in each static rounding mode and in the dynamic one
   (frm = RUP and RDN); results and the fflags each one raised are folded
   into a digest per operation and rounding mode. */
#include "ops.h"

#define N_FP (sizeof(fp_operands) / sizeof(fp_operands[0]))

static inline ulong take_fflags(void)
{
    ulong f;
    asm volatile("csrrw %0, fflags, zero" : "=r"(f));
    return f;
}

static u64 fp_digest;
static void fold(u64 v)
{
    fp_digest = (fp_digest ^ v) * 0x100000001b3ULL;
}

#define INSN(op) #op "." SUF
#define LD2 FLOAD " ft0, %1\n" FLOAD " ft1, %2\n"

#define DEF_BIN_RM(op, rm) \
    static FT op##_##rm(FT a, FT b) { FT r; \
        asm volatile(LD2 INSN(op) " ft2, ft0, ft1, " #rm "\n" FSTORE " ft2, %0" \
                     : "=m"(r) : "m"(a), "m"(b) : "ft0", "ft1", "ft2"); return r; }
#define DEF_BIN(op) \
    static FT op##_(FT a, FT b) { FT r; \
        asm volatile(LD2 INSN(op) " ft2, ft0, ft1\n" FSTORE " ft2, %0" \
                     : "=m"(r) : "m"(a), "m"(b) : "ft0", "ft1", "ft2"); return r; }
#define DEF_SQRT_RM(op, rm) \
    static FT op##_##rm(FT a, FT b) { FT r; (void)b; \
        asm volatile(FLOAD " ft0, %1\n" INSN(op) " ft2, ft0, " #rm "\n" FSTORE " ft2, %0" \
                     : "=m"(r) : "m"(a) : "ft0", "ft2"); return r; }
#define DEF_FMA_RM(op, rm) \
    static FT op##_##rm(FT a, FT b, FT c) { FT r; \
        asm volatile(LD2 FLOAD " ft2, %3\n" INSN(op) " ft3, ft0, ft1, ft2, " #rm "\n" FSTORE " ft3, %0" \
                     : "=m"(r) : "m"(a), "m"(b), "m"(c) : "ft0", "ft1", "ft2", "ft3"); return r; }
#define DEF_CMP(op) \
    static FT op##_(FT a, FT b) { ulong r; \
        asm volatile(LD2 INSN(op) " %0, ft0, ft1" : "=r"(r) : "m"(a), "m"(b) : "ft0", "ft1"); return r; }
#define DEF_TO_INT_RM(name, insn, rm) \
    static FT name##_##rm(FT a, FT b) { ulong r; (void)b; \
        asm volatile(FLOAD " ft0, %1\n" insn " %0, ft0, " #rm : "=r"(r) : "m"(a) : "ft0"); return r; }
#define DEF_FROM_INT_RM(name, insn, rm) \
    static FT name##_##rm(ulong a) { FT r; \
        asm volatile(insn " ft0, %1, " #rm "\n" FSTORE " ft0, %0" : "=m"(r) : "r"(a) : "ft0"); return r; }

/* fcvt.d.w/wu are exact, and the assembler takes no rounding mode for them */
#define DEF_FROM_INT_EXACT(name, insn, rm) \
    static FT name##_##rm(ulong a) { FT r; \
        asm volatile(insn " ft0, %1\n" FSTORE " ft0, %0" : "=m"(r) : "r"(a) : "ft0"); return r; }
#ifdef FROM_WORD_IS_EXACT
#define DEF_FROM_WORD DEF_FROM_INT_EXACT
#else
#define DEF_FROM_WORD DEF_FROM_INT_RM
#endif

#define FOR_RM(M, ...) M(__VA_ARGS__, rne) M(__VA_ARGS__, rtz) M(__VA_ARGS__, rdn) \
    M(__VA_ARGS__, rup) M(__VA_ARGS__, rmm) M(__VA_ARGS__, dyn)
#define RM_TABLE(name) { name##_rne, name##_rtz, name##_rdn, name##_rup, name##_rmm, name##_dyn }

FOR_RM(DEF_BIN_RM, fadd) FOR_RM(DEF_BIN_RM, fsub) FOR_RM(DEF_BIN_RM, fmul) FOR_RM(DEF_BIN_RM, fdiv)
FOR_RM(DEF_SQRT_RM, fsqrt)
FOR_RM(DEF_FMA_RM, fmadd) FOR_RM(DEF_FMA_RM, fmsub) FOR_RM(DEF_FMA_RM, fnmadd) FOR_RM(DEF_FMA_RM, fnmsub)
DEF_BIN(fmin) DEF_BIN(fmax) DEF_BIN(fsgnj) DEF_BIN(fsgnjn) DEF_BIN(fsgnjx)
DEF_CMP(feq) DEF_CMP(flt) DEF_CMP(fle)
FOR_RM(DEF_TO_INT_RM, cvt_w, "fcvt.w." SUF) FOR_RM(DEF_TO_INT_RM, cvt_wu, "fcvt.wu." SUF)
FOR_RM(DEF_FROM_WORD, cvtf_w, "fcvt." SUF ".w") FOR_RM(DEF_FROM_WORD, cvtf_wu, "fcvt." SUF ".wu")
#if XLEN == 64
FOR_RM(DEF_TO_INT_RM, cvt_l, "fcvt.l." SUF) FOR_RM(DEF_TO_INT_RM, cvt_lu, "fcvt.lu." SUF)
FOR_RM(DEF_FROM_INT_RM, cvtf_l, "fcvt." SUF ".l") FOR_RM(DEF_FROM_INT_RM, cvtf_lu, "fcvt." SUF ".lu")
#endif

static ulong fclass_(FT a)
{
    ulong r;
    asm volatile(FLOAD " ft0, %1\n fclass." SUF " %0, ft0" : "=r"(r) : "m"(a) : "ft0");
    return r;
}

typedef FT (*fbin)(FT, FT);
typedef FT (*ffma)(FT, FT, FT);
typedef FT (*ffromint)(ulong);
static const char *const rm_names[] = {
    "rne", "rtz", "rdn", "rup", "rmm", "dyn_rne", "dyn_rtz", "dyn_rdn", "dyn_rup", "dyn_rmm",
};
#define N_RM_RUNS 10

/* Variant i: 0-4 the static modes, 5-9 the dyn function with frm = i - 5. */
static int select_rm(int i)
{
    csr_write(frm, i < 5 ? 0 : i - 5);
    return i < 5 ? i : 5;
}

/* Two-operand loops visit about a sixth of the pairs (each operand with
   itself and with every eighth other one) to keep the guest well under a
   million instructions. */
#define PAIR_SELECTED(a, b) ((((a) + (b)) & 7) == 0 || (((a) * 3 + (b)) & 7) == 1 || (a) == (b))
static u8 pair_a[N_FP * N_FP], pair_b[N_FP * N_FP], pair_c[N_FP * N_FP];
static unsigned n_pairs;

static void select_pairs(void)
{
    for (unsigned a = 0; a < N_FP; a++)
        for (unsigned b = 0; b < N_FP; b++)
            if (PAIR_SELECTED(a, b)) {
                pair_a[n_pairs] = a;
                pair_b[n_pairs] = b;
                pair_c[n_pairs++] = (a * 7 + b * 3) % N_FP;
            }
}

static void report(const char *op, const char *rm)
{
    print(op);
    if (rm) {
        putchar_uart('.');
        print(rm);
    }
    putchar_uart('=');
    print_hex64(fp_digest);
    putchar_uart('\n');
}

static void run_bin(const char *name, const fbin fns[6])
{
    for (int i = 0; i < N_RM_RUNS; i++) {
        fbin fn = fns[select_rm(i)];
        fp_digest = 0;
        for (unsigned p = 0; p < n_pairs; p++) {
            fold(fn(fp_operands[pair_a[p]], fp_operands[pair_b[p]]));
            fold(take_fflags());
        }
        report(name, rm_names[i]);
    }
}

static void run_plain_bin(const char *name, fbin fn)
{
    fp_digest = 0;
    for (unsigned p = 0; p < n_pairs; p++) {
        fold(fn(fp_operands[pair_a[p]], fp_operands[pair_b[p]]));
        fold(take_fflags());
    }
    report(name, 0);
}

static void run_unary(const char *name, const fbin fns[6])
{
    for (int i = 0; i < N_RM_RUNS; i++) {
        fbin fn = fns[select_rm(i)];
        fp_digest = 0;
        for (unsigned a = 0; a < N_FP; a++) {
            fold(fn(fp_operands[a], 0));
            fold(take_fflags());
        }
        report(name, rm_names[i]);
    }
}

static void run_fma(const char *name, const ffma fns[6])
{
    for (int i = 0; i < N_RM_RUNS; i++) {
        ffma fn = fns[select_rm(i)];
        fp_digest = 0;
        for (unsigned p = 0; p < n_pairs; p++) {
            fold(fn(fp_operands[pair_a[p]], fp_operands[pair_b[p]], fp_operands[pair_c[p]]));
            fold(take_fflags());
        }
        report(name, rm_names[i]);
    }
}

static void run_from_int(const char *name, const ffromint fns[6])
{
    for (int i = 0; i < N_RM_RUNS; i++) {
        ffromint fn = fns[select_rm(i)];
        fp_digest = 0;
        for (unsigned a = 0; a < N_OPERANDS; a++) {
            fold(fn(operands[a]));
            fold(take_fflags());
        }
        report(name, rm_names[i]);
    }
}

static void fp_common_tests(void)
{
    static const fbin add[6] = RM_TABLE(fadd), sub[6] = RM_TABLE(fsub),
        mul[6] = RM_TABLE(fmul), div[6] = RM_TABLE(fdiv), sqrt[6] = RM_TABLE(fsqrt),
        cw[6] = RM_TABLE(cvt_w), cwu[6] = RM_TABLE(cvt_wu);
    static const ffma madd[6] = RM_TABLE(fmadd), msub[6] = RM_TABLE(fmsub),
        nmadd[6] = RM_TABLE(fnmadd), nmsub[6] = RM_TABLE(fnmsub);
    static const ffromint fw[6] = RM_TABLE(cvtf_w), fwu[6] = RM_TABLE(cvtf_wu);
    take_fflags();
    select_pairs();
    run_bin("fadd", add); run_bin("fsub", sub); run_bin("fmul", mul); run_bin("fdiv", div);
    run_unary("fsqrt", sqrt);
    run_fma("fmadd", madd); run_fma("fmsub", msub); run_fma("fnmadd", nmadd); run_fma("fnmsub", nmsub);
    run_plain_bin("fmin", fmin_); run_plain_bin("fmax", fmax_);
    run_plain_bin("fsgnj", fsgnj_); run_plain_bin("fsgnjn", fsgnjn_); run_plain_bin("fsgnjx", fsgnjx_);
    run_plain_bin("feq", feq_); run_plain_bin("flt", flt_); run_plain_bin("fle", fle_);
    run_unary("fcvt.w", cw); run_unary("fcvt.wu", cwu);
    run_from_int("fcvt.from.w", fw); run_from_int("fcvt.from.wu", fwu);
#if XLEN == 64
    static const fbin cl[6] = RM_TABLE(cvt_l), clu[6] = RM_TABLE(cvt_lu);
    static const ffromint fl[6] = RM_TABLE(cvtf_l), flu[6] = RM_TABLE(cvtf_lu);
    run_unary("fcvt.l", cl); run_unary("fcvt.lu", clu);
    run_from_int("fcvt.from.l", fl); run_from_int("fcvt.from.lu", flu);
#endif
    csr_write(frm, 0);
    print("fclass:");
    for (unsigned a = 0; a < N_FP; a++) {
        putchar_uart(' ');
        print_hex(fclass_(fp_operands[a]));
    }
    putchar_uart('\n');
}

/* Spot checks against values from the spec, independent of any emulator. */
static void fp_rounding_mode_traps(void)
{
    ulong dummy;
    /* rm = 5 and 6 are reserved: illegal instruction */
    expect_trap();
    asm volatile(".insn r 0x53, 5, 0, %0, x0, x0" : "=r"(dummy));   /* fadd.s with rm 5 */
    check("static_rm5_illegal", trap_outcome("static_rm5"), CAUSE_ILLEGAL_INSTRUCTION);
    /* dynamic rounding with frm holding 5..7 is illegal too */
    csr_write(frm, 5);
    check("frm_holds_5", csr_read(frm), 5);
    expect_trap();
    asm volatile("fadd.s ft0, ft0, ft0, dyn");
    check("dyn_with_frm5_illegal", trap_outcome("dyn_frm5"), CAUSE_ILLEGAL_INSTRUCTION);
    csr_write(frm, 0);
    /* fcsr layout: frm in bits 7:5, fflags in 4:0 */
    csr_write(fcsr, 0xff);
    check("fcsr_frm", csr_read(frm), 7);
    check("fcsr_fflags", csr_read(fflags), 0x1f);
    csr_write(fcsr, 0x1ff);
    check("fcsr_is_8_bits", csr_read(fcsr), 0xff);
    csr_write(fcsr, 0);
    /* writing an FP register or fflags dirties mstatus.FS */
    csr_clear(mstatus, MSTATUS_FS);
    csr_set(mstatus, 1UL << 13);
    asm volatile("fmv.w.x ft0, zero");
    check("fs_dirty_after_write", (csr_read(mstatus) & MSTATUS_FS) >> 13, 3);
    check("sd_bit", csr_read(mstatus) >> (XLEN - 1), 1);
}
