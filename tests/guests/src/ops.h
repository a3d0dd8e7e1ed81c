/* Helpers for guests that apply one instruction to a table of operands and
   print a digest of the results per instruction. */
#ifndef GUEST_OPS_H
#define GUEST_OPS_H
#include "runtime.h"

#if XLEN == 64
#define X(v64, v32) ((ulong)(v64))
#else
#define X(v64, v32) ((ulong)(v32))
#endif

/* Operands chosen for the edges: zero, one, all ones, the extreme signed
   values, mixed bit patterns and values whose low 32 bits are negative. */
static const ulong operands[] = {
    0, 1, (ulong)-1, 2, (ulong)-2,
    X(0x7fffffffffffffff, 0x7fffffff), X(0x8000000000000000, 0x80000000),
    X(0x0123456789abcdef, 0x01234567), X(0xfedcba9876543210, 0xfedcba98),
    X(0x00000000ffffffff, 0x0000ffff), X(0xffffffff80000000, 0xffff8000),
    X(0x000000007fffffff, 0x00007fff), 31, 33, 63, X(0x5555555555555555, 0x55555555),
};
#define N_OPERANDS (sizeof(operands) / sizeof(operands[0]))

/* An order-sensitive digest of XLEN-bit results: one multiply and a shift
   per value keeps the guests short. */
static inline ulong digest_add(ulong h, ulong v)
{
    h = (h ^ v) * X(0x100000001b3, 0x01000193);
    return h ^ (h >> (XLEN / 2 - 3));
}
#define DIGEST_INIT X(0xcbf29ce484222325, 0x811c9dc5)

typedef ulong (*binop_fn)(ulong, ulong);
typedef ulong (*unop_fn)(ulong);

/* Applies fn to every ordered pair of operands and prints "name=<digest>". */
static void digest_binop(const char *name, binop_fn fn)
{
    ulong h = DIGEST_INIT;
    for (unsigned i = 0; i < N_OPERANDS; i++)
        for (unsigned j = 0; j < N_OPERANDS; j++)
            h = digest_add(h, fn(operands[i], operands[j]));
    show(name, h);
}

static void digest_unop(const char *name, unop_fn fn)
{
    ulong h = DIGEST_INIT;
    for (unsigned i = 0; i < N_OPERANDS; i++)
        h = digest_add(h, fn(operands[i]));
    show(name, h);
}

#define RR(fname, insn) \
    static ulong fname(ulong a, ulong b) { ulong r; asm volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
#define RI(fname, insn, imm) \
    static ulong fname(ulong a) { ulong r; asm volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "i"(imm)); return r; }
#define R1(fname, insn) \
    static ulong fname(ulong a) { ulong r; asm volatile(insn " %0, %1" : "=r"(r) : "r"(a)); return r; }
#endif
