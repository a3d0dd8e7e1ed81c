"""The split virtqueue (virtio spec 2.7 "Split Virtqueues").

Every address and length the driver writes is checked against guest RAM
(AddressSpace.ram_slice) before a byte moves; a malformed ring (descriptor
loop, index out of range, nested indirect table, memory outside RAM) raises
VirtqueueError, which the transport turns into DEVICE_NEEDS_RESET: a guest
error, never an emulator crash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ...memory.address_space import AddressSpace, GuestMemoryError
from ...migration.vmstate import VMStateDescription, boolean, u16, u32, u64

# 2.7.5 "The Virtqueue Descriptor Table": le64 addr, le32 len, le16 flags, le16 next
VIRTQ_DESC = struct.Struct("<QIHH")
VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1     # 2.7.6
VIRTQ_USED_F_NO_NOTIFY = 1         # 2.7.8
# A chain's total length is bounded so a hostile driver cannot make the
# device walk (or allocate for) more than this much at once.
MAX_CHAIN_BYTES = 1 << 32


class VirtqueueError(Exception):
    """The driver broke the ring protocol; the message says how."""


@dataclass
class VirtqElement:
    """One popped descriptor chain: device-readable then device-writable buffers."""
    head: int
    out: list[memoryview] = field(default_factory=list)
    in_: list[memoryview] = field(default_factory=list)

    @property
    def out_len(self) -> int:
        return sum(len(b) for b in self.out)

    @property
    def in_len(self) -> int:
        return sum(len(b) for b in self.in_)

    def read_out(self, limit: int | None = None) -> bytes:
        """The device-readable bytes, joined (at most `limit`)."""
        data = b"".join(bytes(b) for b in self.out)
        return data if limit is None else data[:limit]

    def write_in(self, data: bytes, offset: int = 0) -> int:
        """Scatter `data` into the device-writable buffers from `offset`; bytes written."""
        done = 0
        for buf in self.in_:
            if offset >= len(buf):
                offset -= len(buf)
                continue
            n = min(len(buf) - offset, len(data) - done)
            buf[offset:offset + n] = data[done:done + n]
            done += n
            offset = 0
            if done == len(data):
                break
        return done


class VirtQueue:
    # Migrated state (pyqemu/migration/vmstate.py): the ring addresses and
    # the device's indices into them. Requests complete while the vCPU that
    # notified waits, so a stopped machine has none in flight.
    VMSTATE = VMStateDescription("virtqueue", 1, 1, (
        u32("num"), u64("desc"), u64("avail"), u64("used"), boolean("ready"),
        u16("last_avail_idx"), u16("used_idx"), boolean("indirect"),
    ))

    def __init__(self, bus: AddressSpace, index: int, num_max: int):
        self.bus = bus
        self.index = index
        self.num_max = num_max
        self.indirect = False          # VIRTIO_F_INDIRECT_DESC negotiated
        self.reset()

    def reset(self) -> None:
        self.num = self.num_max
        self.desc = self.avail = self.used = 0
        self.ready = False
        self.last_avail_idx = 0
        self.used_idx = 0

    # -- ring fields ---------------------------------------------------------------------
    def _u16(self, addr: int) -> int:
        return int.from_bytes(self.bus.ram_slice(addr, 2), "little")

    def avail_idx(self) -> int:
        return self._u16(self.avail + 2)

    def interrupt_suppressed(self) -> bool:
        return bool(self._u16(self.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT)

    def _desc(self, table: int, i: int) -> tuple[int, int, int, int]:
        try:
            return VIRTQ_DESC.unpack(self.bus.ram_slice(table + 16 * i, 16))
        except GuestMemoryError as e:
            raise VirtqueueError(f"queue {self.index}: descriptor table: {e}") from None

    # -- device side ---------------------------------------------------------------------
    def pop(self) -> VirtqElement | None:
        """The next available chain, or None when the driver has offered nothing."""
        if not self.ready:
            return None
        try:
            avail_idx = self.avail_idx()
        except GuestMemoryError as e:
            raise VirtqueueError(f"queue {self.index}: avail ring: {e}") from None
        pending = (avail_idx - self.last_avail_idx) & 0xFFFF
        if pending == 0:
            return None
        if pending > self.num:
            raise VirtqueueError(f"queue {self.index}: avail index {avail_idx} is "
                                 f"{pending} ahead of the device (queue size {self.num})")
        try:
            head = self._u16(self.avail + 4 + 2 * (self.last_avail_idx % self.num))
        except GuestMemoryError as e:
            raise VirtqueueError(f"queue {self.index}: avail ring: {e}") from None
        elem = self._walk(head)
        self.last_avail_idx = (self.last_avail_idx + 1) & 0xFFFF
        return elem

    def _walk(self, head: int) -> VirtqElement:
        if head >= self.num:
            raise VirtqueueError(f"queue {self.index}: head index {head} out of range "
                                 f"(queue size {self.num})")
        elem = VirtqElement(head)
        table, size, i = self.desc, self.num, head
        in_indirect = False
        seen = 0
        total = 0
        while True:
            seen += 1
            if seen > size:
                raise VirtqueueError(f"queue {self.index}: descriptor chain from {head} "
                                     f"loops (longer than {size})")
            addr, length, flags, nxt = self._desc(table, i)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if in_indirect or not self.indirect:
                    raise VirtqueueError(f"queue {self.index}: unexpected indirect descriptor")
                if flags & VIRTQ_DESC_F_NEXT or length == 0 or length % 16:
                    raise VirtqueueError(f"queue {self.index}: bad indirect descriptor "
                                         f"(length {length})")
                try:
                    self.bus.ram_slice(addr, length)
                except GuestMemoryError as e:
                    raise VirtqueueError(f"queue {self.index}: indirect table: {e}") from None
                table, size, i, seen, in_indirect = addr, length // 16, 0, 0, True
                continue
            total += length
            if total > MAX_CHAIN_BYTES:
                raise VirtqueueError(f"queue {self.index}: descriptor chain longer than 4 GiB")
            writable = bool(flags & VIRTQ_DESC_F_WRITE)
            if not writable and elem.in_:
                raise VirtqueueError(f"queue {self.index}: device-readable descriptor after "
                                     "a device-writable one")
            try:
                buf = self.bus.ram_slice(addr, length, write=writable)
            except GuestMemoryError as e:
                raise VirtqueueError(f"queue {self.index}: buffer: {e}") from None
            (elem.in_ if writable else elem.out).append(buf)
            if not flags & VIRTQ_DESC_F_NEXT:
                return elem
            if nxt >= size:
                raise VirtqueueError(f"queue {self.index}: next index {nxt} out of range "
                                     f"(table size {size})")
            i = nxt

    def push_used(self, elem: VirtqElement, written: int) -> None:
        """Return a chain to the driver with `written` bytes of it filled."""
        slot = self.used + 4 + 8 * (self.used_idx % self.num)
        try:
            self.bus.ram_slice(slot, 8, write=True)[:] = struct.pack("<II", elem.head, written)
            self.used_idx = (self.used_idx + 1) & 0xFFFF
            self.bus.ram_slice(self.used + 2, 2, write=True)[:] = self.used_idx.to_bytes(2, "little")
        except GuestMemoryError as e:
            raise VirtqueueError(f"queue {self.index}: used ring: {e}") from None
