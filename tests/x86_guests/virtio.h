/* A minimal virtio-mmio driver for the test guests (virtio 1.1 section 4.2,
 * legacy interface 4.2.4), split virtqueues (2.6), polled completion. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H
#include "lib.h"

#define VIRTIO_MMIO_BASE 0xfeb00000UL
#define VIRTIO_MMIO_STRIDE 0x200
#define VIRTIO_MMIO_SLOTS 32

enum {
	VMMIO_MAGIC = 0x000, VMMIO_VERSION = 0x004, VMMIO_DEVICE_ID = 0x008,
	VMMIO_DEVICE_FEATURES = 0x010, VMMIO_DEVICE_FEATURES_SEL = 0x014,
	VMMIO_DRIVER_FEATURES = 0x020, VMMIO_DRIVER_FEATURES_SEL = 0x024,
	VMMIO_GUEST_PAGE_SIZE = 0x028, VMMIO_QUEUE_SEL = 0x030, VMMIO_QUEUE_NUM_MAX = 0x034,
	VMMIO_QUEUE_NUM = 0x038, VMMIO_QUEUE_ALIGN = 0x03c, VMMIO_QUEUE_PFN = 0x040,
	VMMIO_QUEUE_READY = 0x044, VMMIO_QUEUE_NOTIFY = 0x050, VMMIO_INTERRUPT_STATUS = 0x060,
	VMMIO_INTERRUPT_ACK = 0x064, VMMIO_STATUS = 0x070,
	VMMIO_QUEUE_DESC_LOW = 0x080, VMMIO_QUEUE_DESC_HIGH = 0x084,
	VMMIO_QUEUE_AVAIL_LOW = 0x090, VMMIO_QUEUE_AVAIL_HIGH = 0x094,
	VMMIO_QUEUE_USED_LOW = 0x0a0, VMMIO_QUEUE_USED_HIGH = 0x0a4, VMMIO_CONFIG = 0x100,
};
#define VIRTIO_STATUS_ACK 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define QUEUE_SIZE 8

struct vring_desc { u64 addr; u32 len; u16 flags; u16 next; };
struct vring_avail { u16 flags; u16 idx; u16 ring[QUEUE_SIZE]; u16 used_event; };
struct vring_used_elem { u32 id; u32 len; };
struct vring_used { u16 flags; u16 idx; struct vring_used_elem ring[QUEUE_SIZE]; u16 avail_event; };

struct vq {
	u64 base;                  /* MMIO window of the device */
	struct vring_desc *desc;
	struct vring_avail *avail;
	volatile struct vring_used *used;
	u16 last_used;
	int version;
};

/* The first slot holding device `id`; 0 if none. */
u64 virtio_find(u32 id);
/* Reset, negotiate (no optional features), set up queue 0 in `ring_mem`
 * (8 KiB, 4 KiB aligned), DRIVER_OK. 0 on success. */
int virtio_init(struct vq *q, u64 base, void *ring_mem);
/* Post the chain starting at descriptor `head`, notify, wait for the used
 * ring (or `spins` polls); returns 0 when used, -1 on timeout. */
int virtio_submit(struct vq *q, u16 head, u64 spins);
#endif
