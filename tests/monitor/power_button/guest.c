/* A guest that handles the power button: it drives the virtio input
   device it finds in the virt board's virtio-mmio slots (legacy interface,
   virtio spec 4.2.4, as QEMU 7.2's force-legacy default), waits for its
   PLIC interrupt, and on KEY_POWER pressed powers off through the SiFive
   test device. UART output: "ready" once the driver is set up, then
   "power key" and the exit. */

typedef unsigned long ulong;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define UART ((volatile u8 *)0x10000000)
#define SIFIVE_TEST ((volatile u32 *)0x100000)
#define VIRTIO_BASE 0x10001000UL
#define VIRTIO_SLOTS 8
#define PLIC 0x0c000000UL
#define QSIZE 8

/* virtio-mmio legacy registers */
enum { MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, GUEST_FEATURES = 0x020,
       GUEST_PAGE_SIZE = 0x028, QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038,
       QUEUE_ALIGN = 0x03c, QUEUE_PFN = 0x040, QUEUE_NOTIFY = 0x050, INTERRUPT_STATUS = 0x060,
       INTERRUPT_ACK = 0x064, STATUS = 0x070 };

struct desc { unsigned long long addr; u32 len; u16 flags; u16 next; };
struct event { u16 type; u16 code; u32 value; };

static u8 ring[2 * 4096] __attribute__((aligned(4096)));
static struct event events[QSIZE];

static void put(const char *s)
{
    while (*s)
        *UART = *s++;
}

static volatile u32 *reg(ulong base, ulong off) { return (volatile u32 *)(base + off); }

void main(void)
{
    ulong base = 0;
    int slot;
    for (slot = 0; slot < VIRTIO_SLOTS; slot++) {
        ulong b = VIRTIO_BASE + 0x1000UL * slot;
        if (*reg(b, MAGIC) == 0x74726976 && *reg(b, VERSION) == 1 && *reg(b, DEVICE_ID) == 18) {
            base = b;
            break;
        }
    }
    if (!base) {
        put("no virtio input device\n");
        *SIFIVE_TEST = (2u << 16) | 0x3333;
    }
    for (ulong i = 0; i < sizeof ring; i++)
        ring[i] = 0;
    *reg(base, STATUS) = 0;
    *reg(base, STATUS) = 1 | 2;                       /* ACKNOWLEDGE, DRIVER */
    *reg(base, GUEST_FEATURES) = 0;
    *reg(base, GUEST_PAGE_SIZE) = 4096;
    *reg(base, QUEUE_SEL) = 0;                          /* eventq */
    *reg(base, QUEUE_NUM) = QSIZE;
    *reg(base, QUEUE_ALIGN) = 4096;
    *reg(base, QUEUE_PFN) = (ulong)ring >> 12;
    struct desc *desc = (struct desc *)ring;
    volatile u16 *avail = (volatile u16 *)(ring + 16 * QSIZE);   /* flags, idx, ring[] */
    volatile u16 *used = (volatile u16 *)(ring + 4096);          /* flags, idx, {id, len}[] */
    for (int i = 0; i < QSIZE; i++) {
        desc[i].addr = (ulong)&events[i];
        desc[i].len = sizeof(struct event);
        desc[i].flags = 2;                              /* VIRTQ_DESC_F_WRITE */
        avail[2 + i] = i;
    }
    __sync_synchronize();
    avail[1] = QSIZE;
    *reg(base, STATUS) = 1 | 2 | 4;                   /* DRIVER_OK */
    *reg(base, QUEUE_NOTIFY) = 0;

    /* PLIC source slot + 1, enabled for hart 0's M-mode context. WFI wakes
       on the pending interrupt with mstatus.MIE clear: no trap vector. */
    u32 irq = slot + 1;
    *(volatile u32 *)(PLIC + 4 * irq) = 1;
    *(volatile u32 *)(PLIC + 0x2000 + 4 * (irq / 32)) = 1u << (irq % 32);
    *(volatile u32 *)(PLIC + 0x200000) = 0;
    asm volatile("csrs mie, %0" :: "r"(1UL << 11));
    put("ready\n");

    u16 seen = 0;
    for (;;) {
        asm volatile("wfi");
        u32 claim = *(volatile u32 *)(PLIC + 0x200004);
        *reg(base, INTERRUPT_ACK) = *reg(base, INTERRUPT_STATUS);
        __sync_synchronize();
        while (seen != used[1]) {
            u32 id = *(volatile u32 *)((ulong)used + 4 + 8 * (seen % QSIZE));
            struct event *e = &events[id];
            if (e->type == 1 && e->code == 116 && e->value == 1) {
                put("power key\n");
                *SIFIVE_TEST = 0x5555;
            }
            seen++;
        }
        if (claim)
            *(volatile u32 *)(PLIC + 0x200004) = claim;
    }
}
