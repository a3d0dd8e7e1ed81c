/* The exit status path: (3 << 16) | 0x3333 must make the emulator exit 3. */
#include "runtime.h"

int main(void)
{
    print("exiting with 3\n");
    return 3;
}
