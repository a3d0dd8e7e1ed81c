/* A guest that is always in the middle of an MMIO exit: it reads an
 * unassigned physical address (each read exits to the VMM, and KVM
 * finishes the instruction on the next KVM_RUN) in a loop forever. It leaves the address of `target` at physical 0x500 first: code
 * there exits through isa-debug-exit (port 0xf4) with value 3, so a test
 * that moves RIP to it while the vCPU is paused sees exit status 7, and
 * sees the loop go on if the move was undone. */
	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002
	.long 0
	.long -0x1BADB002
	.section .text
	.code32
	.globl _start
_start:
	movl $target, 0x500
1:	movl 0xc0000000, %eax
	jmp 1b
target:
	mov $3, %al
	mov $0xf4, %dx
	out %al, %dx
2:	hlt
	jmp 2b
