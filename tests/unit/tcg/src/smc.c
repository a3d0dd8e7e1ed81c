#include <stdio.h>
#include <sys/mman.h>
#include <stdint.h>
typedef long (*fn_t)(void);
int main(void) {
    uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) return 1;
    long sum = 0;
    for (int i = 0; i < 600; i++) {
        int imm = (i * 7) % 2000;
        code[0] = 0x00000513u | ((uint32_t)imm << 20);   /* li a0, imm */
        code[1] = 0x00008067u;                            /* ret */
        __builtin___clear_cache((char *)code, (char *)(code + 2));
        sum += ((fn_t)code)();
    }
    printf("%ld\n", sum);
    return 0;
}
