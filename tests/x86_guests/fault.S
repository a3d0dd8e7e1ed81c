/* Faults on purpose: an empty IDT and an int3 in kernel mode. On hardware
 * virtualization that is a triple fault (KVM_EXIT_SHUTDOWN); where KVM
 * emulates kernel mode (this host's PVM) it may be an emulation failure
 * (KVM_EXIT_INTERNAL_ERROR). Either way the VMM must report the registers. */
	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002
	.long 0
	.long -0x1BADB002
	.section .text
	.code32
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $'!', %al
	out %al, %dx
	mov $0xcafe, %ebx
	lidt idt_desc
	int3
1:	hlt
	jmp 1b
	.section .rodata
idt_desc:
	.word 0
	.long 0
