/* The runtime itself: UART output, the hart id and a clean exit. */
#include "runtime.h"

int main(void)
{
    print("hello from the guest\n");
    check("mhartid", csr_read(mhartid), 0);
    /* QEMU 7.2 also sets H (bit 7); pyqemu has no hypervisor extension, so
       only the rest of misa must agree: MXL, IMAFDC, S and U. */
    check("misa_without_h", csr_read(misa) & ~(1UL << 7),
          XLEN == 64 ? 0x800000000014112dUL : 0x4014112dUL);
    return failures();
}
