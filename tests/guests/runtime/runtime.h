/* The test guests' runtime: UART output, exit through the SiFive test
   device, CSR access and an M/S-mode trap handler that lets a test expect
   a trap. */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

typedef unsigned long ulong;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define XLEN __riscv_xlen
#define ECALL_RETURN_TO_M 0x5e7e

#define csr_read(csr) ({ ulong __v; asm volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) asm volatile("csrw " #csr ", %0" :: "r"((ulong)(val)) : "memory")
#define csr_set(csr, val) asm volatile("csrs " #csr ", %0" :: "r"((ulong)(val)) : "memory")
#define csr_clear(csr, val) asm volatile("csrc " #csr ", %0" :: "r"((ulong)(val)) : "memory")
#define csr_swap(csr, val) ({ ulong __v; asm volatile("csrrw %0, " #csr ", %1" : "=r"(__v) : "r"((ulong)(val)) : "memory"); __v; })

/* mstatus fields (privileged spec, "Machine Status Register") */
#define MSTATUS_SIE  (1UL << 1)
#define MSTATUS_MIE  (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP  (1UL << 8)
#define MSTATUS_MPP  (3UL << 11)
#define MSTATUS_FS   (3UL << 13)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM  (1UL << 18)
#define MSTATUS_MXR  (1UL << 19)
#define MSTATUS_TVM  (1UL << 20)
#define MSTATUS_TW   (1UL << 21)
#define MSTATUS_TSR  (1UL << 22)

/* exception codes (privileged spec, mcause table) */
enum cause {
    CAUSE_MISALIGNED_FETCH = 0, CAUSE_FETCH_ACCESS = 1, CAUSE_ILLEGAL_INSTRUCTION = 2,
    CAUSE_BREAKPOINT = 3, CAUSE_MISALIGNED_LOAD = 4, CAUSE_LOAD_ACCESS = 5,
    CAUSE_MISALIGNED_STORE = 6, CAUSE_STORE_ACCESS = 7, CAUSE_USER_ECALL = 8,
    CAUSE_SUPERVISOR_ECALL = 9, CAUSE_MACHINE_ECALL = 11, CAUSE_FETCH_PAGE_FAULT = 12,
    CAUSE_LOAD_PAGE_FAULT = 13, CAUSE_STORE_PAGE_FAULT = 15,
};
#define CAUSE_INTERRUPT (1UL << (XLEN - 1))
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11

/* QEMU virt board addresses */
#define UART0_BASE 0x10000000UL
#define SIFIVE_TEST_BASE 0x100000UL
#define CLINT_BASE 0x2000000UL
#define CLINT_MSIP0 CLINT_BASE
#define CLINT_MTIMECMP0 (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)

void putchar_uart(char c);
void print(const char *s);
void print_hex(ulong v);          /* 0x + XLEN/4 digits */
void print_hex64(u64 v);          /* 0x + 16 digits */
void print_dec(long v);
void show(const char *name, ulong v);     /* "name=0x...\n" */
void show64(const char *name, u64 v);
/* Prints "name=0x..." and, when it differs from want, " MISMATCH want=0x..."
   and counts a failure; main() returns failures() so QEMU proves the guest. */
void check(const char *name, ulong got, ulong want);
void check64(const char *name, u64 got, u64 want);
int failures(void);
/* For the rare places where QEMU 7.2 deviates from the spec: prints
   "spec-only name=0x..." (plus " MISMATCH want=..." when it differs) without
   counting a failure.  The harness leaves these lines out of the comparison
   with QEMU and instead requires pyqemu to print them without MISMATCH. */
void check_spec(const char *name, ulong got, ulong want);
void exit(int code) __attribute__((noreturn));

/* Traps.  A test calls expect_trap() before an instruction that must trap;
   the handler prints "trap: mcause=... mtval=... mepc=..." (or scause/stval/
   sepc), records the values and resumes after the trapping instruction, or
   at trap_resume when that is set (needed when the instruction itself
   cannot be read, e.g. fetch faults).  An unexpected trap ends the guest
   with exit code 0x7f. */
struct trap_record {
    ulong cause, tval, epc;
    ulong status;   /* mstatus (or sstatus) as the handler found it */
    ulong count;
};
extern volatile struct trap_record last_trap;
extern volatile int trap_expected;
extern volatile ulong trap_resume;
/* Called for interrupts (after which the handler returns); may be NULL. */
extern void (*volatile m_interrupt_hook)(ulong cause);
extern void (*volatile s_interrupt_hook)(ulong cause);
void expect_trap(void);
/* Like expect_trap(), but neither the handler nor trap_outcome() prints:
   for traps whose details QEMU 7.2 gets wrong (checked with check_spec()). */
void expect_trap_quietly(void);
extern volatile int trap_quiet;
/* Which trap handler saw the last expected trap: 'M' or 'S'. */
extern volatile char last_trap_mode;
/* Prints "<label>: no trap" or the trap and returns the cause (or -1). */
long trap_outcome(const char *label);

struct trap_frame { ulong regs[32]; };
void m_trap_handler(struct trap_frame *f);
void s_trap_handler(struct trap_frame *f);
extern char m_trap_entry[], s_trap_entry[];
extern char __strap_stack_top[];
/* Installs the S-mode trap entry (stvec, sscratch). */
void install_s_trap(void);

ulong run_in_mode(ulong mode, ulong (*fn)(ulong), ulong arg);
#define MODE_U 0
#define MODE_S 1

static inline void mmio_write32(ulong addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u32 mmio_read32(ulong addr) { return *(volatile u32 *)addr; }

#endif
