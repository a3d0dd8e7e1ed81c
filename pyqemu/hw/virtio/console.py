"""virtio-console (virtio spec 5.3 "Console Device"), one port on a chardev.

MULTIPORT is not offered, so there are two queues: receiveq (host to guest)
and transmitq (guest to host). Host input waits in a buffer until the driver
offers receive buffers.
"""

from __future__ import annotations

import struct

from .device import DeviceId, VirtioDevice
from .virtqueue import VirtqueueError
from ...migration.vmstate import VMStateDescription, buffer, u64

RECEIVEQ, TRANSMITQ = 0, 1
MAX_PENDING = 1 << 20         # host input kept while the guest does not read
# 5.3.4 struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr
CONSOLE_CONFIG = struct.Struct("<HHII")


class VirtioConsole(VirtioDevice):
    # Host input the guest has not taken yet travels with the device.
    VMSTATE = VMStateDescription("virtio-console", 1, 1, (
        u64("driver_features"), buffer("pending"),
    ))

    device_id = DeviceId.CONSOLE
    num_queues = 2
    queue_max = 128

    def __init__(self, chardev=None):
        super().__init__()
        self.chardev = chardev
        self.pending = bytearray()

    def attach_events(self, events) -> None:
        if self.chardev is not None:
            self.chardev.attach(self.receive, events)

    def config_bytes(self) -> bytes:
        return CONSOLE_CONFIG.pack(0, 0, 1, 0)

    def receive(self, data: bytes) -> None:
        """Host input (on the vCPU thread): into the guest's receive buffers."""
        room = MAX_PENDING - len(self.pending)
        self.pending += data[:max(room, 0)]
        try:
            self._fill_receive()
        except VirtqueueError as e:
            self.needs_reset(str(e))

    def _fill_receive(self) -> None:
        if not self.pending or not self.queues:
            return
        q = self.queues[RECEIVEQ]
        done = False
        while self.pending and (elem := q.pop()) is not None:
            n = elem.write_in(bytes(self.pending[:elem.in_len]))
            del self.pending[:n]
            q.push_used(elem, n)
            done = True
        if done and not q.interrupt_suppressed():
            self.interrupt()

    def notify(self, index: int) -> None:
        if index == RECEIVEQ:
            self._fill_receive()
            return
        q = self.queues[TRANSMITQ]
        done = False
        while (elem := q.pop()) is not None:
            data = elem.read_out()
            if self.chardev is not None and data:
                self.chardev.write(data)
            q.push_used(elem, 0)
            done = True
        if done and not q.interrupt_suppressed():
            self.interrupt()
