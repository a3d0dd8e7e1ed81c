/* Zifencei: code that rewrites itself.  A function in RAM is executed,
   then its first instruction is replaced by a store, fence.i makes the new
   instruction visible, and the next call must run it. */
#include "runtime.h"

/* A small function in .data so that it is writable: li a0, 1; ret */
extern u32 patchable_fn[];
asm(".pushsection .data\n"
    ".balign 4\n"
    ".globl patchable_fn\n"
    "patchable_fn:\n"
    ".option push\n.option norvc\n"
    "li a0, 1\n"
    "ret\n"
    ".option pop\n"
    ".popsection\n");

static ulong call_patchable(void)
{
    return ((ulong (*)(void))(void *)patchable_fn)();
}

/* addi a0, zero, imm */
static u32 li_a0(int imm) { return ((u32)(imm & 0xfff) << 20) | (10 << 7) | 0x13; }

int main(void)
{
    print("rv_zifencei\n");
    check("before_patch", call_patchable(), 1);
    for (int i = 2; i < 6; i++) {
        patchable_fn[0] = li_a0(i * 100);
        asm volatile("fence.i" ::: "memory");
        check("after_patch", call_patchable(), i * 100);
    }
    /* patch a loop's own body while it runs: each pass rewrites the
       immediate of the next pass */
    ulong total = 0;
    for (int i = 1; i <= 8; i++) {
        patchable_fn[0] = li_a0(-i);
        asm volatile("fence.i" ::: "memory");
        total += call_patchable();
    }
    check("patched_in_loop_sum", total, (ulong)-36);
    /* a compressed replacement: c.li a0, 7 followed by c.nop in the same word */
    patchable_fn[0] = 0x0001451d;
    asm volatile("fence.i" ::: "memory");
    check("compressed_patch", call_patchable(), 7);
    return failures();
}
