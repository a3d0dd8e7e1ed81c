/* Test guest 2: a minimal virtio-blk driver. Reads sector 1 (the test wrote
 * a pattern there), prints its first 32 bytes, writes sector 2 with
 * "written by the guest: " + those bytes, reads sector 2 back to check, and
 * exits with status 0 (each failure has its own status). */
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1

struct blk_req { u32 type; u32 reserved; u64 sector; };

static u8 ring[8192] __attribute__((aligned(4096)));
static struct blk_req req;
static u8 data[512] __attribute__((aligned(512)));
static volatile u8 status;
static struct vq q;

static int blk_io(u32 type, u64 sector)
{
	req.type = type;
	req.reserved = 0;
	req.sector = sector;
	status = 0xff;
	q.desc[0] = (struct vring_desc){ (u64)&req, sizeof req, VRING_DESC_F_NEXT, 1 };
	q.desc[1] = (struct vring_desc){ (u64)data, 512,
		(u16)(VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0)), 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	if (virtio_submit(&q, 0, 1UL << 32))
		return -1;
	return status;
}

int main(const void *mbi)
{
	(void)mbi;
	u64 base = virtio_find(VIRTIO_ID_BLOCK);
	if (!base) {
		puts("FAIL: no virtio-blk device\n");
		return 2;
	}
	if (virtio_init(&q, base, ring)) {
		puts("FAIL: virtio init\n");
		return 3;
	}
	puts("virtio-blk at ");
	puthex(base);
	puts(" version ");
	putdec((u64)q.version);
	puts(" capacity ");
	putdec(*(volatile u64 *)(base + VMMIO_CONFIG));
	puts(" sectors\n");
	if (blk_io(VIRTIO_BLK_T_IN, 1)) {
		puts("FAIL: read\n");
		return 4;
	}
	char got[33];
	memcpy(got, data, 32);
	got[32] = 0;
	puts("sector 1: ");
	puts(got);
	puts("\n");
	static const char prefix[] = "written by the guest: ";
	memset(data, 0, 512);
	memcpy(data, prefix, sizeof prefix - 1);
	memcpy(data + sizeof prefix - 1, got, 32);
	if (blk_io(VIRTIO_BLK_T_OUT, 2)) {
		puts("FAIL: write\n");
		return 5;
	}
	memset(data, 0, 512);
	if (blk_io(VIRTIO_BLK_T_IN, 2) || memcmp(data, prefix, sizeof prefix - 1)) {
		puts("FAIL: read back\n");
		return 6;
	}
	puts("sector 2 written and read back\n");
	return 0;
}
