/* Loops of several blocks (branches inside the body, calls, a jump table),
   each run thousands of times so that the LLVM backend compiles them as
   regions, and a fault in the middle of a hot loop whose handler prints
   the state it sees. Output only; qemu-riscv64 is the reference. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned char *buf;
static long page;
static volatile uintptr_t fault_addr;
static volatile long progress, progress_at_fault;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_addr = (uintptr_t)si->si_addr;
    progress_at_fault = progress;
    /* The store is restarted once the page is writable again. */
    mprotect(buf + 6 * page, page, PROT_READ | PROT_WRITE);
}

__attribute__((noinline)) static unsigned mix(unsigned x, unsigned y) {
    return (x << 5) ^ (x >> 3) ^ y;
}

__attribute__((noinline)) static long dispatch(int op, long a, long b) {
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a ^ (b << 3);
    case 4: return a > b ? a : b;
    case 5: return a < b ? a : b;
    case 6: return (a >> 2) | b;
    default: return a & ~b;
    }
}

int main(void) {
    /* A loop with a branchy body: several blocks per iteration. */
    static unsigned char data[50000];
    for (int i = 0; i < (int)sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + (i >> 7));
    unsigned h = 2166136261u;
    long odd = 0, big = 0;
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < (int)sizeof data; i++) {
            unsigned c = data[i];
            if (c & 1) { odd++; h = mix(h, c); }
            else if (c > 200) { big += c; h ^= c << (i & 15); }
            else h = h * 16777619u + c;
            if ((i & 1023) == 0) data[i] ^= (unsigned char)h;
        }
    printf("branchy %u %ld %ld\n", h, odd, big);

    /* A jump table and calls in a loop. */
    long acc = 1;
    for (int i = 0; i < 60000; i++)
        acc = dispatch((int)((acc ^ i) & 7), acc, i) & 0xFFFFFFFFFFFFL;
    printf("dispatch %ld\n", acc);

    /* A fault in the middle of a hot loop: stores run up to a page made
       inaccessible; the handler sees the faulting address and the loop's
       progress so far. */
    page = sysconf(_SC_PAGESIZE);
    buf = mmap(0, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 1;
    mprotect(buf + 6 * page, page, PROT_NONE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    unsigned sum = 0;
    for (long i = 0; i < 8 * page; i++) {
        if (i % 3 == 0) sum += (unsigned)i;
        else sum ^= (unsigned)i << 1;
        buf[i] = (unsigned char)sum;
        progress = i;
    }
    unsigned check = 0;
    for (long i = 0; i < 8 * page; i++) check = check * 31 + buf[i];
    printf("fault at +%ld after store %ld; sum %u check %u\n",
           (long)(fault_addr - (uintptr_t)buf), (long)progress_at_fault, sum, check);
    return 0;
}
