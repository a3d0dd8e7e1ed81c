/* MIPS benchmark guest for the virt board (-bios none -kernel).
 *
 * Runs each workload a fixed number of rounds (TIGHT_ROUNDS, COMPUTE_ROUNDS,
 * set at build time) and prints the instructions retired (minstret) and the
 * guest time it took (the `time` CSR, 10 MHz on virt). pyqemu's minstret is
 * exact; QEMU's is not (without -icount it counts host ticks), so run.py
 * derives QEMU's instruction count from pyqemu's exact counts at two round
 * counts (the count is linear in the rounds: same code, same data).
 */
typedef unsigned long ulong;
#define UART ((volatile unsigned char *)0x10000000UL)
#define FINISHER ((volatile unsigned int *)0x100000UL)
#ifndef TIGHT_ROUNDS
#define TIGHT_ROUNDS 10
#endif
#ifndef COMPUTE_ROUNDS
#define COMPUTE_ROUNDS 10
#endif

static void putc_(char c) { while (!(UART[5] & 0x20)) ; UART[0] = c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putdec(ulong v)
{
    char b[24]; int n = 0;
    do { b[n++] = '0' + v % 10; v /= 10; } while (v);
    while (n) putc_(b[--n]);
}
static inline ulong rdtime(void) { ulong t; asm volatile("csrr %0, time" : "=r"(t)); return t; }
static inline ulong rdinstret(void) { ulong t; asm volatile("csrr %0, minstret" : "=r"(t)); return t; }

/* A tight loop: add, branch. */
static ulong tight(ulong n)
{
    ulong acc = 0;
    asm volatile("1: addi %0, %0, 3\n addi %1, %1, -1\n bnez %1, 1b" : "+r"(acc), "+r"(n));
    return acc;
}

/* A compute workload in the spirit of CoreMark: list walking, a small
 * matrix multiply, a CRC and a state machine over a buffer. */
static unsigned char buf[512];
static int mat_a[8][8], mat_b[8][8], mat_c[8][8];
struct node { struct node *next; int v; } nodes[64];

static unsigned crc16(unsigned crc, unsigned char d)
{
    crc ^= d;
    for (int i = 0; i < 8; i++)
        crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
    return crc;
}

static ulong compute(ulong rounds)
{
    ulong sum = 0;
    for (ulong r = 0; r < rounds; r++) {
        for (int i = 0; i < 64; i++) { nodes[i].next = &nodes[(i * 7 + r) & 63]; nodes[i].v = i ^ r; }
        struct node *p = &nodes[0];
        for (int i = 0; i < 64; i++) { sum += p->v; p = p->next; }
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) {
                int s = 0;
                for (int k = 0; k < 8; k++) s += mat_a[i][k] * mat_b[k][j];
                mat_c[i][j] = s + (int)r;
            }
        unsigned crc = 0xFFFF;
        for (int i = 0; i < 64; i++) crc = crc16(crc, buf[(i + r) & 511]);
        int state = 0;
        for (int i = 0; i < 128; i++) {
            unsigned char c = buf[(i * 3 + r) & 511];
            if (c < 64) state = (state + 1) & 7; else if (c < 128) state ^= 5; else state = (state * 3) & 7;
            sum += state;
        }
        sum += crc + mat_c[r & 7][(r >> 3) & 7];
    }
    return sum;
}

static void run(const char *name, ulong (*fn)(ulong), ulong chunk, ulong rounds)
{
    ulong t0 = rdtime(), i0 = rdinstret(), sink = 0;
    for (ulong r = 0; r < rounds; r++)
        sink += fn(chunk);
    ulong t1 = rdtime(), i1 = rdinstret();
    puts_(name); puts_(" insns="); putdec(i1 - i0); puts_(" ticks="); putdec(t1 - t0);
    puts_(" sink="); putdec(sink & 0xff); puts_("\n");
}

void main(void)
{
    for (int i = 0; i < 512; i++) buf[i] = (unsigned char)(i * 37 + 11);
    for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) { mat_a[i][j] = i + j; mat_b[i][j] = i - j; }
    run("tight", tight, 20000, TIGHT_ROUNDS);
    run("compute", compute, 4, COMPUTE_ROUNDS);
    *FINISHER = 0x5555;
    for (;;) ;
}
