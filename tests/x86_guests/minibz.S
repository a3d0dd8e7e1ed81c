/* A minimal "bzImage" for the Linux boot protocol (Documentation/arch/x86/
 * boot.rst): a setup header announcing protocol 2.15 with a 64-bit entry
 * (XLF_KERNEL_64), and a protected-mode part whose +0x200 entry prints what
 * the loader put in boot_params (RSI): the command line, the e820 entry
 * count, the loader type, the initrd's first bytes and CS/DS, then exits
 * through the debug-exit port with status 7. Flat binary (objcopy -O binary). */
	.section .text
	.code16
	.org 0x1f1
	.byte 1                       /* setup_sects: the 32/64-bit part at 0x400 */
	.org 0x1fe
	.word 0xaa55
	.byte 0xeb, hdr_end - 0x202   /* jump over the header: its length */
	.ascii "HdrS"
	.word 0x020f                  /* version 2.15 */
	.org 0x211
	.byte 0x01                    /* loadflags: LOADED_HIGH */
	.org 0x22c
	.long 0x7fffffff              /* initrd_addr_max */
	.org 0x236
	.word 0x0001                  /* xloadflags: XLF_KERNEL_64 */
	.long 2047                    /* cmdline_size */
	.org 0x258
	.quad 0x1000000               /* pref_address */
	.long 0x10000                 /* init_size */
hdr_end:
	.org 0x400
startup_32:                       /* the 32-bit entry (unused here) */
	hlt
	.org 0x600
	.code64
startup_64:
	lea stack_top(%rip), %rsp     /* the 64-bit protocol gives no stack */
	mov %rsi, %rbx
	lea m_cmd(%rip), %rdi
	call print
	mov 0x228(%rbx), %edi         /* cmd_line_ptr */
	call print
	lea m_e820(%rip), %rdi
	call print
	movzbl 0x1e8(%rbx), %eax      /* e820_entries */
	add $'0', %al
	call putc
	lea m_loader(%rip), %rdi
	call print
	movzbl 0x210(%rbx), %eax      /* type_of_loader */
	call puthex8
	lea m_initrd(%rip), %rdi
	call print
	mov 0x218(%rbx), %edi         /* ramdisk_image */
	test %edi, %edi
	jz 1f
	movb $0, 8(%rdi)
	call print
1:	lea m_cs(%rip), %rdi
	call print
	mov %cs, %eax
	call puthex8
	lea m_ds(%rip), %rdi
	call print
	mov %ds, %eax
	call puthex8
	mov $'\n', %al
	call putc
	mov $7, %al
	mov $0xf4, %dx
	out %al, %dx
2:	hlt
	jmp 2b

print:                            /* the string at %rdi */
	movzbl (%rdi), %eax
	test %al, %al
	jz 3f
	call putc
	inc %rdi
	jmp print
3:	ret
putc:
	mov $0x3f8, %dx
	out %al, %dx
	ret
puthex8:                          /* %al as two hex digits */
	push %rax
	shr $4, %al
	call hexdigit
	pop %rax
	and $15, %al
hexdigit:
	and $15, %al
	add $'0', %al
	cmp $'9', %al
	jbe putc
	add $('a' - '9' - 1), %al
	jmp putc

m_cmd:	.asciz "bzImage entry: cmdline="
m_e820:	.asciz " e820="
m_loader: .asciz " loader=0x"
m_initrd: .asciz " initrd="
m_cs:	.asciz " cs=0x"
m_ds:	.asciz " ds=0x"
	.align 16
	.skip 256
stack_top:
