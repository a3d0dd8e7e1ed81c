    .section .text.start
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la sp, stack_top
    call main
park:
    wfi
    j park
    .bss
    .balign 16
    .space 8192
stack_top:
