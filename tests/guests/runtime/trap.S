#include "asm.h"

/* Trap entries for M and S mode.  Each swaps sp with its scratch CSR (which
   always holds the top of a dedicated trap stack), saves all registers in a
   frame of 32 slots (slot 2 = the interrupted sp) and calls the C handler
   with the frame, which may change saved registers. */

.macro SAVE_FRAME scratch
    csrrw sp, \scratch, sp
    addi sp, sp, -TRAP_FRAME_BYTES
    .irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    SREG x\n, \n*REGBYTES(sp)
    .endr
    csrr t0, \scratch
    SREG t0, 2*REGBYTES(sp)
    mv a0, sp
.endm

.macro RESTORE_FRAME scratch
    addi t0, sp, TRAP_FRAME_BYTES
    csrw \scratch, t0
    .irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    LREG x\n, \n*REGBYTES(sp)
    .endr
    LREG sp, 2*REGBYTES(sp)
.endm

    .text
    .balign 64
    .globl m_trap_entry
m_trap_entry:
    SAVE_FRAME mscratch
    call m_trap_handler
    RESTORE_FRAME mscratch
    mret

    .balign 64
    .globl s_trap_entry
s_trap_entry:
    SAVE_FRAME sscratch
    call s_trap_handler
    RESTORE_FRAME sscratch
    sret

/* unsigned long run_in_mode(unsigned long mode, unsigned long (*fn)(unsigned long),
                             unsigned long arg)
   Calls fn(arg) in privilege mode `mode` (0 = U, 1 = S) and returns its
   result once fn returns (fn's return lands on an ecall that the M-mode
   handler turns into a jump to resume_m). */
    .globl run_in_mode
run_in_mode:
    addi sp, sp, -14*REGBYTES
    SREG ra, 0(sp)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    SREG s\n, (\n+1)*REGBYTES(sp)
    .endr
    la t0, saved_m_sp
    SREG sp, 0(t0)
    li t0, 0x1800
    csrc mstatus, t0
    slli t1, a0, 11
    csrs mstatus, t1
    csrw mepc, a1
    mv a0, a2
    la ra, lower_mode_exit
    mret
    .globl lower_mode_exit
lower_mode_exit:
    li a7, ECALL_RETURN_TO_M
    ecall
1:  j 1b
    .globl resume_m
resume_m:
    la t0, saved_m_sp
    LREG sp, 0(t0)
    LREG ra, 0(sp)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    LREG s\n, (\n+1)*REGBYTES(sp)
    .endr
    addi sp, sp, 14*REGBYTES
    ret

    .bss
    .balign REGBYTES
saved_m_sp:
    .space REGBYTES
