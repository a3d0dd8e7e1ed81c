"""virtio-rng and virtio-console through the registers."""

from __future__ import annotations

from pyqemu.chardev.parse import parse_serial
from pyqemu.hw.virtio.console import VirtioConsole
from pyqemu.hw.virtio.rng import VirtioRng
from virtio_driver import Driver, make_machine


def test_rng_fills_buffers(tmp_path):
    m = make_machine(tmp_path, [VirtioRng()], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    assert d.r(0x8) == 4
    d.init()
    _, n, (a,) = d.submit(0, [(64, True)])
    _, n2, (b,) = d.submit(0, [(64, True)])
    assert n == n2 == 64
    assert a != b and a != bytes(64)
    # indirect chain: one table of two writable buffers
    table = d.alloc(32)
    b1, b2 = d.alloc(16), d.alloc(16)
    d.write_desc(table, 0, b1, 16, 2 | 1, 1)
    d.write_desc(table, 1, b2, 16, 2, 0)
    d.write_desc(d.queues[0]["desc"], 0, table, 32, 4, 0)
    d.offer(0, 0)
    assert d.used(0) == (0, 32)
    assert d.bus.read_bytes(b2, 16) != bytes(16)


def test_console_output_to_file_chardev(tmp_path):
    out = tmp_path / "console.txt"
    chardev = parse_serial(f"file:{out}")
    m = make_machine(tmp_path, [VirtioConsole(chardev)], legacy=True)
    d = Driver(m, slot=7, qsize=8)
    assert d.r(0x8) == 3
    d.init(nqueues=2)
    assert d.config(4, 4) == 1                        # max_nr_ports
    got = d.submit(1, [(b"hello, ", False), (b"virtio\n", False)])
    assert got[:2] == (0, 0)
    chardev.close()
    assert out.read_bytes() == b"hello, virtio\n"


def test_console_input_waits_for_buffers(tmp_path):
    console = VirtioConsole(None)
    m = make_machine(tmp_path, [console], legacy=False)
    d = Driver(m, slot=7, qsize=8)
    d.init(nqueues=2)
    console.receive(b"typed")                         # no receive buffer yet: kept
    buf = d.alloc(16)
    d.write_desc(d.queues[0]["desc"], 0, buf, 16, 2, 0)
    d.offer(0, 0)
    assert d.used(0) == (0, 5)
    assert d.bus.read_bytes(buf, 5) == b"typed"
