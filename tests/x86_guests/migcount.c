/* Test guest for live migration and snapshots: forever, one tick after
 * another, it
 *  - checks that every page of a 1 MiB buffer still holds the previous
 *    tick's number, then writes this tick's number into each (so RAM keeps
 *    changing: the migration's later passes have pages to resend, and a
 *    page lost on the way shows as "FAIL dirt");
 *  - writes record N to sector N of its virtio-blk disk: "REC " + N as 16
 *    hex digits, the rest of the sector filled with N's low byte;
 *  - prints "count N" on the serial port;
 *  - spins `delay=` loops (command line, default 20000).
 * Interrupts stay off: the disk is polled, as in blk.c. */
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_T_OUT 1
#define DIRT_PAGES 256

struct blk_req { u32 type; u32 reserved; u64 sector; };

static u8 ring[8192] __attribute__((aligned(4096)));
static struct blk_req req;
static u8 data[512] __attribute__((aligned(512)));
static volatile u8 status;
static struct vq q;
static volatile u64 dirt[DIRT_PAGES * 512] __attribute__((aligned(4096)));

static int write_record(u64 n)
{
	static const char hex[] = "0123456789abcdef";
	memset(data, (int)(n & 0xff), sizeof data);
	memcpy(data, "REC ", 4);
	for (int i = 0; i < 16; i++)
		data[4 + i] = hex[(n >> (60 - 4 * i)) & 0xf];
	req.type = VIRTIO_BLK_T_OUT;
	req.reserved = 0;
	req.sector = n;
	status = 0xff;
	q.desc[0] = (struct vring_desc){ (u64)&req, sizeof req, VRING_DESC_F_NEXT, 1 };
	q.desc[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_NEXT, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	if (virtio_submit(&q, 0, 1UL << 40))
		return -1;
	return status;
}

int main(const void *mbi)
{
	const char *cmdline = mb_cmdline(mbi);
	u64 delay = cmdline_number(cmdline, "delay", 20000);
	u64 base = virtio_find(VIRTIO_ID_BLOCK);
	if (!base || virtio_init(&q, base, ring)) {
		puts("FAIL: no virtio-blk device\n");
		return 2;
	}
	u64 capacity = *(volatile u64 *)(base + VMMIO_CONFIG);
	puts("migcount ready\n");
	for (u64 n = 1;; n++) {
		for (int p = 0; p < DIRT_PAGES; p++) {
			if (dirt[p * 512] != n - 1) {
				puts("FAIL dirt at tick ");
				putdec(n);
				puts("\n");
				return 3;
			}
			dirt[p * 512] = n;
		}
		if (n < capacity && write_record(n)) {
			puts("FAIL: write\n");
			return 4;
		}
		puts("count ");
		putdec(n);
		puts("\n");
		for (volatile u64 i = 0; i < delay; i++)
			;
	}
}
