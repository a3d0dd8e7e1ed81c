/* Parameters of rv_mmu.c for Sv32 (privileged spec, "Sv32"). */
#include "mmu.h"
const struct paging_scheme paging = { "sv32", 2, 1 };
