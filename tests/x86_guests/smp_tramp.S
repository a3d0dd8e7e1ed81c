/* The application processors' start: INIT/SIPI with vector 0x08 starts
 * them in real mode at 0x8000, where smp.c copies this code. They load the
 * boot CPU's GDT, enter protected mode, reuse its page tables to enter long
 * mode, take a stack each and call ap_main(). */
#define TRAMP_BASE 0x8000
	.section .text
	.code16
	.globl tramp_start, tramp_end
tramp_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl TRAMP_BASE + (tramp_gdt - tramp_start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	.byte 0x66, 0xea               /* ljmpl $0x08, $ap_pm32 */
	.long ap_pm32
	.word 0x08
	.align 4
tramp_gdt:
	.word 0x37
	.long gdt
tramp_end:

	.code32
ap_pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x28, $ap_long

	.code64
ap_long:
	mov $1, %eax
	lock xadd %eax, ap_stack_index(%rip)
	inc %eax
	shl $12, %rax
	lea ap_stacks(%rip), %rsp
	add %rax, %rsp
	call ap_main
1:	cli
	hlt
	jmp 1b

	.section .data
ap_stack_index: .long 0
	.section .bss
	.align 4096
ap_stacks: .skip 4096 * 65
