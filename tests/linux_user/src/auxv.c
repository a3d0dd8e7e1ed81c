/* The auxiliary vector, from getauxval and from /proc/self/auxv. */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
int main(void) {
    FILE *f = fopen("/proc/self/auxv", "rb");
    unsigned long kv[2];
    int pagesz = 0, entry = 0;
    while (f && fread(kv, sizeof kv, 1, f) == 1 && kv[0] != AT_NULL) {
        if (kv[0] == AT_PAGESZ) pagesz = kv[1] == 4096;
        if (kv[0] == AT_ENTRY) entry = kv[1] == getauxval(AT_ENTRY);
    }
    printf("proc auxv pagesz=%d entry=%d\n", pagesz, entry);
    printf("hwcap=%lx pagesz=%lu phent=%lu\n", getauxval(AT_HWCAP), getauxval(AT_PAGESZ),
           getauxval(AT_PHENT));
    printf("random=%d execfn=%s secure=%lu\n", getauxval(AT_RANDOM) != 0,
           (const char *)getauxval(AT_EXECFN), getauxval(AT_SECURE));
    printf("uid match=%d\n", getauxval(AT_UID) == getuid());
    return 0;
}
