/* Entry of the gdbstub test guest: a stack, then main. */
    .section .text.start
    .globl _start
_start:
    la sp, stack_top
    call main
1:  j 1b

    .bss
    .balign 16
    .space 4096
stack_top:
