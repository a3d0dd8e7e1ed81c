/* RV64I / RV32I base integer instructions: register and immediate
   arithmetic, shifts, compares, branches, jumps, LUI/AUIPC, loads and stores
   of every width with their sign or zero extension. */
#include "ops.h"

#if XLEN == 64
#define XLEN_MAX_SHIFT 63
#else
#define XLEN_MAX_SHIFT 31
#endif

RR(op_add, "add") RR(op_sub, "sub") RR(op_sll, "sll") RR(op_srl, "srl") RR(op_sra, "sra")
RR(op_slt, "slt") RR(op_sltu, "sltu") RR(op_xor, "xor") RR(op_or, "or") RR(op_and, "and")
RI(op_addi_neg, "addi", -2048) RI(op_addi_pos, "addi", 2047) RI(op_slti, "slti", -1)
RI(op_sltiu, "sltiu", -1) RI(op_sltiu1, "sltiu", 1) RI(op_xori, "xori", -1) RI(op_ori, "ori", 0x555)
RI(op_andi, "andi", -16) RI(op_slli, "slli", 7) RI(op_srli, "srli", 1) RI(op_srai, "srai", 1)
RI(op_slli_max, "slli", XLEN_MAX_SHIFT) RI(op_srli_max, "srli", XLEN_MAX_SHIFT) RI(op_srai_max, "srai", XLEN_MAX_SHIFT)
#if XLEN == 64
RR(op_addw, "addw") RR(op_subw, "subw") RR(op_sllw, "sllw") RR(op_srlw, "srlw") RR(op_sraw, "sraw")
RI(op_addiw, "addiw", -1) RI(op_slliw, "slliw", 31) RI(op_srliw, "srliw", 31) RI(op_sraiw, "sraiw", 31)
RI(op_srliw0, "srliw", 0)
#endif

#define BRANCH(fname, insn) \
    static ulong fname(ulong a, ulong b) { \
        ulong taken = 1; \
        asm volatile(insn " %1, %2, 1f\n li %0, 0\n1:" : "+r"(taken) : "r"(a), "r"(b)); \
        return taken; }
BRANCH(br_beq, "beq") BRANCH(br_bne, "bne") BRANCH(br_blt, "blt") BRANCH(br_bge, "bge")
BRANCH(br_bltu, "bltu") BRANCH(br_bgeu, "bgeu")

static u8 memory_area[64] __attribute__((aligned(16)));

