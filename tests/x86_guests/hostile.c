/* The hostile-virtqueue guest: posts malformed requests to virtio-blk - a
 * descriptor loop, buffers past the end of RAM and in the MMIO hole, zero
 * lengths, an oversized chain, a next index past the queue, an available
 * index far ahead - resetting the device after each. Then one good read of
 * sector 1 proves the device (and the emulator) still work: status 0. */
#include "virtio.h"

struct blk_req { u32 type; u32 reserved; u64 sector; };

static u8 ring[8192] __attribute__((aligned(4096)));
static struct blk_req req;
static u8 data[512];
static volatile u8 status;
static struct vq q;
static u64 base;

static void reinit(void)
{
	if (virtio_init(&q, base, ring)) {
		puts("FAIL: re-init\n");
		guest_exit(3);
	}
}

/* Submit and wait for either completion or DEVICE_NEEDS_RESET, bounded. */
static const char *outcome(u16 head)
{
	q.avail->ring[q.avail->idx % QUEUE_SIZE] = head;
	barrier();
	q.avail->idx++;
	barrier();
	mmio_write32(base + VMMIO_QUEUE_NOTIFY, 0);
	for (u64 spin = 0; spin < 20000000UL; spin++) {
		if (q.used->idx != q.last_used)
			return status == 0 ? "completed" : "completed with error status";
		if (mmio_read32(base + VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
			return "device needs reset";
		if ((spin & 0xffff) == 0xffff && spin > 0x40000)
			break;
		cpu_relax();
	}
	return "ignored";
}

static void header(u16 i, u32 type, u64 sector, u16 next)
{
	req.type = type;
	req.reserved = 0;
	req.sector = sector;
	q.desc[i] = (struct vring_desc){ (u64)&req, sizeof req, VRING_DESC_F_NEXT, next };
}

static void report(const char *what, const char *result)
{
	puts(what);
	puts(": ");
	puts(result);
	puts("\n");
	mmio_write32(base + VMMIO_STATUS, 0);      /* reset */
	reinit();
}

int main(const void *mbi)
{
	(void)mbi;
	base = virtio_find(2);
	if (!base) {
		puts("FAIL: no virtio-blk device\n");
		return 2;
	}
	reinit();
	status = 0xff;

	/* 1. a descriptor loop: 0 -> 1 -> 0 (all device-readable: a write request) */
	header(0, 1, 3, 1);
	q.desc[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_NEXT, 0 };
	report("descriptor loop", outcome(0));

	/* 2. a data buffer past the end of RAM (a write request: the device would read it) */
	header(0, 1, 3, 1);
	q.desc[1] = (struct vring_desc){ 0x7f0000000000UL, 512, VRING_DESC_F_NEXT, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	report("buffer past RAM", outcome(0));

	/* 3. a read landing in the MMIO hole (the device would write the LAPIC/virtio) */
	header(0, 0, 1, 1);
	q.desc[1] = (struct vring_desc){ 0xfee00000UL, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	report("buffer in the MMIO hole", outcome(0));

	/* 4. zero-length descriptors */
	header(0, 0, 1, 1);
	q.desc[0].len = 0;
	q.desc[1] = (struct vring_desc){ (u64)data, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 0, VRING_DESC_F_WRITE, 0 };
	report("zero-length chain", outcome(0));

	/* 5. an oversized chain: a 4 GiB buffer, and a next index past the queue */
	header(0, 0, 1, 1);
	q.desc[1] = (struct vring_desc){ (u64)data, 0xffffffffU, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 200 };
	report("oversized chain", outcome(0));

	/* 6. the available index far ahead of what was posted; a head past the queue */
	header(0, 0, 1, 1);
	q.desc[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	q.avail->idx = 1000;
	report("available index jump", outcome(77));

	/* then a good request still works */
	header(0, 0, 1, 1);
	q.desc[1] = (struct vring_desc){ (u64)data, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	q.desc[2] = (struct vring_desc){ (u64)&status, 1, VRING_DESC_F_WRITE, 0 };
	status = 0xff;
	if (virtio_submit(&q, 0, 1UL << 32) || status != 0) {
		puts("FAIL: good request after the hostile ones\n");
		return 4;
	}
	data[32] = 0;
	puts("good request: ");
	puts((const char *)data);
	puts("\n");
	return 0;
}
