/* Parameters of rv_mmu.c for Sv57 (privileged spec, "Sv57"). */
#include "mmu.h"
const struct paging_scheme paging = { "sv57", 5, 10 };
