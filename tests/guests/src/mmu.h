/* Page-table building for the MMU guests (privileged spec, "Supervisor-Level
   ISA", virtual-memory sections). */
#ifndef GUEST_MMU_H
#define GUEST_MMU_H
#include "runtime.h"

struct paging_scheme {
    const char *name;
    int levels;
    ulong satp_mode;
};
extern const struct paging_scheme paging;

#if XLEN == 64
typedef u64 pte_t;
#define VPN_BITS 9
#define SATP_MODE_SHIFT 60
#else
typedef u32 pte_t;
#define VPN_BITS 10
#define SATP_MODE_SHIFT 31
#endif
#define PAGE_SIZE 4096UL
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define PTE_PPN_SHIFT 10
#endif
