/* The test guests' freestanding runtime: port I/O, MMIO, serial output,
 * the debug-exit port and the multiboot command line. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef unsigned long size_t;

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline void barrier(void) { __asm__ volatile("mfence" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause"); }

void putc(char c);
void puts(const char *s);
void puthex(u64 v);
void putdec(u64 v);
void guest_exit(int status) __attribute__((noreturn));
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* The multiboot command line (info flags bit 2). */
const char *mb_cmdline(const void *mbi);
/* The number after "key=" on the command line, or dflt. */
u64 cmdline_number(const char *cmdline, const char *key, u64 dflt);
/* Whether the word appears on the command line. */
int cmdline_has(const char *cmdline, const char *word);

#endif
