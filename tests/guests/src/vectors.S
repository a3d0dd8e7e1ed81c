/* A vectored mtvec table: entry N records N in last_vector and continues
   in the common M-mode trap entry. */
#include "asm.h"

.macro VECTOR n
vector_\n:
    csrrw sp, mscratch, sp
    addi sp, sp, -2*REGBYTES
    SREG t0, 0(sp)
    SREG t1, REGBYTES(sp)
    li t0, \n
    la t1, last_vector
    SREG t0, 0(t1)
    LREG t0, 0(sp)
    LREG t1, REGBYTES(sp)
    addi sp, sp, 2*REGBYTES
    csrrw sp, mscratch, sp
    j m_trap_entry
.endm

    .text
    .balign 256
    .globl vector_table
vector_table:
    .option push
    .option norvc
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    j vector_\n
    .endr
    .option pop
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    VECTOR \n
    .endr

    .bss
    .balign REGBYTES
    .globl last_vector
last_vector:
    .space REGBYTES
