/* A plain 64-bit ELF (no multiboot header): the loader enters it in long
 * mode with the first 4 GiB identity mapped. Prints, exits with status 5. */
	.section .text
	.code64
	.globl _start
_start:
	lea msg(%rip), %rsi
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $5, %al
	mov $0xf4, %dx
	out %al, %dx
3:	hlt
	jmp 3b
	.section .rodata
msg:	.asciz "hello from a 64-bit ELF entry\n"
