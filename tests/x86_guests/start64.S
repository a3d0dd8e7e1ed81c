/* Common start of the C test guests: a multiboot header, the switch from
 * the loader's 32-bit protected mode to long mode (first 4 GiB identity
 * mapped with 2 MiB pages, so the MMIO hole and the LAPIC are reachable),
 * then main(multiboot_info) on the boot stack. The GDT also holds ring-3
 * segments and a TSS slot (lib.c fills it) for guests that drop to user mode. */
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
	mov %ebx, %edi                /* multiboot info -> main's argument */
	mov $boot_stack_top, %esp
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	call setup_paging32
	ljmp $0x28, $long_entry

	.globl setup_paging32
setup_paging32:                   /* also used by the AP trampoline */
	mov $pdpt, %eax
	or $7, %eax
	mov %eax, pml4
	xor %ecx, %ecx
2:	mov %ecx, %eax                /* 4 PDPT entries -> 4 page directories */
	shl $12, %eax
	add $pds, %eax
	or $7, %eax
	mov %eax, pdpt(,%ecx,8)
	inc %ecx
	cmp $4, %ecx
	jne 2b
	xor %ecx, %ecx
3:	mov %ecx, %eax                /* 2048 x 2 MiB, user-accessible (ring-3 guests) */
	shl $21, %eax
	or $0x87, %eax
	mov %eax, pds(,%ecx,8)
	movl $0, pds+4(,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jne 3b
	.globl enable_long_mode32
enable_long_mode32:
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
	ret

	.code64
long_entry:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %ax, %ax
	mov %ax, %fs
	mov %ax, %gs
	mov $boot_stack_top, %rsp
	call main
	mov %eax, %edi
	call guest_exit
4:	hlt
	jmp 4b

	.section .rodata
	.align 16
	.globl gdt
gdt:	.quad 0
	.quad 0x00cf9a000000ffff     /* 0x08 code32 */
	.quad 0x00cf92000000ffff     /* 0x10 data */
	.quad 0x00cff2000000ffff     /* 0x18 user data (dpl 3) */
	.quad 0x00affa000000ffff     /* 0x20 user code64 (dpl 3) */
	.quad 0x00af9a000000ffff     /* 0x28 code64 */
	.globl gdt_tss
gdt_tss: .quad 0, 0              /* 0x30 TSS (16 bytes), filled at run time */
gdt_end:
	.globl gdt_desc
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .bss
	.align 4096
	.globl pml4
pml4:	.skip 4096
pdpt:	.skip 4096
pds:	.skip 4 * 4096
	.skip 16384
boot_stack_top:
