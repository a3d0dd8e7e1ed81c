#include "lib.h"

void putc(char c) { outb(COM1, (u8)c); }

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

void puthex(u64 v)
{
	char buf[19];
	int i = 18;
	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	puts(buf + i);
}

void putdec(u64 v)
{
	char buf[21];
	int i = 20;
	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts(buf + i);
}

void guest_exit(int status)
{
	outb(DEBUG_EXIT_PORT, (u8)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

const char *mb_cmdline(const void *mbi)
{
	const u32 *info = mbi;
	if (!info || !(info[0] & 4))
		return "";
	return (const char *)(u64)info[4];
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

u64 cmdline_number(const char *c, const char *key, u64 dflt)
{
	size_t klen = strlen(key);
	for (; *c; c++) {
		if ((c[-1] == ' ' || c[-1] == 0 || c[-1] == ',') && starts_with(c, key) && c[klen] == '=') {
			u64 v = 0;
			c += klen + 1;
			while (*c >= '0' && *c <= '9')
				v = v * 10 + (u64)(*c++ - '0');
			return v;
		}
	}
	return dflt;
}

int cmdline_has(const char *c, const char *word)
{
	size_t n = strlen(word);
	for (; *c; c++)
		if (starts_with(c, word) && (c[n] == 0 || c[n] == ' '))
			return 1;
	return 0;
}
