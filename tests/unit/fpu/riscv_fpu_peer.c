/* Test peer for pyqemu.fpu: runs one real RISC-V F/D/Zfh instruction per
 * request under qemu-riscv64 and reports the result bits and fflags.
 *
 * stdin: records of struct request, stdout: records of struct reply
 * (little-endian, fixed size) until end of input.  Rounding uses the dynamic
 * mode (frm is written before every instruction), so RMM is covered too.
 */
#include <stdint.h>
#include <stdio.h>

struct request { uint8_t op, fmt, rm, pad[5]; uint64_t a, b, c; };
struct reply { uint64_t result, flags; };

enum op {
    ADD, SUB, MUL, DIV, SQRT, MADD, MSUB, NMSUB, NMADD, MIN, MAX, EQ, LT, LE,
    CLASS, CVT_W, CVT_WU, CVT_L, CVT_LU, CVT_FROM_W, CVT_FROM_WU, CVT_FROM_L,
    CVT_FROM_LU, CVT_FROM_S, CVT_FROM_D, CVT_FROM_H,
};
enum fmt { FMT_S, FMT_D, FMT_H };

/* Whole sequence in one asm statement so no compiler FP code can touch fflags. */
#define RUN(MVIN, BODY, MVOUT)                                                  \
    asm volatile("fsrm %[rm]\n\tfsflags x0\n\t"                                 \
                 MVIN " ft0, %[a]\n\t" MVIN " ft1, %[b]\n\t" MVIN " ft2, %[c]\n\t" \
                 BODY "\n\tfrflags %[fl]\n\t" MVOUT                             \
                 : [r] "=&r"(r), [fl] "=&r"(fl)                                 \
                 : [rm] "r"(rm), [a] "r"(a), [b] "r"(b), [c] "r"(c)             \
                 : "ft0", "ft1", "ft2", "ft3")

#define TO_F(MVOUT) MVOUT " %[r], ft3"
#define TO_X ""

#define FORMAT_CASES(S, MVIN, MVOUT)                                            \
    case ADD: RUN(MVIN, "fadd." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case SUB: RUN(MVIN, "fsub." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case MUL: RUN(MVIN, "fmul." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case DIV: RUN(MVIN, "fdiv." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case SQRT: RUN(MVIN, "fsqrt." S " ft3, ft0", TO_F(MVOUT)); break;          \
    case MADD: RUN(MVIN, "fmadd." S " ft3, ft0, ft1, ft2", TO_F(MVOUT)); break; \
    case MSUB: RUN(MVIN, "fmsub." S " ft3, ft0, ft1, ft2", TO_F(MVOUT)); break; \
    case NMSUB: RUN(MVIN, "fnmsub." S " ft3, ft0, ft1, ft2", TO_F(MVOUT)); break; \
    case NMADD: RUN(MVIN, "fnmadd." S " ft3, ft0, ft1, ft2", TO_F(MVOUT)); break; \
    case MIN: RUN(MVIN, "fmin." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case MAX: RUN(MVIN, "fmax." S " ft3, ft0, ft1", TO_F(MVOUT)); break;       \
    case EQ: RUN(MVIN, "feq." S " %[r], ft0, ft1", TO_X); break;               \
    case LT: RUN(MVIN, "flt." S " %[r], ft0, ft1", TO_X); break;               \
    case LE: RUN(MVIN, "fle." S " %[r], ft0, ft1", TO_X); break;               \
    case CLASS: RUN(MVIN, "fclass." S " %[r], ft0", TO_X); break;              \
    case CVT_W: RUN(MVIN, "fcvt.w." S " %[r], ft0", TO_X); break;              \
    case CVT_WU: RUN(MVIN, "fcvt.wu." S " %[r], ft0", TO_X); break;            \
    case CVT_L: RUN(MVIN, "fcvt.l." S " %[r], ft0", TO_X); break;              \
    case CVT_LU: RUN(MVIN, "fcvt.lu." S " %[r], ft0", TO_X); break;            \
    case CVT_FROM_W: RUN(MVIN, "fcvt." S ".w ft3, %[a]", TO_F(MVOUT)); break;  \
    case CVT_FROM_WU: RUN(MVIN, "fcvt." S ".wu ft3, %[a]", TO_F(MVOUT)); break; \
    case CVT_FROM_L: RUN(MVIN, "fcvt." S ".l ft3, %[a]", TO_F(MVOUT)); break;  \
    case CVT_FROM_LU: RUN(MVIN, "fcvt." S ".lu ft3, %[a]", TO_F(MVOUT)); break;

static int run(const struct request *q, struct reply *out)
{
    uint64_t r = 0, fl = 0, rm = q->rm, a = q->a, b = q->b, c = q->c;
    switch (q->fmt) {
    case FMT_S:
        switch (q->op) {
        FORMAT_CASES("s", "fmv.w.x", "fmv.x.w")
        case CVT_FROM_D: RUN("fmv.d.x", "fcvt.s.d ft3, ft0", TO_F("fmv.x.w")); break;
        case CVT_FROM_H: RUN("fmv.h.x", "fcvt.s.h ft3, ft0", TO_F("fmv.x.w")); break;
        default: return -1;
        }
        break;
    case FMT_D:
        switch (q->op) {
        FORMAT_CASES("d", "fmv.d.x", "fmv.x.d")
        case CVT_FROM_S: RUN("fmv.w.x", "fcvt.d.s ft3, ft0", TO_F("fmv.x.d")); break;
        case CVT_FROM_H: RUN("fmv.h.x", "fcvt.d.h ft3, ft0", TO_F("fmv.x.d")); break;
        default: return -1;
        }
        break;
    case FMT_H:
        switch (q->op) {
        FORMAT_CASES("h", "fmv.h.x", "fmv.x.h")
        case CVT_FROM_S: RUN("fmv.w.x", "fcvt.h.s ft3, ft0", TO_F("fmv.x.h")); break;
        case CVT_FROM_D: RUN("fmv.d.x", "fcvt.h.d ft3, ft0", TO_F("fmv.x.h")); break;
        default: return -1;
        }
        break;
    default:
        return -1;
    }
    out->result = r;
    out->flags = fl;
    return 0;
}

int main(void)
{
    struct request q;
    struct reply out;
    while (fread(&q, sizeof q, 1, stdin) == 1) {
        if (run(&q, &out) != 0) {
            fprintf(stderr, "riscv_fpu_peer: bad request op=%u fmt=%u\n", q.op, q.fmt);
            return 2;
        }
        fwrite(&out, sizeof out, 1, stdout);
    }
    return 0;
}
