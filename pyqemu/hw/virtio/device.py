"""The per-device side of virtio: what a device model gives its transport.

A transport (mmio.py) owns the registers, the queues' addresses and the
interrupt line; a device says what it offers (ID, features, queue count,
config space) and what it does when the driver kicks a queue.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Callable
from ...migration.vmstate import VMStateDescription, u64

if TYPE_CHECKING:
    from .virtqueue import VirtQueue


class DeviceStatus(IntFlag):
    """virtio spec 2.1 "Device Status Field"."""
    ACKNOWLEDGE = 1
    DRIVER = 2
    DRIVER_OK = 4
    FEATURES_OK = 8
    DEVICE_NEEDS_RESET = 64
    FAILED = 128


class DeviceId(IntEnum):
    """virtio spec 5 "Device Types"."""
    NONE = 0
    BLOCK = 2
    CONSOLE = 3
    ENTROPY = 4


# virtio spec 6 "Reserved Feature Bits"
F_RING_INDIRECT_DESC = 1 << 28
F_RING_EVENT_IDX = 1 << 29
F_VERSION_1 = 1 << 32


class VirtioDevice:
    # Migrated state common to every device model; a model with more state
    # overrides VMSTATE (pyqemu/migration/vmstate.py).
    VMSTATE = VMStateDescription("virtio-device", 1, 1, (u64("driver_features"),))

    """Base of a device model. Subclasses set the class attributes and
    override `notify`, `config_bytes` and `reset`."""

    device_id = DeviceId.NONE
    num_queues = 0
    queue_max = 256
    device_features = 0            # device-specific bits; the transport adds the ring bits

    def __init__(self) -> None:
        self.queues: list[VirtQueue] = []
        self.driver_features = 0
        # Set by the transport: signal used buffers / a config change, and
        # report a broken driver (DEVICE_NEEDS_RESET).
        self.interrupt: Callable[[], None] = lambda: None
        self.needs_reset: Callable[[str], None] = lambda msg: None

    def attach_events(self, events) -> None:
        """Start taking host input through the machine's event queue (a chardev)."""

    def config_bytes(self) -> bytes:
        """The device configuration space, as the driver reads it (little-endian)."""
        return b""

    def config_write(self, offset: int, data: bytes) -> None:
        """A driver write into config space; read-only by default."""

    def notify(self, index: int) -> None:
        """The driver made buffers available on queue `index`."""

    def reset(self) -> None:
        """Back to the state after power-on (the transport resets the queues)."""
        self.driver_features = 0

    def close(self) -> None:
        """Release host resources (flush disks); safe more than once."""
