/* A MAP_SHARED mapping of a file open read-only can never become writable:
   mprotect and mmap refuse PROT_WRITE with EACCES (and the emulator, which
   maps such pages read-only on the host, must not crash). */
#include <stdio.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
int main(void) {
    int fd = open("/etc/hostname", O_RDONLY);
    char *p = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
    int r = mprotect(p, 4096, PROT_READ | PROT_WRITE);
    printf("mprotect=%d errno=%s\n", r, r ? strerror(errno) : "-");
    void *q = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("mmap_rw=%s errno=%s\n", q == MAP_FAILED ? "failed" : "ok", q == MAP_FAILED ? strerror(errno) : "-");
    return 0;
}
