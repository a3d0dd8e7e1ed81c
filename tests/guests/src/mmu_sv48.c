/* Parameters of rv_mmu.c for Sv48 (privileged spec, "Sv48"). */
#include "mmu.h"
const struct paging_scheme paging = { "sv48", 4, 9 };
