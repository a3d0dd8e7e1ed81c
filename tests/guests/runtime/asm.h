/* Width-independent assembler helpers shared by the runtime's .S files. */
#ifndef GUEST_ASM_H
#define GUEST_ASM_H
#if __riscv_xlen == 64
#define LREG ld
#define SREG sd
#define REGBYTES 8
#else
#define LREG lw
#define SREG sw
#define REGBYTES 4
#endif
#define TRAP_FRAME_BYTES (32 * REGBYTES)
/* a7 value of the ecall with which code in S/U mode hands control back to
   the M-mode caller of run_in_mode(). */
#define ECALL_RETURN_TO_M 0x5e7e
#endif
