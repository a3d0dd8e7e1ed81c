"""virtio-mmio on microvm: the same transport and devices as the RISC-V
board (hw/virtio), at QEMU 7.2 microvm's slots: 24 of them from 0xfeb00000,
0x200 apart, filled from the top so the first -device is in the last slot
(0xfeb02e00).

QEMU wires those slots to a second, userspace IOAPIC (GSIs 24-47). Ours is
KVM's single in-kernel IOAPIC with 24 pins, of which 5-23 are free (0-4: the
PIT, PIC cascade, UART...): the n-th -device gets GSI 5+n, so up to 19
devices; empty slots answer the magic value and device ID 0 but have no pin.
Guests learn each device's GSI from the DSDT, as on QEMU's board.

Queue notifications arrive through KVM ioeventfds (the guest's write to
QueueNotify never leaves the kernel) and are served by an I/O thread;
used-buffer interrupts go back through irqfds. A guest notify costs no
vCPU exit into Python, and the vCPU keeps running while the request is served.
"""

from __future__ import annotations

import os
import select
import threading

from ...accel.kvm.api import KvmError
from ...hw.virtio.mmio import Reg, VirtioMmio
from ...memory.region import MmioRegion

VIRTIO_BASE, VIRTIO_STRIDE, VIRTIO_COUNT, VIRTIO_GSI = 0xFEB00000, 0x200, 24, 5
IOAPIC_PINS = 24
VIRTIO_MAX_DEVICES = IOAPIC_PINS - VIRTIO_GSI
DRIVER_OK = 4                      # virtio 1.1 2.1 device status bit


class IrqfdLine:
    """An IRQLine look-alike whose rising edge writes the GSI's irqfd (an edge
    interrupt, as microvm's ISA-range virtio GSIs are)."""

    def __init__(self, fd: int, number: int):
        self._fd = fd
        self.number = number
        self.level = 0

    def set(self, level: int) -> None:
        level = 1 if level else 0
        if level and not self.level:
            os.write(self._fd, (1).to_bytes(8, "little"))
        self.level = level

    def raise_(self) -> None:
        self.set(1)

    def lower(self) -> None:
        self.set(0)

    def pulse(self) -> None:
        self.set(1)
        self.set(0)


class VirtioIoThread:
    """Waits on the ioeventfds and runs each queue's notify under the device lock."""

    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self._poll = select.poll()
        self._targets: dict[int, tuple[VirtioMmio, int]] = {}
        self._stop_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._poll.register(self._stop_fd, select.POLLIN)
        self._thread: threading.Thread | None = None
        self.notifies = 0

    def add(self, fd: int, transport: VirtioMmio, queue: int) -> None:
        self._targets[fd] = (transport, queue)
        self._poll.register(fd, select.POLLIN)

    def start(self) -> None:
        if self._targets and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="virtio-iothread", daemon=True)
            self._thread.start()

    def drain(self) -> None:
        """With the vCPUs stopped and the device lock held: serve every
        queue of every ready device now, whether or not its ioeventfd has
        fired yet (a notify this thread took but has not served finds the
        ring already done: serving a queue twice is harmless)."""
        for fd, (transport, queue) in self._targets.items():
            try:
                os.read(fd, 8)
            except BlockingIOError:
                pass
            if transport.device is not None and transport.status & DRIVER_OK:
                transport.mmio_write(Reg.QUEUE_NOTIFY, 4, queue)

    def stop(self) -> None:
        os.write(self._stop_fd, (1).to_bytes(8, "little"))

    def _loop(self) -> None:
        while True:
            for fd, _ev in self._poll.poll():
                if fd == self._stop_fd:
                    return
                try:
                    os.read(fd, 8)
                except BlockingIOError:
                    continue
                transport, queue = self._targets[fd]
                self.notifies += 1
                with self.lock:
                    transport.mmio_write(Reg.QUEUE_NOTIFY, 4, queue)


def attach_virtio(machine) -> None:
    cfg = machine.cfg
    if len(cfg.virtio_devices) > VIRTIO_MAX_DEVICES:
        from .microvm import MachineError
        raise MachineError(f"microvm has interrupt pins for {VIRTIO_MAX_DEVICES} virtio-mmio "
                           f"devices (GSIs {VIRTIO_GSI}-{IOAPIC_PINS - 1}); "
                           f"{len(cfg.virtio_devices)} devices asked for")
    from ...hw.irq import IRQLine
    machine.virtio_iothread = iothread = VirtioIoThread(machine.lock)
    slots = []
    for slot in range(VIRTIO_COUNT):
        i = VIRTIO_COUNT - 1 - slot
        dev = cfg.virtio_devices[i] if i < len(cfg.virtio_devices) else None
        gsi = VIRTIO_GSI + i if dev is not None else None
        base = VIRTIO_BASE + VIRTIO_STRIDE * slot
        slots.append((base, gsi))
        if gsi is None:
            irq = IRQLine(lambda _gsi, _level: None, 0)      # an empty slot never interrupts
        else:
            try:
                irq = IrqfdLine(machine.vm.irqfd(gsi), gsi)
            except KvmError:
                irq = IRQLine(machine._set_gsi, gsi)
        t = VirtioMmio(machine.bus, irq, dev, legacy=cfg.virtio_legacy, log=machine._guest_err)
        machine.bus.map(base, MmioRegion("virtio-mmio", VIRTIO_STRIDE, t))
        machine.virtio.append(t)
        machine.devices.append(t)
        if dev is not None:
            dev.attach_events(machine.events)
            for q in range(len(t.queues)):
                try:
                    fd = machine.vm.ioeventfd(base + Reg.QUEUE_NOTIFY, 4, datamatch=q)
                except KvmError:
                    continue          # the notify then exits to Python like any MMIO write
                iothread.add(fd, t, q)
    machine.runner_quiesce_hooks.append(iothread.drain)
    machine.virtio_slots = slots
