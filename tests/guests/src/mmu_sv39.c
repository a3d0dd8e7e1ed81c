/* Parameters of rv_mmu.c for Sv39 (privileged spec, "Sv39"). */
#include "mmu.h"
const struct paging_scheme paging = { "sv39", 3, 8 };
