"""The virtio-mmio transport (virtio spec 4.2 "Virtio Over MMIO").

One implementation for every device and both register layouts: modern
(version 2, 4.2.2) and legacy (version 1, 4.2.4: one page-frame number per
queue, QueueAlign, GuestPageSize). A slot without a device answers with
device ID 0, so a driver probing the device tree skips it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Callable

from ...hw.irq import IRQLine
from ...memory.address_space import AddressSpace
from .device import (F_RING_INDIRECT_DESC, F_VERSION_1, DeviceStatus, VirtioDevice)
from .virtqueue import VirtQueue, VirtqueueError
from ...migration.vmstate import (Kind, VMStateDescription, VMStateError, array, struct_array,
                                  u8, u32, u64)

MAGIC = 0x74726976            # "virt"
VENDOR_QEMU = 0x554D4551      # "QEMU", as QEMU's devices report
SLOT_SIZE = 0x200             # registers + config; the board maps 0x1000 per slot
CONFIG_BASE = 0x100


class Reg(IntEnum):
    """4.2.2 "MMIO Device Register Layout" (and 4.2.4 for the legacy-only ones)."""
    MAGIC_VALUE = 0x000
    VERSION = 0x004
    DEVICE_ID = 0x008
    VENDOR_ID = 0x00C
    DEVICE_FEATURES = 0x010
    DEVICE_FEATURES_SEL = 0x014
    DRIVER_FEATURES = 0x020
    DRIVER_FEATURES_SEL = 0x024
    GUEST_PAGE_SIZE = 0x028          # legacy
    QUEUE_SEL = 0x030
    QUEUE_NUM_MAX = 0x034
    QUEUE_NUM = 0x038
    QUEUE_ALIGN = 0x03C              # legacy
    QUEUE_PFN = 0x040                # legacy
    QUEUE_READY = 0x044
    QUEUE_NOTIFY = 0x050
    INTERRUPT_STATUS = 0x060
    INTERRUPT_ACK = 0x064
    STATUS = 0x070
    QUEUE_DESC_LOW = 0x080
    QUEUE_DESC_HIGH = 0x084
    QUEUE_DRIVER_LOW = 0x090
    QUEUE_DRIVER_HIGH = 0x094
    QUEUE_DEVICE_LOW = 0x0A0
    QUEUE_DEVICE_HIGH = 0x0A4
    CONFIG_GENERATION = 0x0FC


INT_USED_BUFFER = 1        # 4.2.2: InterruptStatus bits
INT_CONFIG_CHANGE = 2


class VirtioMmio:
    # Migrated state (pyqemu/migration/vmstate.py): the transport registers,
    # the queues and the device model's own description. `device_id` is
    # checked, so a stream never lands in a slot holding another device.
    VMSTATE = VMStateDescription("virtio-mmio", 1, 1, (
        u32("device_id", get=lambda t: int(t.device.device_id) if t.device else 0,
            set=lambda t, v: t._vmstate_check_device(v)),
        u8("status"), u32("interrupt_status"), u32("device_features_sel"),
        u32("driver_features_sel"), u64("driver_features"), u32("queue_sel"),
        u32("guest_page_size"), u32("config_generation"),
        array("legacy_align", Kind.U32), array("legacy_pfn", Kind.U64),
        struct_array("queues", VirtQueue.VMSTATE),
    ), post_load="_vmstate_post_load")

    def _vmstate_check_device(self, device_id: int) -> None:
        mine = int(self.device.device_id) if self.device else 0
        if device_id != mine:
            raise VMStateError(f"virtio-mmio: the stream has device id {device_id} in a slot "
                               f"that holds device id {mine}")

    def _vmstate_post_load(self, version_id: int) -> None:
        self.irq.level = 1 if self.interrupt_status else 0

    """The registers of one slot; `device` may be None (an empty slot)."""

    def __init__(self, bus: AddressSpace, irq: IRQLine, device: VirtioDevice | None = None,
                 legacy: bool = True, log: Callable[[str], None] | None = None):
        self.bus = bus
        self.irq = irq
        self.legacy = legacy
        self.log = log
        self.device = device
        self.queues: list[VirtQueue] = []
        if device is not None:
            self.queues = [VirtQueue(bus, i, device.queue_max) for i in range(device.num_queues)]
            device.queues = self.queues
            device.interrupt = self.notify_used
            device.needs_reset = self.set_needs_reset
        self.reset()

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.status = 0
        self.interrupt_status = 0
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.driver_features = 0
        self.queue_sel = 0
        self.guest_page_size = 4096
        self.config_generation = 0
        self.legacy_align = [4096] * len(self.queues)
        self.legacy_pfn = [0] * len(self.queues)
        for q in self.queues:
            q.reset()
        if self.device is not None:
            self.device.reset()
        self.irq.set(0)

    @property
    def host_features(self) -> int:
        if self.device is None:
            return 0
        f = self.device.device_features | F_RING_INDIRECT_DESC
        return f if self.legacy else f | F_VERSION_1

    def _guest_error(self, msg: str) -> None:
        if self.log is not None:
            self.log(f"virtio-mmio: {msg}")

    def _queue(self) -> VirtQueue | None:
        return self.queues[self.queue_sel] if self.queue_sel < len(self.queues) else None

    # -- interrupts ----------------------------------------------------------------------
    def notify_used(self) -> None:
        self.interrupt_status |= INT_USED_BUFFER
        self.irq.set(1)

    def set_needs_reset(self, msg: str) -> None:
        """The driver broke the protocol: stop the device until it is reset (2.1.2)."""
        self._guest_error(msg)
        self.status |= DeviceStatus.DEVICE_NEEDS_RESET
        for q in self.queues:
            q.ready = False
        if self.status & DeviceStatus.DRIVER_OK:
            self.interrupt_status |= INT_CONFIG_CHANGE
            self.irq.set(1)

    def _apply_features(self) -> None:
        self.device.driver_features = self.driver_features
        for q in self.queues:
            q.indirect = bool(self.driver_features & F_RING_INDIRECT_DESC)

    def _legacy_layout(self, idx: int) -> None:
        """4.2.4 / 2.7.2 legacy: desc, avail and (aligned) used rings in one area."""
        q = self.queues[idx]
        pfn = self.legacy_pfn[idx]
        q.ready = pfn != 0
        q.desc = pfn * self.guest_page_size
        q.avail = q.desc + 16 * q.num
        align = self.legacy_align[idx] or 1
        q.used = (q.avail + 6 + 2 * q.num + align - 1) // align * align

    # -- MMIO ----------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset >= CONFIG_BASE:
            if self.device is None:
                return 0
            cfg = self.device.config_bytes()
            off = offset - CONFIG_BASE
            if off + size > len(cfg):
                return 0
            return int.from_bytes(cfg[off:off + size], "little")
        if size != 4:
            self._guest_error(f"{size}-byte read of register 0x{offset:x}")
            return 0
        if offset == Reg.MAGIC_VALUE:
            return MAGIC
        if offset == Reg.VERSION:
            return 1 if self.legacy else 2
        if offset == Reg.DEVICE_ID:
            return int(self.device.device_id) if self.device is not None else 0
        if offset == Reg.VENDOR_ID:
            return VENDOR_QEMU
        if self.device is None:
            return 0
        q = self._queue()
        if offset == Reg.DEVICE_FEATURES:
            if self.device_features_sel > 1:
                return 0
            return (self.host_features >> (32 * self.device_features_sel)) & 0xFFFFFFFF
        if offset == Reg.QUEUE_NUM_MAX:
            return q.num_max if q is not None else 0
        if offset == Reg.QUEUE_PFN and self.legacy:
            return self.legacy_pfn[self.queue_sel] if q is not None else 0
        if offset == Reg.QUEUE_READY and not self.legacy:
            return int(q.ready) if q is not None else 0
        if offset == Reg.INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == Reg.STATUS:
            return self.status
        if offset == Reg.CONFIG_GENERATION and not self.legacy:
            return self.config_generation
        self._guest_error(f"read of write-only or unknown register 0x{offset:x}")
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset >= CONFIG_BASE:
            if self.device is not None:
                self.device.config_write(offset - CONFIG_BASE, value.to_bytes(size, "little"))
            return
        if self.device is None:
            return
        if size != 4:
            self._guest_error(f"{size}-byte write of register 0x{offset:x}")
            return
        q = self._queue()
        if offset == Reg.DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == Reg.DRIVER_FEATURES:
            if self.driver_features_sel > 1:
                return
            shift = 32 * self.driver_features_sel
            self.driver_features = ((self.driver_features & ~(0xFFFFFFFF << shift))
                                    | (value << shift)) & self.host_features
            if self.legacy:
                self._apply_features()
        elif offset == Reg.DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == Reg.GUEST_PAGE_SIZE and self.legacy:
            if value == 0 or value & (value - 1):
                self._guest_error(f"guest page size {value} is not a power of two")
                return
            self.guest_page_size = value
        elif offset == Reg.QUEUE_SEL:
            self.queue_sel = value
        elif offset == Reg.QUEUE_NUM:
            if q is None:
                return
            if not 1 <= value <= q.num_max:
                self._guest_error(f"queue {self.queue_sel}: size {value} out of range "
                                  f"(max {q.num_max})")
                return
            q.num = value
            if self.legacy:
                self._legacy_layout(self.queue_sel)
        elif offset == Reg.QUEUE_ALIGN and self.legacy:
            if q is not None:
                self.legacy_align[self.queue_sel] = value
                self._legacy_layout(self.queue_sel)
        elif offset == Reg.QUEUE_PFN and self.legacy:
            if q is not None:
                self.legacy_pfn[self.queue_sel] = value
                if value == 0:
                    q.reset()
                self._legacy_layout(self.queue_sel)
        elif offset == Reg.QUEUE_READY and not self.legacy:
            if q is not None:
                q.ready = bool(value & 1)
        elif offset == Reg.QUEUE_NOTIFY:
            self._kick(value)
        elif offset == Reg.INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self.irq.set(1 if self.interrupt_status else 0)
        elif offset == Reg.STATUS:
            self._write_status(value)
        elif not self.legacy and offset in _ADDR_REGS:
            if q is not None:
                attr, high = _ADDR_REGS[offset]
                cur = getattr(q, attr)
                cur = (cur & 0xFFFFFFFF) | (value << 32) if high else \
                    (cur & ~0xFFFFFFFF) | value
                setattr(q, attr, cur)
        else:
            self._guest_error(f"write of read-only or unknown register 0x{offset:x}")

    def _write_status(self, value: int) -> None:
        if value == 0:
            self.reset()
            return
        new = value & ~self.status
        if (new & DeviceStatus.FEATURES_OK) and not self.legacy:
            # 3.1.1: the device refuses feature sets without VERSION_1.
            if not self.driver_features & F_VERSION_1:
                self._guest_error("driver did not accept VIRTIO_F_VERSION_1")
                value &= ~DeviceStatus.FEATURES_OK
            else:
                self._apply_features()
        if self.legacy and new & DeviceStatus.DRIVER_OK:
            self._apply_features()
        keep = self.status & DeviceStatus.DEVICE_NEEDS_RESET
        self.status = (value & 0xFF & ~DeviceStatus.DEVICE_NEEDS_RESET) | keep
        if new & DeviceStatus.DRIVER_OK:
            for i in range(len(self.queues)):
                self._kick(i)

    def _kick(self, index: int) -> None:
        if index >= len(self.queues):
            self._guest_error(f"notify of queue {index}: no such queue")
            return
        if self.status & DeviceStatus.DEVICE_NEEDS_RESET:
            return
        try:
            self.device.notify(index)
        except VirtqueueError as e:
            self.set_needs_reset(str(e))

    def close(self) -> None:
        if self.device is not None:
            self.device.close()


_ADDR_REGS = {
    Reg.QUEUE_DESC_LOW: ("desc", False), Reg.QUEUE_DESC_HIGH: ("desc", True),
    Reg.QUEUE_DRIVER_LOW: ("avail", False), Reg.QUEUE_DRIVER_HIGH: ("avail", True),
    Reg.QUEUE_DEVICE_LOW: ("used", False), Reg.QUEUE_DEVICE_HIGH: ("used", True),
}
