/* The compute loop run natively on the host, for comparison with the
 * ring-3 guest: prints "native: result=0x... cycles=N". */
#include <stdio.h>
#include <stdlib.h>
#include "compute_kernel.h"

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 100000000UL;
	unsigned long t0 = rdtsc();
	unsigned long r = compute_kernel(n);
	unsigned long t1 = rdtsc();
	printf("native: result=0x%lx cycles=%lu\n", r, t1 - t0);
	return 0;
}
