#include "virtio.h"

u64 virtio_find(u32 id)
{
	for (int i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		u64 base = VIRTIO_MMIO_BASE + (u64)i * VIRTIO_MMIO_STRIDE;
		if (mmio_read32(base + VMMIO_MAGIC) != 0x74726976)
			return 0;
		if (mmio_read32(base + VMMIO_DEVICE_ID) == id)
			return base;
	}
	return 0;
}

int virtio_init(struct vq *q, u64 base, void *ring_mem)
{
	q->base = base;
	q->version = (int)mmio_read32(base + VMMIO_VERSION);
	mmio_write32(base + VMMIO_STATUS, 0);
	mmio_write32(base + VMMIO_STATUS, VIRTIO_STATUS_ACK);
	mmio_write32(base + VMMIO_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	mmio_write32(base + VMMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write32(base + VMMIO_DRIVER_FEATURES, 0);
	if (q->version == 2) {
		mmio_write32(base + VMMIO_DRIVER_FEATURES_SEL, 1);
		mmio_write32(base + VMMIO_DRIVER_FEATURES, 1);      /* VIRTIO_F_VERSION_1 */
		mmio_write32(base + VMMIO_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
		if (!(mmio_read32(base + VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
			return -1;
	} else {
		mmio_write32(base + VMMIO_GUEST_PAGE_SIZE, 4096);
	}
	mmio_write32(base + VMMIO_QUEUE_SEL, 0);
	if (mmio_read32(base + VMMIO_QUEUE_NUM_MAX) < QUEUE_SIZE)
		return -2;
	mmio_write32(base + VMMIO_QUEUE_NUM, QUEUE_SIZE);
	memset(ring_mem, 0, 8192);
	q->desc = ring_mem;
	q->avail = (struct vring_avail *)((u8 *)ring_mem + QUEUE_SIZE * sizeof(struct vring_desc));
	q->used = (struct vring_used *)((u8 *)ring_mem + 4096);
	q->last_used = 0;
	if (q->version == 2) {
		mmio_write32(base + VMMIO_QUEUE_DESC_LOW, (u32)(u64)q->desc);
		mmio_write32(base + VMMIO_QUEUE_DESC_HIGH, 0);
		mmio_write32(base + VMMIO_QUEUE_AVAIL_LOW, (u32)(u64)q->avail);
		mmio_write32(base + VMMIO_QUEUE_AVAIL_HIGH, 0);
		mmio_write32(base + VMMIO_QUEUE_USED_LOW, (u32)(u64)q->used);
		mmio_write32(base + VMMIO_QUEUE_USED_HIGH, 0);
		mmio_write32(base + VMMIO_QUEUE_READY, 1);
		mmio_write32(base + VMMIO_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	} else {
		mmio_write32(base + VMMIO_QUEUE_ALIGN, 4096);
		mmio_write32(base + VMMIO_QUEUE_PFN, (u32)((u64)ring_mem >> 12));
		mmio_write32(base + VMMIO_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_DRIVER_OK);
	}
	return 0;
}

int virtio_submit(struct vq *q, u16 head, u64 spins)
{
	q->avail->ring[q->avail->idx % QUEUE_SIZE] = head;
	barrier();
	q->avail->idx++;
	barrier();
	mmio_write32(q->base + VMMIO_QUEUE_NOTIFY, 0);
	while (q->used->idx == q->last_used) {
		if (spins-- == 0)
			return -1;
		cpu_relax();
	}
	q->last_used++;
	/* Acknowledge the used-buffer interrupt (polled, the line just drops). */
	mmio_write32(q->base + VMMIO_INTERRUPT_ACK, mmio_read32(q->base + VMMIO_INTERRUPT_STATUS));
	return 0;
}