static void test_loads_stores(void)
{
    for (int i = 0; i < 64; i++)
        memory_area[i] = (u8)(0x81 + 37 * i);
    ulong r;
#define LOAD(insn, off) \
    asm volatile(insn " %0, " #off "(%1)" : "=r"(r) : "r"(memory_area)); show(insn "_" #off, r);
    LOAD("lb", 0) LOAD("lb", 1) LOAD("lbu", 0) LOAD("lbu", 3) LOAD("lh", 0) LOAD("lh", 6)
    LOAD("lhu", 0) LOAD("lhu", 6) LOAD("lw", 0) LOAD("lw", 4)
#if XLEN == 64
    LOAD("lwu", 0) LOAD("lwu", 4) LOAD("ld", 8) LOAD("ld", 16)
#endif
    ulong pattern = X(0x1122334455667788, 0x11223344);
#define STORE(insn, off) \
    asm volatile(insn " %0, " #off "(%1)" :: "r"(pattern), "r"(memory_area + 32) : "memory");
    STORE("sb", 1) STORE("sh", 2) STORE("sw", 4)
#if XLEN == 64
    STORE("sd", 8)
#endif
    ulong h = DIGEST_INIT;
    for (int i = 32; i < 48; i++)
        h = digest_add(h, memory_area[i]);
    show("stores", h);
    /* negative offsets address below the base register */
    asm volatile("lbu %0, -1(%1)" : "=r"(r) : "r"(memory_area + 33));
    check("lbu_negative_offset", r, memory_area[32]);
}

static void test_upper_immediates_and_jumps(void)
{
    ulong r;
    asm volatile("lui %0, 0x80000" : "=r"(r));
    show("lui_0x80000", r);
    asm volatile("lui %0, 0xfffff" : "=r"(r));
    show("lui_0xfffff", r);
    asm volatile("lui %0, 0x7ffff" : "=r"(r));
    show("lui_0x7ffff", r);
    ulong here, label;
    asm volatile("1: auipc %0, 0\n la %1, 1b" : "=r"(here), "=r"(label));
    check("auipc_is_pc", here - label, 0);
    asm volatile("1: auipc %0, 0x1\n la %1, 1b" : "=r"(here), "=r"(label));
    check("auipc_0x1000", here - label, 0x1000);
    /* jalr clears bit 0 of the target and writes pc + 4 */
    ulong link, back;
    asm volatile("la t0, 2f\n addi t0, t0, 1\n 1: jalr %0, 0(t0)\n li %0, 0\n 2: la %1, 1b"
                 : "=r"(link), "=r"(back) :: "t0");
    check("jalr_link", link - back, 4);
    asm volatile("1: jal %0, 2f\n nop\n 2: la %1, 1b" : "=r"(link), "=r"(back));
    check("jal_link", link - back, 4);
    /* writes to x0 are discarded */
    asm volatile("li x0, 5\n mv %0, x0" : "=r"(r));
    check("x0", r, 0);
}

int main(void)
{
    print("rv_int\n");
    digest_binop("add", op_add); digest_binop("sub", op_sub); digest_binop("sll", op_sll);
    digest_binop("srl", op_srl); digest_binop("sra", op_sra); digest_binop("slt", op_slt);
    digest_binop("sltu", op_sltu); digest_binop("xor", op_xor); digest_binop("or", op_or);
    digest_binop("and", op_and);
    digest_unop("addi_-2048", op_addi_neg); digest_unop("addi_2047", op_addi_pos);
    digest_unop("slti_-1", op_slti); digest_unop("sltiu_-1", op_sltiu); digest_unop("sltiu_1", op_sltiu1);
    digest_unop("xori_-1", op_xori); digest_unop("ori", op_ori); digest_unop("andi", op_andi);
    digest_unop("slli_7", op_slli); digest_unop("srli_1", op_srli); digest_unop("srai_1", op_srai);
    digest_unop("slli_max", op_slli_max); digest_unop("srli_max", op_srli_max);
    digest_unop("srai_max", op_srai_max);
#if XLEN == 64
    digest_binop("addw", op_addw); digest_binop("subw", op_subw); digest_binop("sllw", op_sllw);
    digest_binop("srlw", op_srlw); digest_binop("sraw", op_sraw);
    digest_unop("addiw", op_addiw); digest_unop("slliw", op_slliw); digest_unop("srliw", op_srliw);
    digest_unop("sraiw", op_sraiw); digest_unop("srliw_0", op_srliw0);
#endif
    digest_binop("beq", br_beq); digest_binop("bne", br_bne); digest_binop("blt", br_blt);
    digest_binop("bge", br_bge); digest_binop("bltu", br_bltu); digest_binop("bgeu", br_bgeu);
    /* spot checks that do not rely on the reference emulator */
    check("sra_min", op_sra(X(0x8000000000000000, 0x80000000), XLEN - 1), (ulong)-1);
    check("sltu_0_-1", op_sltu(0, (ulong)-1), 1);
    check("slt_-1_0", op_slt((ulong)-1, 0), 1);
    check("sll_masks_shamt", op_sll(1, XLEN + 3), 8);
#if XLEN == 64
    check("addw_sign_extends", op_addw(0x7fffffff, 1), 0xffffffff80000000UL);
    check("srlw_zero_extends_then_signs", op_srlw(0xffffffff00000000UL | 0x80000000, 0), 0xffffffff80000000UL);
#endif
    test_loads_stores();
    test_upper_immediates_and_jumps();
    return failures();
}
