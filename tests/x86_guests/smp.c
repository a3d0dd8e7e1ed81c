/* Test guest 3: -smp N. Finds the processors in the MP table (MP spec 1.4),
 * starts the others with INIT and a startup IPI through the LAPIC, and
 * waits until each has reported in over the serial port with its APIC ID.
 * Exit status: the number of processors that reported (boot CPU included). */
#include "lib.h"

#define LAPIC 0xfee00000UL
#define LAPIC_ID 0x20
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ASSERT (1u << 14)
#define ICR_PENDING (1u << 12)
#define TRAMP_BASE 0x8000

extern char tramp_start[], tramp_end[];
static volatile u32 reported;
static volatile u32 print_lock;

static u32 lapic_id(void) { return mmio_read32(LAPIC + LAPIC_ID) >> 24; }

static void lock(void)
{
	while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void unlock(void) { __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE); }

void ap_main(void)
{
	u32 id = lapic_id();
	lock();
	puts("cpu ");
	putdec(id);
	puts(" reporting in\n");
	reported++;
	unlock();
}

/* The MP floating pointer in the BIOS area; the processor entries' count. */
static int mp_processors(void)
{
	for (u64 p = 0xf0000; p < 0x100000; p += 16) {
		const u8 *f = (const u8 *)p;
		if (memcmp(f, "_MP_", 4))
			continue;
		u8 sum = 0;
		for (int i = 0; i < 16; i++)
			sum += f[i];
		if (sum)
			continue;
		const u8 *table = (const u8 *)(u64)*(const u32 *)(f + 4);
		if (memcmp(table, "PCMP", 4))
			return -1;
		u16 count = *(const u16 *)(table + 34);
		const u8 *e = table + 44;
		int cpus = 0;
		for (u16 i = 0; i < count; i++) {
			if (e[0] == 0) {
				if (e[3] & 1)
					cpus++;
				e += 20;
			} else {
				e += 8;
			}
		}
		return cpus;
	}
	return -1;
}

static void send_ipi(u32 low)
{
	mmio_write32(LAPIC + LAPIC_ICR_HIGH, 0);
	mmio_write32(LAPIC + LAPIC_ICR_LOW, low);
	while (mmio_read32(LAPIC + LAPIC_ICR_LOW) & ICR_PENDING)
		cpu_relax();
}

int main(const void *mbi)
{
	(void)mbi;
	int n = mp_processors();
	if (n < 1) {
		puts("FAIL: no MP table\n");
		return 0;
	}
	lock();
	puts("MP table: ");
	putdec((u64)n);
	puts(" processors; boot cpu ");
	putdec(lapic_id());
	puts("\n");
	unlock();
	if (n == 1)
		return 1;
	memcpy((void *)TRAMP_BASE, tramp_start, (size_t)(tramp_end - tramp_start));
	send_ipi(ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT);
	send_ipi(ICR_ALL_BUT_SELF | ICR_STARTUP | (TRAMP_BASE >> 12));
	for (u64 spin = 0; reported < (u32)(n - 1) && spin < 5000000UL; spin++)
		cpu_relax();
	lock();
	puts("reported in: ");
	putdec(reported + 1);
	puts(" of ");
	putdec((u64)n);
	puts("\n");
	unlock();
	return (int)reported + 1;
}
