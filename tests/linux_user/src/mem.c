/* mmap (anonymous, file, fixed, hinted), mprotect, mremap, munmap, brk. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static sigjmp_buf env;
static void on_segv(int s) { siglongjmp(env, 1); }
int main(int argc, char **argv) {
    signal(SIGSEGV, on_segv);
    char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(p, "anon");
    printf("anon=%s zero=%d\n", p, p[8191]);
    mprotect(p, 4096, PROT_READ);
    if (sigsetjmp(env, 1) == 0) { p[0] = 'X'; puts("write to read-only: no fault"); }
    else puts("write to read-only: SIGSEGV");
    munmap(p + 4096, 4096);
    if (sigsetjmp(env, 1) == 0) { volatile char c = p[4096]; (void)c; puts("unmapped: no fault"); }
    else puts("unmapped: SIGSEGV");
    char *q = mmap(p + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed same=%d\n", q == p + 4096);
    char *r = mremap(q, 4096, 8 * 4096, MREMAP_MAYMOVE);
    r[8 * 4096 - 1] = 1;
    printf("mremap ok=%d\n", r != MAP_FAILED);
    int fd = open(argv[0], O_RDONLY);
    char *f = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file magic=%.3s\n", f + 1);
    char *b0 = sbrk(0);
    sbrk(100000);
    memset(b0, 1, 100000);
    printf("brk grew=%d\n", (char *)sbrk(0) - b0 >= 100000);
    return 0;
}
