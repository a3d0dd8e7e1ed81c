/* C extension: see compressed_ops.S; this prints and checks its results. */
#include "ops.h"

void compressed_ops(ulong *out);

int main(void)
{
    static ulong out[64];
    static const char *const names[] = {
        "c.li_-32", "c.li_31", "c.lui_neg", "c.lui_1", "c.addi_-1", "c.addi_31",
#if XLEN == 64
        "c.addiw_overflow", "c.addiw_sext", "c.addw", "c.subw",
#endif
        "c.addi16sp", "c.addi4spn", "c.slli", "c.srli", "c.srai", "c.andi_neg", "c.andi_pos",
        "c.mv", "c.add", "c.sub", "c.xor", "c.or", "c.and", "c.sw_lw", "c.lw_s1", "c.swsp_lwsp",
#if XLEN == 64
        "c.sd_ld", "c.sdsp_ldsp",
#else
        "c.flw_fsw", "c.fswsp_flwsp",
#endif
        "c.fld_fsd", "c.fsdsp_fldsp", "c.beqz", "c.bnez_taken", "c.bnez_not_taken",
        "c.j", "c.jr", "c.jalr_link",
#if XLEN == 32
        "c.jal_link",
#endif
    };
    print("rv_compressed\n");
    compressed_ops(out);
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        show(names[i], out[i]);
    check("c.li_-32", out[0], (ulong)-32);
    check("c.lui_neg", out[2], (ulong)-31 << 12);
    return failures();
}
