"""The inactive side of a hand-over cannot write: a guest's virtio-blk write
through an image opened for an incoming migration fails with an I/O error
and leaves the file byte for byte as it was (checked with hashes and the
real qemu-img), and the same image takes writes once activated."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "virtio"))

from pyqemu.block import drive_from_options  # noqa: E402
from pyqemu.hw.virtio.blk import VirtioBlk  # noqa: E402
from virtio_driver import Driver, make_machine  # noqa: E402

from mighelpers import create_disk, lock_bytes  # noqa: E402

OUT = 1
S_OK, S_IOERR = 0, 1


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_writes_through_an_inactive_image_fail_and_touch_nothing(tmp_path):
    disk = create_disk(tmp_path / "shared.qcow2")
    before = _sha(disk)
    backend = drive_from_options({"file": disk, "format": "qcow2", "active": "off"})
    try:
        assert not backend.active
        assert lock_bytes(os.getpid(), disk) == set(), "an inactive image holds no lock"
        m = make_machine(tmp_path, [VirtioBlk(backend)])
        d = Driver(m, slot=7)
        d.init()
        hdr = struct.pack("<IIQ", OUT, 0, 0)
        _, _, (status,) = d.submit(0, [(hdr, False), (b"\xab" * 512, False), (1, True)])
        assert status[0] == S_IOERR
        assert _sha(disk) == before, "the failed write left the file as it was"
        check = subprocess.run(["qemu-img", "check", disk], capture_output=True, text=True)
        assert check.returncode == 0, "nobody holds a lock: the real qemu-img opens it"

        backend.activate()
        assert lock_bytes(os.getpid(), disk) == {100, 101, 103, 201, 203}
        _, _, (status,) = d.submit(0, [(hdr, False), (b"\xab" * 512, False), (1, True)])
        assert status[0] == S_OK
        backend.flush()
        backend.inactivate()
        assert lock_bytes(os.getpid(), disk) == {100}, "an inactivated source keeps byte 100"
    finally:
        backend.close()
    read = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0xab 0 512", disk],
                          capture_output=True, text=True)
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout
