/* Test guest for live migration and snapshots: forever, one tick after
 * another, it
 *  - checks that every page of a 1 MiB buffer still holds the previous
 *    tick's number, then writes this tick's number into each (so RAM keeps
 *    changing: the migration's later passes have pages to resend, and a
 *    page lost on the way shows as "FAIL dirt");
 *  - writes record N to sector N of its virtio-blk disk: "REC " + N as 16
 *    hex digits, the rest of the sector filled with N's low byte; the
 *    device's status byte and used ring must say exactly that one request
 *    completed (pages only the VMM writes: a migration that lost them
 *    shows as "FAIL: write");
 *  - prints "count N" on the serial port;
 *  - spins `delay=` loops (command line, default 20000), or, with `irq=N`
 *    on the command line, halts until N more PIT interrupts have arrived
 *    (the PIT at 100 Hz, IRQ 0 through the IOAPIC's pin 2 to the LAPIC,
 *    vector 0x30): the in-kernel PIT, IOAPIC and LAPIC must then carry
 *    their state across a migration, or the guest sleeps forever.
 * The disk is polled, as in blk.c. */
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_T_OUT 1
#define DIRT_PAGES 256

struct blk_req { u32 type; u32 reserved; u64 sector; };

static u8 ring[8192] __attribute__((aligned(4096)));
static struct blk_req req;
static u8 data[512] __attribute__((aligned(512)));
static volatile u8 status;
static struct vq q;
static volatile u64 dirt[DIRT_PAGES * 512] __attribute__((aligned(4096)));

#define LAPIC 0xfee00000UL
#define IOAPIC 0xfec00000UL
#define TIMER_VECTOR 0x30
#define PIT_HZ 1193182

struct idt_gate { u16 off_lo; u16 sel; u8 ist; u8 type; u16 off_mid; u32 off_hi; u32 zero; }
	__attribute__((packed));
static struct idt_gate idt[256] __attribute__((aligned(16)));
volatile u64 pit_ticks;
void timer_isr(void);
/* Count the interrupt, EOI to the LAPIC (edge-triggered: no IOAPIC EOI). */
__asm__(".globl timer_isr\n"
	"timer_isr:\n"
	"	push %rax\n"
	"	mov $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	lock incq pit_ticks(%rip)\n"
	"	pop %rax\n"
	"	iretq\n");

static void ioapic_write(u32 reg, u32 value)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, value);
}

static void start_pit_interrupts(void)
{
	u64 isr = (u64)timer_isr;
	idt[TIMER_VECTOR] = (struct idt_gate){ (u16)isr, 0x28, 0, 0x8e, (u16)(isr >> 16),
		(u32)(isr >> 32), 0 };
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { sizeof idt - 1, (u64)idt };
	__asm__ volatile("lidt %0" :: "m"(idtr));
	outb(0x21, 0xff);                              /* both PICs masked */
	outb(0xa1, 0xff);
	mmio_write32(LAPIC + 0xf0, 0x1ff);             /* LAPIC on, spurious vector 0xff */
	ioapic_write(0x10 + 2 * 2 + 1, 0);             /* GSI 2 (the PIT) -> APIC 0 */
	ioapic_write(0x10 + 2 * 2, TIMER_VECTOR);      /* fixed, edge, unmasked */
	u16 divisor = PIT_HZ / 100;
	outb(0x43, 0x34);                              /* channel 0, lo/hi, rate generator */
	outb(0x40, (u8)divisor);
	outb(0x40, (u8)(divisor >> 8));
}

static void wait_pit_ticks(u64 n)
{
	u64 until = pit_ticks + n;
	while (pit_ticks < until)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static int write_record(u64 n)
{
	static const char hex[] = "0123456789abcdef";
	/* The used ring is written only by the device (the VMM): before a new
	 * request, and after it, it must hold exactly the completions this
	 * guest has seen (after a migration too). */
	if (q.used->idx != q.last_used)
		return -3;
	memset(data, (int)(n & 0xff), sizeof data);
	memcpy(data, "REC ", 4);
	for (int i = 0; i < 16; i++)
		data[4 + i] = hex[(n >> (60 - 4 * i)) & 0xf];
	req.type = VIRTIO_BLK_T_OUT;
	req.reserved = 0;
	req.sector = n;
	status = 0xff;
	q.desc[0] = (struct vring_desc){ (u64)&req, sizeof req, VRING_DESC_F_NEXT, 1 };
	q.desc[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_NEXT, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	if (virtio_submit(&q, 0, 1UL << 40))
		return -1;
	if (q.used->idx != q.last_used)
		return -2;
	return status;
}

int main(const void *mbi)
{
	const char *cmdline = mb_cmdline(mbi);
	u64 delay = cmdline_number(cmdline, "delay", 20000);
	u64 irq_ticks = cmdline_number(cmdline, "irq", 0);
	u64 base = virtio_find(VIRTIO_ID_BLOCK);
	if (!base || virtio_init(&q, base, ring)) {
		puts("FAIL: no virtio-blk device\n");
		return 2;
	}
	u64 capacity = *(volatile u64 *)(base + VMMIO_CONFIG);
	if (irq_ticks)
		start_pit_interrupts();
	puts("migcount ready\n");
	for (u64 n = 1;; n++) {
		for (int p = 0; p < DIRT_PAGES; p++) {
			if (dirt[p * 512] != n - 1) {
				puts("FAIL dirt at tick ");
				putdec(n);
				puts("\n");
				return 3;
			}
			dirt[p * 512] = n;
		}
		if (n < capacity && write_record(n)) {
			puts("FAIL: write\n");
			return 4;
		}
		puts("count ");
		putdec(n);
		puts("\n");
		if (irq_ticks)
			wait_pit_ticks(irq_ticks);
		else
			for (volatile u64 i = 0; i < delay; i++)
				;
	}
}
