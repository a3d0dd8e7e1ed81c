"""A test-side virtio-mmio driver: it writes the transport's registers and
lays split rings in guest RAM, as a guest driver (or QEMU's qtest) does."""

from __future__ import annotations

import struct

from pyqemu.machine.riscv.virt import VirtConfig, VirtMachine

SLOT0 = 0x10001000
RING_AREA = 0x80100000       # one 64 KiB area per queue
DATA_AREA = 0x80400000
DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4

# register offsets (virtio spec 4.2.2 / 4.2.4), spelled out so the test does
# not take them from the code under test
MAGIC, VERSION, DEVICE_ID, VENDOR = 0x0, 0x4, 0x8, 0xC
DEV_FEAT, DEV_FEAT_SEL, DRV_FEAT, DRV_FEAT_SEL = 0x10, 0x14, 0x20, 0x24
GUEST_PAGE_SIZE, QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM = 0x28, 0x30, 0x34, 0x38
QUEUE_ALIGN, QUEUE_PFN, QUEUE_READY, QUEUE_NOTIFY = 0x3C, 0x40, 0x44, 0x50
INT_STATUS, INT_ACK, STATUS = 0x60, 0x64, 0x70
DESC_LO, DESC_HI, DRIVER_LO, DRIVER_HI, DEVICE_LO, DEVICE_HI = 0x80, 0x84, 0x90, 0x94, 0xA0, 0xA4
CONFIG = 0x100

ACK, DRIVER, DRIVER_OK, FEATURES_OK, NEEDS_RESET = 1, 2, 4, 8, 64
VERSION_1 = 1 << 32


def make_machine(tmp_path, devices, legacy=True) -> VirtMachine:
    """A virt board whose firmware is one `j .`: the test is the only driver."""
    fw = tmp_path / "loop.bin"
    fw.write_bytes(struct.pack("<I", 0x0000006F))
    return VirtMachine(VirtConfig(bios=str(fw), virtio_devices=list(devices),
                                  virtio_legacy=legacy))


class Driver:
    def __init__(self, machine: VirtMachine, slot: int, qsize: int = 16):
        self.m = machine
        self.bus = machine.bus
        self.base = SLOT0 + 0x1000 * slot
        self.qsize = qsize
        self.next_data = DATA_AREA
        self.queues: dict[int, dict] = {}

    def r(self, off: int) -> int:
        return self.bus.read(self.base + off, 4)

    def w(self, off: int, value: int) -> None:
        self.bus.write(self.base + off, 4, value)

    def config(self, off: int, size: int) -> int:
        return self.bus.read(self.base + CONFIG + off, size)

    def features(self) -> int:
        self.w(DEV_FEAT_SEL, 0)
        lo = self.r(DEV_FEAT)
        self.w(DEV_FEAT_SEL, 1)
        return lo | (self.r(DEV_FEAT) << 32)

    def init(self, accept=None, nqueues: int = 1) -> int:
        """Reset, negotiate (all offered features unless `accept`), set up queues."""
        self.w(STATUS, 0)
        self.w(STATUS, ACK | DRIVER)
        feats = self.features() if accept is None else accept
        for sel in (0, 1):
            self.w(DRV_FEAT_SEL, sel)
            self.w(DRV_FEAT, (feats >> (32 * sel)) & 0xFFFFFFFF)
        legacy = self.r(VERSION) == 1
        if not legacy:
            self.w(STATUS, ACK | DRIVER | FEATURES_OK)
            if not self.r(STATUS) & FEATURES_OK:
                return self.r(STATUS)
        else:
            self.w(GUEST_PAGE_SIZE, 4096)
        for q in range(nqueues):
            self.setup_queue(q, legacy)
        self.w(STATUS, self.r(STATUS) | DRIVER_OK)
        return self.r(STATUS)

    def setup_queue(self, q: int, legacy: bool) -> None:
        area = RING_AREA + 0x10000 * q
        self.bus.write_bytes(area, bytes(0x10000))       # fresh rings, as a driver allocates them
        self.w(QUEUE_SEL, q)
        assert self.r(QUEUE_NUM_MAX) >= self.qsize
        self.w(QUEUE_NUM, self.qsize)
        desc = area
        avail = desc + 16 * self.qsize
        if legacy:
            self.w(QUEUE_ALIGN, 4096)
            self.w(QUEUE_PFN, area >> 12)
            used = (avail + 6 + 2 * self.qsize + 4095) & ~4095
        else:
            used = (avail + 6 + 2 * self.qsize + 3) & ~3
            for lo, hi, a in ((DESC_LO, DESC_HI, desc), (DRIVER_LO, DRIVER_HI, avail),
                              (DEVICE_LO, DEVICE_HI, used)):
                self.w(lo, a & 0xFFFFFFFF)
                self.w(hi, a >> 32)
            self.w(QUEUE_READY, 1)
        self.queues[q] = {"desc": desc, "avail": avail, "used": used, "idx": 0, "used_seen": 0}

    def alloc(self, data: bytes | int) -> int:
        n = data if isinstance(data, int) else len(data)
        addr = self.next_data
        self.next_data += (n + 15) & ~15
        if not isinstance(data, int):
            self.bus.write_bytes(addr, data)
        return addr

    def write_desc(self, table: int, i: int, addr: int, length: int, flags: int, nxt: int) -> None:
        self.bus.write_bytes(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def offer(self, q: int, head: int, kick: bool = True) -> None:
        st = self.queues[q]
        slot = st["avail"] + 4 + 2 * (st["idx"] % self.qsize)
        self.bus.write_bytes(slot, struct.pack("<H", head))
        st["idx"] = (st["idx"] + 1) & 0xFFFF
        self.bus.write_bytes(st["avail"] + 2, struct.pack("<H", st["idx"]))
        if kick:
            self.w(QUEUE_NOTIFY, q)

    def submit(self, q: int, bufs: list[tuple[bytes | int, bool]]):
        """One chain (data or a length, device-writable?); returns (used id, used len,
        the writable buffers' contents) or None if the device returned nothing."""
        st = self.queues[q]
        table = st["desc"]
        addrs = []
        for i, (data, writable) in enumerate(bufs):
            addr = self.alloc(data)
            n = data if isinstance(data, int) else len(data)
            last = i == len(bufs) - 1
            self.write_desc(table, i, addr, n, (DESC_F_WRITE if writable else 0)
                            | (0 if last else DESC_F_NEXT), i + 1)
            addrs.append((addr, n, writable))
        self.offer(q, 0)
        got = self.used(q)
        if got is None:
            return None
        outs = [self.bus.read_bytes(a, n) for a, n, wr in addrs if wr]
        return got[0], got[1], outs

    def used(self, q: int):
        st = self.queues[q]
        used_idx = struct.unpack("<H", self.bus.read_bytes(st["used"] + 2, 2))[0]
        if used_idx == st["used_seen"]:
            return None
        slot = st["used"] + 4 + 8 * (st["used_seen"] % self.qsize)
        st["used_seen"] = (st["used_seen"] + 1) & 0xFFFF
        return struct.unpack("<II", self.bus.read_bytes(slot, 8))
