/* A guest for snapshot and migration tests: it runs forever, and on a
   pace set by the `time` CSR (10 MHz on virt) it
   - prints "count N" on the UART,
   - writes record N (sector N: "REC N" and a filler derived from N) to the
     virtio-blk disk in the first -device slot (0x10008000, legacy
     virtio-mmio as QEMU 7.2 runs it), up to MAX_RECORDS,
   - checks that every page of its dirty buffer still holds the previous
     counter, then stamps the new one (so a lost page shows as "BAD"),
   and between ticks keeps dirtying that buffer (4096 stores), then waits in
   WFI for the CLINT timer interrupt (mtimecmp): a timer that is not
   re-armed after a migration or loadvm leaves the guest asleep for good.
   Under QEMU and pyqemu alike the console must continue with N+1 after a
   migration or loadvm, and the disk must hold records 0..N in order. */
#include "runtime.h"

#define VIRTIO_BASE 0x10008000UL
#define VQ_MAGIC 0x000
#define VQ_VERSION 0x004
#define VQ_DEVICE_ID 0x008
#define VQ_GUEST_FEATURES 0x020
#define VQ_GUEST_PAGE_SIZE 0x028
#define VQ_QUEUE_SEL 0x030
#define VQ_QUEUE_NUM 0x038
#define VQ_QUEUE_ALIGN 0x03c
#define VQ_QUEUE_PFN 0x040
#define VQ_QUEUE_NOTIFY 0x050
#define VQ_INT_STATUS 0x060
#define VQ_INT_ACK 0x064
#define VQ_STATUS 0x070

#define QSIZE 4
#define TICK (10000000UL / 20)       /* 50 ms of guest time */
#define MAX_RECORDS 4000UL
#define DIRTY_PAGES 256              /* 1 MiB kept dirty */
#define DIRTY_ROUND 4096             /* stores between two ticks */

struct desc { u64 addr; u32 len; u16 flags; u16 next; };

/* Legacy layout (virtio 1.x, 2.7.2 legacy interfaces): descriptors, then
   the available ring, then the used ring at the next 4 KiB boundary. */
static struct {
    struct desc d[QSIZE];
    u16 avail_flags, avail_idx, avail_ring[QSIZE], used_event;
    u8 pad[4096 - 16 * QSIZE - 6 - 2 * QSIZE];
    volatile u16 used_flags, used_idx;
    struct { u32 id, len; } used_ring[QSIZE];
} ring __attribute__((aligned(4096)));

static struct { u32 type, reserved; u64 sector; } req_hdr;
static char record[512];
static volatile u8 req_status;
static volatile u64 dirty[DIRTY_PAGES][512] __attribute__((aligned(4096)));
static int have_disk;

static void virtio_setup(void)
{
    if (mmio_read32(VIRTIO_BASE + VQ_MAGIC) != 0x74726976 ||
        mmio_read32(VIRTIO_BASE + VQ_DEVICE_ID) != 2) {
        print("no disk\n");
        return;
    }
    mmio_write32(VIRTIO_BASE + VQ_STATUS, 0);
    mmio_write32(VIRTIO_BASE + VQ_STATUS, 1 | 2);            /* ACKNOWLEDGE | DRIVER */
    mmio_write32(VIRTIO_BASE + VQ_GUEST_FEATURES, 0);
    mmio_write32(VIRTIO_BASE + VQ_GUEST_PAGE_SIZE, 4096);
    mmio_write32(VIRTIO_BASE + VQ_QUEUE_SEL, 0);
    mmio_write32(VIRTIO_BASE + VQ_QUEUE_NUM, QSIZE);
    mmio_write32(VIRTIO_BASE + VQ_QUEUE_ALIGN, 4096);
    mmio_write32(VIRTIO_BASE + VQ_QUEUE_PFN, (u32)((ulong)&ring >> 12));
    mmio_write32(VIRTIO_BASE + VQ_STATUS, 1 | 2 | 4);        /* DRIVER_OK */
    have_disk = 1;
}

static void write_record(ulong n)
{
    int i;
    const char *p = "REC ";
    for (i = 0; i < 4; i++)
        record[i] = p[i];
    for (i = 0; i < 8; i++)                     /* decimal, 8 digits */
        record[4 + i] = '0' + (char)((n / (ulong[]){10000000, 1000000, 100000, 10000,
                                                      1000, 100, 10, 1}[i]) % 10);
    record[12] = '\n';
    for (i = 13; i < 512; i++)
        record[i] = (char)('a' + (n + i) % 26);
    req_hdr.type = 1;                           /* VIRTIO_BLK_T_OUT */
    req_hdr.sector = n;
    req_status = 0xff;
    ring.d[0] = (struct desc){(ulong)&req_hdr, sizeof req_hdr, 1, 1};
    ring.d[1] = (struct desc){(ulong)record, 512, 1, 2};
    ring.d[2] = (struct desc){(ulong)&req_status, 1, 2, 0};
    ring.avail_ring[ring.avail_idx % QSIZE] = 0;
    u16 want = ring.used_idx + 1;
    asm volatile("fence" ::: "memory");
    ring.avail_idx++;
    asm volatile("fence" ::: "memory");
    mmio_write32(VIRTIO_BASE + VQ_QUEUE_NOTIFY, 0);
    while (ring.used_idx != want)
        ;
    mmio_write32(VIRTIO_BASE + VQ_INT_ACK, mmio_read32(VIRTIO_BASE + VQ_INT_STATUS));
    if (req_status != 0) {
        print("record ");
        print_dec((long)n);
        print(" failed\n");
    }
}

int main(void)
{
    ulong n = 0, next, spin = 0;
    int p;
    virtio_setup();
    print("migrate guest up\n");
    next = csr_read(time);
    csr_clear(mstatus, MSTATUS_MIE);
    csr_set(mie, 1UL << IRQ_M_TIMER);
    for (;;) {
        for (p = 0; p < DIRTY_PAGES; p++) {
            if (n && dirty[p][0] != n - 1) {
                print("BAD page ");
                print_dec(p);
                print("\n");
            }
            dirty[p][0] = n;
        }
        if (have_disk && n < MAX_RECORDS)
            write_record(n);
        print("count ");
        print_dec((long)n);
        print("\n");
        n++;
        next += TICK;
        *(volatile u64 *)CLINT_MTIMECMP0 = next;
        /* Keep dirtying a bounded while (a bound in work, not in time: under
           -icount time is counted in instructions), one word in a
           different page each time round. */
        for (p = 0; p < DIRTY_ROUND && csr_read(time) < next; p++) {
            dirty[spin % DIRTY_PAGES][1 + spin % 511] = spin;
            spin += 7;
        }
        /* Interrupts stay globally off (mstatus.MIE = 0): WFI still wakes
           on the pending, enabled MTIP, and no handler runs. */
        while (!(csr_read(mip) & (1UL << IRQ_M_TIMER)))
            asm volatile("wfi");
    }
    return 0;
}
