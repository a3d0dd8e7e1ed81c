/* Test guest 4: drops to ring 3 and runs the compute loop there - where
 * KVM runs guest code natively - timing it with rdtsc, then comes back to
 * ring 0 through an `int $0x80` gate to print "result=... cycles=..." and
 * exit 0. User mode cannot print itself: KVM's PVM grants it no port I/O
 * (IOPL). PVM also cannot deliver the gate to a kernel that is not
 * PVM-aware: there the int is a triple fault, the machine resets, and the
 * results left at REPORT_ADDR (RAM survives a reset) are printed by the
 * next boot, which says so.
 * Iterations: iters=N on the command line. */
#include "lib.h"
#include "compute_kernel.h"

struct tss64 {
	u32 reserved0;
	u64 rsp0, rsp1, rsp2;
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3, iomap_base;
} __attribute__((packed));

extern u64 gdt_tss[2];
static struct tss64 tss;
static u8 kernel_stack[8192] __attribute__((aligned(16)));
static u8 user_stack[16384] __attribute__((aligned(16)));
static u64 iterations;

#define REPORT_ADDR 0x2000000UL       /* 32 MiB: no loader or firmware writes there */
#define REPORT_MAGIC 0x3352474e4952UL     /* "RING3" */
struct report { u64 magic, result, cycles; };

void __attribute__((noreturn, used)) kernel_report(u64 result, u64 cycles)
{
	puts("ring 3: result=");
	puthex(result);
	puts(" cycles=");
	putdec(cycles);
	puts("\n");
	guest_exit(0);
}

/* The int $0x80 handler: ring 0 again, on the TSS's rsp0 stack. */
__asm__(".globl int80_entry\n"
	"int80_entry:\n\t"
	"and $-16, %rsp\n\t"
	"call kernel_report\n");
void int80_entry(void);

struct idt_gate { u16 off0, sel; u8 ist, type; u16 off1; u32 off2, zero; };
static struct idt_gate idt[256] __attribute__((aligned(16)));

static void __attribute__((noreturn)) user_main(void)
{
	u64 t0 = rdtsc();
	u64 result = compute_kernel(iterations);
	u64 t1 = rdtsc();
	volatile struct report *r = (struct report *)REPORT_ADDR;
	r->result = result;
	r->cycles = t1 - t0;
	r->magic = REPORT_MAGIC;
	__asm__ volatile("int $0x80" :: "D"(result), "S"(t1 - t0) : "memory");
	for (;;)
		;
}

int main(const void *mbi)
{
	volatile struct report *r = (struct report *)REPORT_ADDR;
	if (r->magic == REPORT_MAGIC) {
		r->magic = 0;
		puts("back after a reset (the int $0x80 gate was not delivered)\n");
		kernel_report(r->result, r->cycles);
	}
	iterations = cmdline_number(mb_cmdline(mbi), "iters", 100000000UL);
	memset(&tss, 0, sizeof tss);
	tss.rsp0 = (u64)(kernel_stack + sizeof kernel_stack);
	tss.iomap_base = sizeof tss;                 /* no I/O bitmap: IOPL decides */
	u64 base = (u64)&tss, limit = sizeof tss - 1;
	gdt_tss[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) |
		     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt_tss[1] = base >> 32;
	__asm__ volatile("ltr %w0" :: "r"(0x30));
	u64 h = (u64)int80_entry;
	idt[0x80] = (struct idt_gate){ (u16)h, 0x28, 0, 0xEE /* present, DPL 3, interrupt gate */,
				       (u16)(h >> 16), (u32)(h >> 32), 0 };
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { sizeof idt - 1, (u64)idt };
	__asm__ volatile("lidt %0" :: "m"(idtr));
	puts("entering ring 3\n");
	/* iretq to ring 3: SS, RSP, RFLAGS (IOPL 3), CS, RIP */
	__asm__ volatile(
		"pushq $0x1b\n\t"
		"pushq %0\n\t"
		"pushq $0x2\n\t"
		"pushq $0x23\n\t"
		"pushq %1\n\t"
		"iretq"
		:: "r"((u64)(user_stack + sizeof user_stack)), "r"((u64)user_main) : "memory");
	return 99;
}
