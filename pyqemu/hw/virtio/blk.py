"""virtio-blk (virtio spec 5.2 "Block Device") on a BlockBackend.

Requests run synchronously when the driver kicks the queue: the data moves
between the block layer and guest RAM views (no copy for reads and writes).
"""

from __future__ import annotations

import struct
from enum import IntEnum

from ...block import BlockError
from .device import DeviceId, VirtioDevice
from .virtqueue import VirtqElement

SECTOR = 512
SERIAL_LEN = 20                  # 5.2.6 VIRTIO_BLK_ID_BYTES
SEG_MAX = 254                    # as QEMU: queue size minus header and status
MAX_DISCARD_SECTORS = 0x3FFFFF   # (4 GiB - 512 B) / 512, as QEMU
MAX_DISCARD_SEG = 1

# 5.2.6 virtio_blk_req header: le32 type, le32 reserved, le64 sector
BLK_REQ_HEADER = struct.Struct("<IIQ")
# 5.2.6 virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags
BLK_DISCARD_WZ = struct.Struct("<QII")
BLK_WZ_FLAG_UNMAP = 1


class BlkFeature(IntEnum):
    """5.2.3 "Feature bits" (bit numbers)."""
    SIZE_MAX = 1
    SEG_MAX = 2
    GEOMETRY = 4
    RO = 5
    BLK_SIZE = 6
    FLUSH = 9
    TOPOLOGY = 10
    CONFIG_WCE = 11
    DISCARD = 13
    WRITE_ZEROES = 14


class BlkReqType(IntEnum):
    IN = 0
    OUT = 1
    FLUSH = 4
    GET_ID = 8
    DISCARD = 11
    WRITE_ZEROES = 13


class BlkStatus(IntEnum):
    OK = 0
    IOERR = 1
    UNSUPP = 2


