#include "asm.h"

    .section .text.init
    .globl _start
_start:
    /* Only hart 0 runs the test; the others sleep for good. */
    csrr t0, mhartid
    bnez t0, park
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la t0, __trap_stack_top
    csrw mscratch, t0
    la t0, m_trap_entry
    csrw mtvec, t0
    /* Lower modes get no access at all without a matching PMP entry, so the
       last entry opens everything; tests that study PMP reprogram it. */
    li t0, -1
    csrw pmpaddr15, t0
#if __riscv_xlen == 64
    li t0, 0x1f << 56
    csrw pmpcfg2, t0
#else
    li t0, 0x1f << 24
    csrw pmpcfg3, t0
#endif
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    SREG zero, 0(t0)
    addi t0, t0, REGBYTES
    j 1b
2:
#ifdef __riscv_flen
    li t0, 0x2000           /* mstatus.FS = Initial: the FPU is usable */
    csrs mstatus, t0
    fscsr zero
#endif
    call main
    call exit
park:
    wfi
    j park
