/* The compute loop timed in the ring-3 guest and natively on the host:
 * xorshift64 mixed into an accumulator, a serial dependency chain that no
 * compiler vectorizes, so both run the same instructions. */
#ifndef COMPUTE_KERNEL_H
#define COMPUTE_KERNEL_H

static inline unsigned long compute_kernel(unsigned long n)
{
	unsigned long x = 88172645463325252UL, acc = 0;
	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc += x * (i | 1);
	}
	return acc ^ x;
}

static inline unsigned long rdtsc(void)
{
	unsigned int lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((unsigned long)hi << 32) | lo;
}
#endif
