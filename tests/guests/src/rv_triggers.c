/* Debug triggers (Sdtrig, mcontrol = type 2): execute, load and store
   address matches raise a breakpoint exception before the instruction or
   the access happens, with the address in mtval; triggers for other
   privilege modes or other addresses stay quiet. */
#include "runtime.h"

#define MCONTROL_TYPE (2UL << (XLEN - 4))
#define MCONTROL_M (1UL << 6)
#define MCONTROL_S (1UL << 4)
#define MCONTROL_U (1UL << 3)
#define MCONTROL_EXECUTE (1UL << 2)
#define MCONTROL_STORE (1UL << 1)
#define MCONTROL_LOAD (1UL << 0)

static volatile u32 watched[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };

/* Starts with a 4-byte nop so the handler may skip the first instruction. */
extern char trigger_target[];
asm(".text\n.balign 4\n.option push\n.option norvc\n"
    "trigger_target: addi x0, x0, 0\n addi a0, a0, 100\n ret\n.option pop\n");

static ulong call_target(ulong arg) { return ((ulong (*)(ulong))(void *)trigger_target)(arg); }
static ulong load_watched(ulong i) { return watched[i]; }
static ulong store_watched(ulong i) { watched[i] = 0xdead; return 0; }

static void arm(ulong control, ulong address)
{
    csr_write(tselect, 0);
    csr_write(tdata1, 0);
    csr_write(tdata2, address);
    csr_write(tdata1, MCONTROL_TYPE | control);
}

static void run(const char *label, ulong mode, ulong (*fn)(ulong), ulong arg)
{
    expect_trap();
    ulong v = run_in_mode(mode, fn, arg);
    if (trap_outcome(label) == -1)
        show("value", v);
    else
        show("mtval", last_trap.tval);
}

int main(void)
{
    print("rv_triggers\n");
    csr_write(tselect, 0);
    check("tselect", csr_read(tselect), 0);
    arm(MCONTROL_S | MCONTROL_EXECUTE, (ulong)trigger_target);
    check("tdata1_readback", csr_read(tdata1), MCONTROL_TYPE | MCONTROL_S | MCONTROL_EXECUTE);
    check("tdata2_readback", csr_read(tdata2), (ulong)trigger_target);

    run("execute_in_s", MODE_S, call_target, 1);
    check("execute_epc", last_trap.epc, (ulong)trigger_target);
    run("execute_in_u_not_armed", MODE_U, call_target, 2);
    arm(MCONTROL_U | MCONTROL_EXECUTE, (ulong)trigger_target);
    run("execute_in_u", MODE_U, call_target, 3);
    arm(MCONTROL_S | MCONTROL_EXECUTE, (ulong)trigger_target + 4);
    run("execute_second_instruction", MODE_S, call_target, 4);
    check("second_epc", last_trap.epc, (ulong)trigger_target + 4);

    arm(MCONTROL_S | MCONTROL_LOAD, (ulong)&watched[1]);
    run("load_match", MODE_S, load_watched, 1);
    /* 8 bytes away: QEMU 7.2 watches an XLEN-sized window when size is 0 */
    run("load_other_word", MODE_S, load_watched, 3);
    run("store_not_load", MODE_S, store_watched, 1);
    check("store_done", watched[1], 0xdead);

    watched[2] = 0x3333;
    arm(MCONTROL_S | MCONTROL_STORE, (ulong)&watched[2]);
    run("store_match", MODE_S, store_watched, 2);
    check("store_prevented", watched[2], 0x3333);
    run("load_not_store", MODE_S, load_watched, 2);

    /* cleared tdata1: nothing fires */
    csr_write(tdata1, 0);
    run("disabled", MODE_S, call_target, 5);
    return failures();
}
