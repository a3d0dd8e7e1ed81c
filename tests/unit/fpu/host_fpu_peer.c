/* Second, independent test peer for pyqemu.fpu: the host's x86-64 SSE/FMA
 * unit through C99 <fenv.h>.  Same request/reply records as
 * riscv_fpu_peer.c, but only the IEEE operations whose x86 results and
 * flags RISC-V shares (arithmetic, fused multiply-add, binary32<->binary64);
 * no RMM (x86 has no ties-away mode) and NaN payloads are x86's own.
 */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#pragma STDC FENV_ACCESS ON

struct request { uint8_t op, fmt, rm, pad[5]; uint64_t a, b, c; };
struct reply { uint64_t result, flags; };

/* Values of enum op / enum fmt in riscv_fpu_peer.c. */
enum { ADD, SUB, MUL, DIV, SQRT, MADD, MSUB, NMSUB, NMADD };
enum { CVT_FROM_S = 23, CVT_FROM_D = 24 };
enum { FMT_S, FMT_D };

static const int rounding[] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };

static double d_of(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }
static float f_of(uint64_t v) { uint32_t w = (uint32_t)v; float f; memcpy(&f, &w, 4); return f; }
static uint64_t bits_d(double d) { uint64_t v; memcpy(&v, &d, 8); return v; }
static uint64_t bits_f(float f) { uint32_t w; memcpy(&w, &f, 4); return w; }

static uint64_t fflags(void)
{
    int e = fetestexcept(FE_ALL_EXCEPT);
    return (e & FE_INEXACT ? 1 : 0) | (e & FE_UNDERFLOW ? 2 : 0) | (e & FE_OVERFLOW ? 4 : 0)
         | (e & FE_DIVBYZERO ? 8 : 0) | (e & FE_INVALID ? 16 : 0);
}

static int run(const struct request *q, struct reply *out)
{
    if (q->rm > 3)
        return -1;
    fesetround(rounding[q->rm]);
    feclearexcept(FE_ALL_EXCEPT);
    if (q->fmt == FMT_D) {
        volatile double a = d_of(q->a), b = d_of(q->b), c = d_of(q->c);
        volatile double r;
        switch (q->op) {
        case ADD: r = a + b; break;
        case SUB: r = a - b; break;
        case MUL: r = a * b; break;
        case DIV: r = a / b; break;
        case SQRT: r = sqrt(a); break;
        case MADD: r = fma(a, b, c); break;
        case MSUB: r = fma(a, b, -c); break;
        case NMSUB: r = fma(-a, b, c); break;
        case NMADD: r = fma(-a, b, -c); break;
        case CVT_FROM_S: { volatile float s = f_of(q->a); r = (double)s; break; }
        default: return -1;
        }
        out->flags = fflags();
        out->result = bits_d(r);
    } else if (q->fmt == FMT_S) {
        volatile float a = f_of(q->a), b = f_of(q->b), c = f_of(q->c);
        volatile float r;
        switch (q->op) {
        case ADD: r = a + b; break;
        case SUB: r = a - b; break;
        case MUL: r = a * b; break;
        case DIV: r = a / b; break;
        case SQRT: r = sqrtf(a); break;
        case MADD: r = fmaf(a, b, c); break;
        case MSUB: r = fmaf(a, b, -c); break;
        case NMSUB: r = fmaf(-a, b, c); break;
        case NMADD: r = fmaf(-a, b, -c); break;
        case CVT_FROM_D: { volatile double d = d_of(q->a); r = (float)d; break; }
        default: return -1;
        }
        out->flags = fflags();
        out->result = bits_f(r);
    } else {
        return -1;
    }
    return 0;
}

int main(void)
{
    struct request q;
    struct reply out;
    while (fread(&q, sizeof q, 1, stdin) == 1) {
        if (run(&q, &out) != 0) {
            fprintf(stderr, "host_fpu_peer: bad request op=%u fmt=%u rm=%u\n", q.op, q.fmt, q.rm);
            return 2;
        }
        fwrite(&out, sizeof out, 1, stdout);
    }
    return 0;
}
