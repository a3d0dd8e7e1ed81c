"""Virtio 1.x devices and their MMIO transport (virtio spec, OASIS)."""
