"""A power button the guest sees: a virtio input device (virtio spec 1.2,
5.8 "Input Device") whose only key is KEY_POWER.

QEMU 7.2's RISC-V virt board has no power button, so `system_powerdown`
reaches no guest there. Debian's riscv64 kernel has no gpio-keys driver
(CONFIG_KEYBOARD_GPIO is not set) but builds virtio_input, and Linux turns
KEY_POWER from any input device into a power-off (systemd-logind, acpid):
this device, in a virtio-mmio slot, needs no device tree change.
"""

from __future__ import annotations

import enum
import struct

from ..virtio.device import VirtioDevice
from ..virtio.virtqueue import VirtqueueError
from ...migration.vmstate import VMStateDescription, buffer, u8, u64

VIRTIO_ID_INPUT = 18
EVENTQ, STATUSQ = 0, 1
CONFIG_UNION_SIZE = 128


class InputConfigSelect(enum.IntEnum):
    """virtio spec 5.8.5 "Device configuration layout": virtio_input_config_select."""
    UNSET = 0x00
    ID_NAME = 0x01
    ID_SERIAL = 0x02
    ID_DEVIDS = 0x03
    PROP_BITS = 0x10
    EV_BITS = 0x11
    ABS_INFO = 0x12


class EventType(enum.IntEnum):
    """Linux input-event-codes.h event types (the values virtio input carries)."""
    EV_SYN = 0x00
    EV_KEY = 0x01


KEY_POWER = 116
SYN_REPORT = 0
BUS_VIRTUAL = 0x06
# virtio spec 5.8.6.1 virtio_input_event: le16 type, le16 code, le32 value.
INPUT_EVENT = struct.Struct("<HHI")
# virtio_input_devids: le16 bustype, vendor, product, version.
DEVIDS = struct.Struct("<HHHH")
NAME = b"pyqemu power button"


class VirtioPowerButton(VirtioDevice):
    device_id = VIRTIO_ID_INPUT
    num_queues = 2
    queue_max = 64            # as QEMU's virtio-input queues
    # Migrated state (pyqemu/migration/vmstate.py): the config selector and
    # the key events the driver has not taken yet.
    VMSTATE = VMStateDescription("virtio-input", 1, 1, (
        u64("driver_features"), u8("_select"), u8("_subsel"),
        buffer("_pending", get=lambda d: b"".join(d._pending),
               set=lambda d, v: d._pending.__setitem__(slice(None), [
                   bytes(v[i:i + INPUT_EVENT.size]) for i in range(0, len(v), INPUT_EVENT.size)])),
    ))

    def __init__(self) -> None:
        super().__init__()
        self._select = 0
        self._subsel = 0
        self._pending: list[bytes] = []        # events waiting for eventq buffers

    # -- configuration space -------------------------------------------------------
    def _config_payload(self) -> bytes:
        sel, sub = self._select, self._subsel
        if sel == InputConfigSelect.ID_NAME:
            return NAME
        if sel == InputConfigSelect.ID_DEVIDS:
            return DEVIDS.pack(BUS_VIRTUAL, 0, 0, 1)
        if sel == InputConfigSelect.EV_BITS and sub == EventType.EV_KEY:
            bitmap = bytearray(KEY_POWER // 8 + 1)
            bitmap[KEY_POWER // 8] |= 1 << (KEY_POWER % 8)
            return bytes(bitmap)
        return b""               # unset, no serial, no properties, no axes

    def config_bytes(self) -> bytes:
        payload = self._config_payload()
        return (bytes((self._select, self._subsel, len(payload))) + bytes(5)
                + payload.ljust(CONFIG_UNION_SIZE, b"\0"))

    def config_write(self, offset: int, data: bytes) -> None:
        for i, b in enumerate(data):
            if offset + i == 0:
                self._select = b
            elif offset + i == 1:
                self._subsel = b

    # -- the key ------------------------------------------------------------------------
    def press(self) -> None:
        """One press and release of the power key (on the vCPU thread)."""
        for value in (1, 0):
            self._pending.append(INPUT_EVENT.pack(EventType.EV_KEY, KEY_POWER, value))
            self._pending.append(INPUT_EVENT.pack(EventType.EV_SYN, SYN_REPORT, 0))
        self._deliver()

    def _deliver(self) -> None:
        if not self.queues:
            return
        q = self.queues[EVENTQ]
        sent = False
        while self._pending:
            try:
                elem = q.pop()
            except VirtqueueError as e:       # a broken ring: the transport's report
                self.needs_reset(str(e))
                return
            if elem is None:
                break                      # kept until the driver adds buffers
            q.push_used(elem, elem.write_in(self._pending.pop(0)))
            sent = True
        if sent and not q.interrupt_suppressed():
            self.interrupt()

    def notify(self, index: int) -> None:
        if index == EVENTQ:
            self._deliver()
            return
        # statusq: LED and similar feedback; there is nothing to show.
        q = self.queues[index]
        done = False
        while (elem := q.pop()) is not None:
            q.push_used(elem, 0)
            done = True
        if done and not q.interrupt_suppressed():
            self.interrupt()

    def reset(self) -> None:
        super().reset()
        self._select = self._subsel = 0
        self._pending.clear()
