/* Benchmark guest: N port-I/O exits. Writes the 16550's scratch register
 * (port 0x3ff, a real device on every board) N times, N being the number
 * after the last '=' of the multiboot command line (0: exit at once - the
 * start-up benchmark), then exits through port 0xf4 with status 0. */
	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002
	.long 0
	.long -0x1BADB002
	.section .text
	.code32
	.globl _start
_start:
	xor %ecx, %ecx
	xor %edi, %edi                /* 1 while reading digits after '=' */
	testl $4, (%ebx)
	jz 4f
	mov 16(%ebx), %esi
1:	movzbl (%esi), %eax
	inc %esi
	test %al, %al
	jz 4f
	cmp $'=', %al
	jne 2f
	xor %ecx, %ecx
	mov $1, %edi
	jmp 1b
2:	sub $'0', %al
	cmp $9, %al
	ja 3f
	test %edi, %edi
	jz 1b
	imul $10, %ecx, %ecx
	add %eax, %ecx
	jmp 1b
3:	xor %edi, %edi
	jmp 1b
4:	mov $0x3ff, %dx
	test %ecx, %ecx
	jz 6f
5:	out %al, %dx
	dec %ecx
	jnz 5b
6:	xor %eax, %eax
	mov $0xf4, %dx
	out %al, %dx
7:	hlt
	jmp 7b