class VirtioBlk(VirtioDevice):
    device_id = DeviceId.BLOCK
    num_queues = 1
    queue_max = 256

    def __init__(self, backend, serial: str | None = None, read_only: bool = False,
                 log=None):
        super().__init__()
        self.backend = backend
        self.read_only = read_only or backend.read_only
        self.serial = (serial or "").encode()[:SERIAL_LEN]
        self.log = log
        f = (BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, BlkFeature.DISCARD,
             BlkFeature.WRITE_ZEROES)
        self.device_features = sum(1 << b for b in f)
        if self.read_only:
            self.device_features |= 1 << BlkFeature.RO

    def config_bytes(self) -> bytes:
        """5.2.4 struct virtio_blk_config, up to write_zeroes_may_unmap."""
        cap = self.backend.length // SECTOR
        return struct.pack("<QIIHBBIBBHIBBHIIIIIB3x",
                           cap, 0, SEG_MAX,
                           0, 0, 0,                # geometry (not offered)
                           SECTOR,                 # blk_size
                           0, 0, 0, 0,             # topology (not offered)
                           1, 0, 1,                # writeback, unused, num_queues
                           MAX_DISCARD_SECTORS, MAX_DISCARD_SEG, 1,
                           MAX_DISCARD_SECTORS, MAX_DISCARD_SEG, 1)

    def notify(self, index: int) -> None:
        q = self.queues[index]
        done = False
        while (elem := q.pop()) is not None:
            written = self._handle(elem)
            q.push_used(elem, written)
            done = True
        if done and not q.interrupt_suppressed():
            self.interrupt()

    def _error(self, msg: str) -> None:
        if self.log is not None:
            self.log(f"virtio-blk: {msg}")

    def _handle(self, elem: VirtqElement) -> int:
        """Run one request; the number of bytes written into its buffers."""
        if elem.out_len < BLK_REQ_HEADER.size or elem.in_len < 1:
            self._error("request without header or status byte")
            return 0
        rtype, _, sector = BLK_REQ_HEADER.unpack(elem.read_out(BLK_REQ_HEADER.size))
        # The last writable byte is the status; data lies between.
        data_in = _split_tail(elem.in_, elem.in_len - 1)
        written = 0
        try:
            status, written = self._dispatch(rtype, sector, elem, data_in)
        except BlockError as e:
            self._error(str(e))
            status = BlkStatus.IOERR
        elem.write_in(bytes([status]), elem.in_len - 1)
        return written + 1

    def _check_range(self, sector: int, nbytes: int) -> bool:
        if nbytes % SECTOR or sector * SECTOR + nbytes > self.backend.length:
            self._error(f"request at sector {sector} of {nbytes} bytes outside the disk "
                        f"({self.backend.length} bytes) or not sector-sized")
            return False
        return True

    def _dispatch(self, rtype: int, sector: int, elem: VirtqElement,
                  data_in: list[memoryview]) -> tuple[int, int]:
        if rtype == BlkReqType.IN:
            nbytes = sum(len(b) for b in data_in)
            if not self._check_range(sector, nbytes):
                return BlkStatus.IOERR, 0
            off = sector * SECTOR
            for b in data_in:
                self.backend.preadv_into(off, b)
                off += len(b)
            return BlkStatus.OK, nbytes
        if rtype == BlkReqType.OUT:
            if self.read_only:
                return BlkStatus.IOERR, 0
            data = elem.read_out()[BLK_REQ_HEADER.size:]
            if not self._check_range(sector, len(data)):
                return BlkStatus.IOERR, 0
            self.backend.pwrite(sector * SECTOR, data)
            return BlkStatus.OK, 0
        if rtype == BlkReqType.FLUSH:
            if not self.read_only:
                self.backend.flush()
            return BlkStatus.OK, 0
        if rtype == BlkReqType.GET_ID:
            ident = self.serial.ljust(SERIAL_LEN, b"\0")
            n = min(len(ident), sum(len(b) for b in data_in))
            return BlkStatus.OK, elem.write_in(ident[:n])
        if rtype in (BlkReqType.DISCARD, BlkReqType.WRITE_ZEROES):
            if self.read_only:
                return BlkStatus.IOERR, 0
            return self._discard_wz(rtype, elem.read_out()[BLK_REQ_HEADER.size:]), 0
        return BlkStatus.UNSUPP, 0

    def _discard_wz(self, rtype: int, payload: bytes) -> int:
        segs = len(payload) // BLK_DISCARD_WZ.size
        if segs == 0 or segs > MAX_DISCARD_SEG or len(payload) % BLK_DISCARD_WZ.size:
            self._error(f"{len(payload)}-byte discard/write-zeroes payload")
            return BlkStatus.UNSUPP
        sector, count, flags = BLK_DISCARD_WZ.unpack(payload[:BLK_DISCARD_WZ.size])
        if rtype == BlkReqType.DISCARD and flags:
            return BlkStatus.UNSUPP        # 5.2.6.2: unmap is only for write zeroes
        if flags & ~BLK_WZ_FLAG_UNMAP or count > MAX_DISCARD_SECTORS:
            return BlkStatus.UNSUPP
        if not self._check_range(sector, count * SECTOR):
            return BlkStatus.IOERR
        if rtype == BlkReqType.DISCARD:
            self.backend.discard(sector * SECTOR, count * SECTOR)
        else:
            self.backend.write_zeroes(sector * SECTOR, count * SECTOR,
                                      may_unmap=bool(flags & BLK_WZ_FLAG_UNMAP))
        return BlkStatus.OK

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is None:
            return
        try:
            if not self.read_only:
                backend.flush()
        finally:
            backend.close()


def _split_tail(bufs: list[memoryview], keep: int) -> list[memoryview]:
    """The first `keep` bytes of `bufs` as views (the data before the status byte)."""
    out = []
    for b in bufs:
        if keep <= 0:
            break
        out.append(b[:keep])
        keep -= len(out[-1])
    return out
