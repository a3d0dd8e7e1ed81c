"""query-block, query-blockstats, query-named-block-nodes and `info block`
compared field by field with the real qemu-system-riscv64 on the same
command line; I/O accounting and BLOCK_IO_ERROR with a register-level
virtio-blk driver (tests/virtio/virtio_driver.py)."""

from __future__ import annotations

import asyncio
import json
import re
import resource
import struct
import subprocess
import sys
from pathlib import Path


from monhelpers import PYQEMU, QEMU, RawQMP

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "virtio"))

COMMANDS = [("query-block", {}), ("query-blockstats", {}),
            ("query-blockstats", {"query-nodes": True}), ("query-named-block-nodes", {}),
            ("query-named-block-nodes", {"flat": True}),
            ("human-monitor-command", {"command-line": "info block"})]


def _answers(emu) -> list:
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    out = [c.command(name, **args) for name, args in COMMANDS]
    c.close()
    # Automatic node names are numbered differently by each emulator.
    return json.loads(re.sub(r"#block\d+", "#block", json.dumps(out)))


def test_block_queries_match_qemu(launch, guests, tmp_path):
    qcow2, raw = tmp_path / "a.qcow2", tmp_path / "b.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "2M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "1M"], check=True)
    args = ["-S",
            "-blockdev", f"driver=qcow2,node-name=q1,file.driver=file,file.node-name=f1,"
                         f"file.filename={qcow2}",
            "-device", "virtio-blk-device,drive=q1",
            "-blockdev", f"driver=raw,node-name=r2,read-only=on,file.driver=file,"
                         f"file.filename={raw}",
            "-device", "virtio-blk-device,drive=r2"]
    qemu = launch(guests["loop"], *args, binary=QEMU)
    want = _answers(qemu)
    qemu.close()                                   # its image locks go with it
    got = _answers(launch(guests["loop"], *args, binary=PYQEMU))
    assert want[0]["return"][3]["inserted"]["node-name"] == "q1"     # the setup is right
    for (name, _), w, g in zip(COMMANDS, want, got):
        assert g == w, name


def _machine_with_disk(tmp_path):
    from pyqemu.block import open_image
    from pyqemu.hw.virtio.blk import VirtioBlk
    from pyqemu.monitor.commands import Dispatcher
    from pyqemu.monitor.qmp import EventHub
    from virtio_driver import Driver, make_machine
    path = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "4M"], check=True)
    m = make_machine(tmp_path, [VirtioBlk(open_image(str(path), "raw"))])
    hub = EventHub()
    events = []
    hub.listeners.append(events.append)
    dispatcher = Dispatcher(m, hub)
    d = Driver(m, slot=7)
    d.init()
    return m, d, dispatcher, events


def _request(d, rtype, sector, data=b"", read=0):
    bufs = [(struct.pack("<IIQ", rtype, 0, sector) + data, False)]
    if read:
        bufs.append((read, True))
    bufs.append((1, True))
    return d.submit(0, bufs)[2][-1]            # the status byte


def _disk_stats(dispatcher) -> dict:
    """The stats of the disk (after QEMU's default empty drives)."""
    entries = asyncio.run(dispatcher.qmp_query_blockstats())
    assert [e["device"] for e in entries] == ["none2", "floppy0", "sd0", ""]
    return entries[-1]["stats"]


def test_accounting_counts_guest_requests(tmp_path):
    m, d, dispatcher, _ = _machine_with_disk(tmp_path)
    assert _request(d, 1, 8, b"\x11" * 4096) == b"\0"         # write 4 KiB at 4 KiB
    assert _request(d, 0, 0, read=1024) == b"\0"               # read 1 KiB
    assert _request(d, 4, 0) == b"\0"                          # flush
    stats = _disk_stats(dispatcher)
    assert (stats["wr_bytes"], stats["wr_operations"], stats["wr_highest_offset"]) == \
        (4096, 1, 8192)
    assert (stats["rd_bytes"], stats["rd_operations"], stats["flush_operations"]) == (1024, 1, 1)
    assert stats["failed_wr_operations"] == 0
    m.close_devices()


def test_a_failing_write_gives_block_io_error(tmp_path):
    m, d, dispatcher, events = _machine_with_disk(tmp_path)
    # The host refuses writes past 1 MiB of any file (RLIMIT_FSIZE: EFBIG;
    # Python ignores SIGXFSZ).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        status = _request(d, 1, 4096, b"\x22" * 512)           # 2 MiB into the disk
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert status == b"\x01"                                   # VIRTIO_BLK_S_IOERR
    ev = [e for e in events if e["event"] == "BLOCK_IO_ERROR"]
    assert len(ev) == 1
    assert ev[0]["data"] == {"device": "", "node-name": ev[0]["data"]["node-name"],
                             "operation": "write", "action": "report", "nospace": False,
                             "reason": "File too large"}
    stats = _disk_stats(dispatcher)
    assert stats["failed_wr_operations"] == 1 and stats["wr_operations"] == 0
    m.close_devices()
