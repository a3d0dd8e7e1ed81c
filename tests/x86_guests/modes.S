/* Test guest 1: prints over the 16550 at 0x3f8 from real mode, 32-bit
 * protected mode and 64-bit long mode, then writes its exit status to the
 * isa-debug-exit port 0xf4. The status is the number after the last "=" on the
 * multiboot command line (default 0).
 *
 * Entered by a multiboot loader (Multiboot spec 0.6.96, section 3.2):
 * 32-bit flat protected mode, paging off, EAX = 0x2BADB002, EBX = info.
 */
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define RM_BASE 0x8000            /* real-mode code is copied here (below 1 MiB) */
#define RM_SEG (RM_BASE >> 4)

	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002
	.long 0
	.long -0x1BADB002

	.section .text
	.code32
	.globl _start
_start:
	cli
	mov $stack_top, %esp
	/* status: the number after the last '=' of the command line (info
	 * flags bit 2, cmdline at +16); loaders put the kernel's path first */
	xor %edi, %edi
	xor %ebp, %ebp                /* 1 while reading digits after '=' */
	cmp $0x2BADB002, %eax
	jne 2f
	testl $4, (%ebx)
	jz 2f
	mov 16(%ebx), %esi
1:	movzbl (%esi), %eax
	inc %esi
	test %al, %al
	jz 2f
	cmp $'=', %al
	jne 3f
	xor %edi, %edi
	mov $1, %ebp
	jmp 1b
3:	sub $'0', %al
	cmp $9, %al
	ja 4f
	test %ebp, %ebp
	jz 1b
	imul $10, %edi, %edi
	add %eax, %edi
	jmp 1b
4:	xor %ebp, %ebp
	jmp 1b
2:	mov %edi, status

	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	/* copy the real-mode part below 1 MiB */
	mov $rm_start, %esi
	mov $RM_BASE, %edi
	mov $(rm_end - rm_start), %ecx
	cld
	rep movsb
	mov %esp, saved_esp
	ljmp $0x18, $RM_BASE          /* 16-bit protected-mode code, base 0 */

pm_back:                          /* returning from real mode */
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov saved_esp, %esp
	mov $msg_pm, %esi
	call puts32

	/* long mode: identity-map 1 GiB with 2 MiB pages */
	mov $pdpt, %eax
	or $3, %eax
	mov %eax, pml4
	mov $pd, %eax
	or $3, %eax
	mov %eax, pdpt
	xor %ecx, %ecx
12:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, pd(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jne 12b
	mov %cr4, %eax
	or $0x20, %eax               /* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx        /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax         /* PG */
	mov %eax, %cr0
	ljmp $0x28, $long_mode

puts32:
	mov $COM1, %dx
5:	lodsb
	test %al, %al
	jz 6f
	out %al, %dx
	jmp 5b
6:	ret

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %ss
	lea msg_lm(%rip), %rsi
	mov $COM1, %dx
7:	lodsb
	test %al, %al
	jz 8f
	out %al, %dx
	jmp 7b
8:	mov status(%rip), %eax
	mov $DEBUG_EXIT, %dx
	out %al, %dx
9:	hlt
	jmp 9b

/* ---- real-mode part, copied to RM_BASE, addressed relative to it ---- */
	.code16
rm_start:
	mov $0x20, %ax               /* 16-bit data segments before leaving PM */
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $RM_SEG, $(rm_real - rm_start)
rm_real:
	mov %cs, %ax
	mov %ax, %ds
	xor %ax, %ax
	mov %ax, %ss
	mov $0x7c00, %sp
	mov $(rm_msg - rm_start), %si
	mov $COM1, %dx
10:	lodsb
	test %al, %al
	jz 11f
	out %al, %dx
	jmp 10b
11:	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	.byte 0x66, 0xea              /* ljmpl $0x08, $pm_back */
	.long pm_back
	.word 0x08
rm_msg:	.asciz "hello from real mode\n"
rm_end:

	.code32
	.section .rodata
msg_pm:	.asciz "hello from protected mode\n"
msg_lm:	.asciz "hello from long mode\n"
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff     /* 0x08 code32 */
	.quad 0x00cf92000000ffff     /* 0x10 data */
	.quad 0x00009a000000ffff     /* 0x18 code16, base 0 */
	.quad 0x000092000000ffff     /* 0x20 data16 */
	.quad 0x00af9a000000ffff     /* 0x28 code64 */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .data
status:	.long 0
saved_esp: .long 0

	.section .bss
	.align 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4096
	.skip 8192
stack_top:
