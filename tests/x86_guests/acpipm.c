/* Test guest 5: the ACPI power-off and reset paths, found as an OS finds
 * them: the RSDP in the BIOS area, XSDT -> FADT's SLEEP_CONTROL_REG and
 * RESET_REG (hardware-reduced ACPI, spec 4.8.3.6-7), the sleep type from
 * the DSDT's \_S5 package. `poweroff` on the command line: write
 * SLP_TYP << 2 | SLP_EN (the machine ends, status 0). `reset`: write
 * RESET_VALUE; the next boot sees a marker in RAM and exits with status 2. */
#include "lib.h"

#define MARKER_ADDR 0x2000000UL
#define MARKER 0x7465736572UL        /* "reset" */

struct gas { u8 space, bit_width, bit_offset, access; u64 address; } __attribute__((packed));

static const u8 *find_rsdp(void)
{
	for (u64 p = 0xe0000; p < 0x100000; p += 16)
		if (!memcmp((const void *)p, "RSD PTR ", 8))
			return (const u8 *)p;
	return 0;
}

static void gas_write(const struct gas *g, u8 value)
{
	if (g->space == 1)
		outb((u16)g->address, value);
	else
		*(volatile u8 *)g->address = value;
}

int main(const void *mbi)
{
	const char *cmd = mb_cmdline(mbi);
	volatile u64 *marker = (u64 *)MARKER_ADDR;
	if (*marker == MARKER) {
		*marker = 0;
		puts("booted again after the ACPI reset\n");
		return 2;
	}
	const u8 *rsdp = find_rsdp();
	if (!rsdp) {
		puts("FAIL: no RSDP\n");
		return 3;
	}
	const u8 *xsdt = (const u8 *)*(const u64 *)(rsdp + 24);
	u32 n = (*(const u32 *)(xsdt + 4) - 36) / 8;
	const u8 *fadt = 0;
	for (u32 i = 0; i < n; i++) {
		const u8 *t = (const u8 *)*(const u64 *)(xsdt + 36 + 8 * i);
		if (!memcmp(t, "FACP", 4))
			fadt = t;
	}
	if (!fadt) {
		puts("FAIL: no FADT\n");
		return 4;
	}
	const u8 *dsdt = (const u8 *)*(const u64 *)(fadt + 140);
	u32 dlen = *(const u32 *)(dsdt + 4);
	int s5 = -1;
	for (u32 i = 36; i + 8 < dlen; i++) {
		/* Name(_S5_, Package(){n, ...}): "_S5_" 0x12 pkglen count element */
		if (!memcmp(dsdt + i, "_S5_", 4) && dsdt[i + 4] == 0x12) {
			const u8 *e = dsdt + i + 7;
			s5 = e[0] == 0x0a ? e[1] : e[0] == 0x01 ? 1 : 0;
			break;
		}
	}
	const struct gas *sleep = (const struct gas *)(fadt + 244);
	const struct gas *reset = (const struct gas *)(fadt + 116);
	puts("FADT flags ");
	puthex(*(const u32 *)(fadt + 112));
	puts(", \\_S5 type ");
	putdec((u64)s5);
	puts("\n");
	if (cmdline_has(cmd, "reset")) {
		if (!(*(const u32 *)(fadt + 112) & (1 << 10)) || !reset->address) {
			puts("FAIL: no reset register\n");
			return 5;
		}
		*marker = MARKER;
		puts("resetting\n");
		gas_write(reset, fadt[128]);
	} else {
		if (s5 < 0 || !sleep->address) {
			puts("FAIL: no sleep control register or \\_S5\n");
			return 6;
		}
		puts("powering off\n");
		gas_write(sleep, (u8)(((s5 & 7) << 2) | (1 << 5)));
	}
	for (u64 spin = 0; spin < 10000000UL; spin++)
		cpu_relax();
	puts("FAIL: still running\n");
	return 7;
}
