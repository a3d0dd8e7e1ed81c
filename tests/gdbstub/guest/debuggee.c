/* The gdbstub test guest: something to break in, step through and watch.
   Sums the squares of 1..5 and powers off through the SiFive test device
   with status 0 when the sum is 55 (a debugger changing registers changes
   the sum, and so the exit status). */

#define SIFIVE_TEST ((volatile unsigned int *)0x100000)

volatile unsigned long counter;
volatile unsigned long result;
volatile unsigned long spin;      /* a debugger sets it to keep the guest running */

__attribute__((noinline)) unsigned long square(unsigned long x)
{
    return x * x;
}

void main(void)
{
    for (unsigned long i = 1; i <= 5; i++) {
        counter = i;
        result += square(i);
    }
    while (spin) {
    }
    *SIFIVE_TEST = result == 55 ? 0x5555 : (1u << 16) | 0x3333;
    for (;;) {
    }
}
