"""virtio-rng (virtio spec 5.4 "Entropy Device"): host entropy from os.urandom."""

from __future__ import annotations

import os

from .device import DeviceId, VirtioDevice

MAX_REQUEST = 64 << 10      # bytes per buffer: a huge buffer is filled in part


class VirtioRng(VirtioDevice):
    device_id = DeviceId.ENTROPY
    num_queues = 1
    queue_max = 8            # as QEMU's virtio-rng

    def notify(self, index: int) -> None:
        q = self.queues[index]
        done = False
        while (elem := q.pop()) is not None:
            n = min(elem.in_len, MAX_REQUEST)
            q.push_used(elem, elem.write_in(os.urandom(n)))
            done = True
        if done and not q.interrupt_suppressed():
            self.interrupt()
