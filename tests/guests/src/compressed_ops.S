/* Runs every RVC instruction once and stores what it produced in out[]:
   void compressed_ops(ulong *out).  The instructions are written with their
   c. names so the assembler cannot choose the 32-bit forms. */
#include "asm.h"

.macro OUT reg
    SREG \reg, 0(a0)
    addi a0, a0, REGBYTES
.endm

    .text
    .option push
    .option rvc
    .globl compressed_ops
compressed_ops:
    addi sp, sp, -80
    SREG s0, 0(sp)
    SREG s1, REGBYTES(sp)
    c.li a1, -32
    OUT a1
    c.li a1, 31
    OUT a1
    c.lui a2, 0xfffe1          /* nzimm -31: sign-extended upper bits */
    OUT a2
    c.lui a2, 1
    OUT a2
    c.addi a2, -1
    OUT a2
    c.addi a1, 31
    OUT a1
#if __riscv_xlen == 64
    li a3, 0x7fffffff
    c.addiw a3, 1
    OUT a3
    li a3, 0x100000005
    c.addiw a3, 0              /* sext.w */
    OUT a3
    li a3, 0x80000000
    li a4, 0x80000000
    c.addw a3, a4
    OUT a3
    li a3, 5
    li a4, 7
    c.subw a3, a4
    OUT a3
#endif
    mv s0, sp
    c.addi16sp sp, -32
    sub s1, s0, sp
    OUT s1
    c.addi16sp sp, 32
    c.addi4spn a5, sp, 1020
    sub s1, a5, sp
    OUT s1
    li a3, -1
    c.slli a3, 5
    OUT a3
    li a3, -1
    c.srli a3, 3
    OUT a3
    li a3, -64
    c.srai a3, 3
    OUT a3
    li a3, 0x1ff
    c.andi a3, -16
    OUT a3
    li a3, 0x1ff
    c.andi a3, 15
    OUT a3
    li a4, 0x123
    c.mv a3, a4
    OUT a3
    c.add a3, a4
    OUT a3
    li a4, 0x1000
    c.sub a3, a4
    OUT a3
    li a3, 0xf0f0
    li a4, 0xff00
    mv a5, a3
    c.xor a5, a4
    OUT a5
    mv a5, a3
    c.or a5, a4
    OUT a5
    mv a5, a3
    c.and a5, a4
    OUT a5
    /* loads and stores, register based and stack based */
    li a4, -2
    mv s1, sp
    c.sw a4, 8(s1)
    c.lw a5, 8(s1)
    OUT a5
    c.lw a5, 8(s1)
    OUT a5
    c.swsp a4, 12(sp)
    c.lwsp a5, 12(sp)
    OUT a5
#if __riscv_xlen == 64
    li a4, 0x8000000000000001
    c.sd a4, 16(s1)
    c.ld a5, 16(s1)
    OUT a5
    c.sdsp a4, 24(sp)
    c.ldsp a5, 24(sp)
    OUT a5
#else
    li a4, 0x40490fdb          /* pi as a single */
    c.sw a4, 16(s1)
    c.flw fa5, 16(s1)
    c.fsw fa5, 20(s1)
    c.lw a5, 20(s1)
    OUT a5
    c.fswsp fa5, 24(sp)
    c.flwsp fa4, 24(sp)
    fmv.x.w a5, fa4
    OUT a5
#endif
    li a4, 0                   /* the double 1.5: low word 0 */
    c.sw a4, 32(s1)
    li a4, 0x3ff80000
    c.sw a4, 36(s1)
    c.fld fa5, 32(s1)
    c.fsd fa5, 40(s1)
    c.lw a5, 44(s1)
    OUT a5
    c.fsdsp fa5, 48(sp)
    c.fldsp fa4, 48(sp)
    c.fsd fa4, 56(s1)
    c.lw a5, 60(s1)
    OUT a5
    /* control transfers */
    li a5, 0
    c.beqz a5, 1f
    li a5, 99
1:  OUT a5
    li a5, 1
    c.bnez a5, 1f
    li a5, 99
1:  OUT a5
    li a5, 0
    c.bnez a5, 1f
    li a5, 42
1:  OUT a5
    c.j 1f
    li a5, 99
1:  OUT a5
    la a4, 1f
    c.jr a4
    li a5, 98
1:  OUT a5
    mv s0, ra
    la a4, 2f
    c.jalr a4
1:  la a4, 1b
    sub a5, ra, a4
    OUT a5              /* c.jalr links pc + 2 */
#if __riscv_xlen == 32
    c.jal 3f
4:  la a4, 4b
    sub a5, ra, a4
    OUT a5
#endif
    mv ra, s0
    c.nop
    LREG s0, 0(sp)
    LREG s1, REGBYTES(sp)
    addi sp, sp, 80
    ret
2:  c.jr ra
#if __riscv_xlen == 32
3:  c.jr ra
#endif
    .option pop
