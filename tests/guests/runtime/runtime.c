#include "runtime.h"

#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20

void putchar_uart(char c)
{
    volatile u8 *uart = (volatile u8 *)UART0_BASE;
    while (!(uart[UART_LSR] & UART_LSR_THRE))
        ;
    uart[UART_THR] = (u8)c;
}

void print(const char *s)
{
    while (*s)
        putchar_uart(*s++);
}

static void print_hex_digits(u64 v, int digits)
{
    print("0x");
    for (int i = digits - 1; i >= 0; i--)
        putchar_uart("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}

void print_hex(ulong v) { print_hex_digits(v, XLEN / 4); }
void print_hex64(u64 v) { print_hex_digits(v, 16); }

void print_dec(long v)
{
    char buf[24];
    int n = 0;
    ulong u = v < 0 ? -(ulong)v : (ulong)v;
    if (v < 0)
        putchar_uart('-');
    do {
        /* repeated subtraction keeps rv32 free of libgcc's division */
        ulong q = 0, r = u;
        while (r >= 10) { r -= 10; q++; }
        buf[n++] = '0' + r;
        u = q;
    } while (u);
    while (n)
        putchar_uart(buf[--n]);
}

void show(const char *name, ulong v)
{
    print(name);
    putchar_uart('=');
    print_hex(v);
    putchar_uart('\n');
}

void show64(const char *name, u64 v)
{
    print(name);
    putchar_uart('=');
    print_hex64(v);
    putchar_uart('\n');
}

static int failure_count;

int failures(void) { return failure_count; }

void check64(const char *name, u64 got, u64 want)
{
    print(name);
    putchar_uart('=');
    print_hex64(got);
    if (got != want) {
        print(" MISMATCH want=");
        print_hex64(want);
        failure_count++;
    }
    putchar_uart('\n');
}

void check_spec(const char *name, ulong got, ulong want)
{
    print("spec-only ");
    print(name);
    putchar_uart('=');
    print_hex(got);
    if (got != want) {
        print(" MISMATCH want=");
        print_hex(want);
    }
    putchar_uart('\n');
}

void check(const char *name, ulong got, ulong want)
{
    print(name);
    putchar_uart('=');
    print_hex(got);
    if (got != want) {
        print(" MISMATCH want=");
        print_hex(want);
        failure_count++;
    }
    putchar_uart('\n');
}

#define SIFIVE_TEST_PASS 0x5555
#define SIFIVE_TEST_FAIL 0x3333

void exit(int code)
{
    print(code ? "exit: FAIL " : "exit: PASS ");
    print_dec(code);
    putchar_uart('\n');
    u32 value = code ? ((u32)code << 16) | SIFIVE_TEST_FAIL : SIFIVE_TEST_PASS;
    mmio_write32(SIFIVE_TEST_BASE, value);
    for (;;)
        asm volatile("wfi");
}

volatile struct trap_record last_trap;
volatile int trap_expected;
volatile ulong trap_resume;
volatile char last_trap_mode;
volatile int trap_quiet;
void (*volatile m_interrupt_hook)(ulong cause);
void (*volatile s_interrupt_hook)(ulong cause);

void expect_trap(void)
{
    last_trap.cause = (ulong)-1;
    last_trap.tval = 0;
    last_trap.epc = 0;
    trap_expected = 1;
}

void expect_trap_quietly(void)
{
    expect_trap();
    trap_quiet = 1;
}

long trap_outcome(const char *label)
{
    if (trap_quiet) {
        trap_quiet = 0;
        if (trap_expected) {
            trap_expected = 0;
            return -1;
        }
        return (long)last_trap.cause;
    }
    print(label);
    if (trap_expected) {
        trap_expected = 0;
        print(": no trap\n");
        return -1;
    }
    print(": trapped cause=");
    print_hex(last_trap.cause);
    putchar_uart('\n');
    return (long)last_trap.cause;
}

static ulong instruction_length(ulong pc)
{
    /* Two low bits 11 mean a 32-bit instruction; read as halfwords since
       pc may be only 2-aligned. */
    return (*(volatile u16 *)pc & 3) == 3 ? 4 : 2;
}

extern char resume_m[];

static void report(char mode, ulong cause, ulong tval, ulong epc)
{
    print(mode == 'M' ? "trap: mcause=" : "trap: scause=");
    print_hex(cause);
    print(mode == 'M' ? " mtval=" : " stval=");
    print_hex(tval);
    print(mode == 'M' ? " mepc=" : " sepc=");
    print_hex(epc);
    putchar_uart('\n');
}

void m_trap_handler(struct trap_frame *f)
{
    ulong cause = csr_read(mcause);
    ulong epc = csr_read(mepc);
    ulong tval = csr_read(mtval);

    if ((cause == CAUSE_USER_ECALL || cause == CAUSE_SUPERVISOR_ECALL)
        && f->regs[17] == ECALL_RETURN_TO_M) {
        /* back in M with interrupts off, as before run_in_mode */
        csr_set(mstatus, MSTATUS_MPP);
        csr_clear(mstatus, MSTATUS_MPIE);
        csr_write(mepc, (ulong)resume_m);
        return;
    }
    if (cause & CAUSE_INTERRUPT) {
        if (m_interrupt_hook) {
            m_interrupt_hook(cause);
            return;
        }
    } else if (trap_expected) {
        trap_expected = 0;
        last_trap_mode = 'M';
        last_trap.cause = cause;
        last_trap.tval = tval;
        last_trap.epc = epc;
        last_trap.status = csr_read(mstatus);
        last_trap.count++;
        if (!trap_quiet)
            report('M', cause, tval, epc);
        if (trap_resume) {
            csr_write(mepc, trap_resume);
            trap_resume = 0;
        } else {
            csr_write(mepc, epc + instruction_length(epc));
        }
        return;
    }
    print("unexpected ");
    report('M', cause, tval, epc);
    exit(0x7f);
}

void s_trap_handler(struct trap_frame *f)
{
    ulong cause = csr_read(scause);
    ulong epc = csr_read(sepc);
    ulong tval = csr_read(stval);

    if (cause == CAUSE_USER_ECALL && f->regs[17] == ECALL_RETURN_TO_M) {
        /* run_in_mode's exit ecall was delegated to S: pass it on to M,
           keeping the U-mode result in a0. */
        register ulong a0 asm("a0") = f->regs[10];
        register ulong a7 asm("a7") = ECALL_RETURN_TO_M;
        asm volatile("ecall" :: "r"(a0), "r"(a7));
    }
    if (cause & CAUSE_INTERRUPT) {
        if (s_interrupt_hook) {
            s_interrupt_hook(cause);
            return;
        }
    } else if (trap_expected) {
        trap_expected = 0;
        last_trap_mode = 'S';
        last_trap.cause = cause;
        last_trap.tval = tval;
        last_trap.epc = epc;
        last_trap.status = csr_read(sstatus);
        last_trap.count++;
        if (!trap_quiet)
            report('S', cause, tval, epc);
        if (trap_resume) {
            csr_write(sepc, trap_resume);
            trap_resume = 0;
        } else {
            csr_write(sepc, epc + instruction_length(epc));
        }
        return;
    }
    print("unexpected ");
    report('S', cause, tval, epc);
    /* exit() works from S mode: the test device is plain MMIO. */
    exit(0x7e);
}

void install_s_trap(void)
{
    csr_write(stvec, (ulong)s_trap_entry);
    csr_write(sscratch, (ulong)__strap_stack_top);
}
