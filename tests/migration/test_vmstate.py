"""The vmstate framework and the stream format, in process: every field kind
round-trips, versions are honoured, and a short, corrupt or foreign stream
fails with a line that names what is wrong."""

from __future__ import annotations

import collections
import io

import pytest

from pyqemu.machine.riscv.virt import VirtConfig, VirtMachine
from pyqemu.migration.state import load_stream, machine_sections, save_machine
from pyqemu.migration.stream import StreamError, StreamReader
from pyqemu.migration.vmstate import (Kind, VMStateDescription, VMStateError, array, boolean,
                                      buffer, i64, load_state, save_state, struct_, struct_array,
                                      u8, u16, u32, u64)

from mighelpers import guest_elf


class Leaf:
    VMSTATE = VMStateDescription("leaf", 1, 1, (u16("a"),))

    def __init__(self, a=0):
        self.a = a


class Thing:
    VMSTATE = VMStateDescription("thing", 2, 1, (
        u8("b"), u32("w"), u64("q"), i64("neg"), boolean("flag"), buffer("blob"),
        buffer("fifo"), array("regs", Kind.U64), struct_("leaf", Leaf.VMSTATE),
        struct_array("leaves", Leaf.VMSTATE), u32("added_in_v2", since=2),
    ), post_load=lambda obj, version: setattr(obj, "loaded_version", version))

    def __init__(self):
        self.b, self.w, self.q, self.neg, self.flag = 0, 0, 0, 0, False
        self.blob = bytearray()
        self.fifo = collections.deque()
        self.regs = [0] * 4
        self.leaf = Leaf()
        self.leaves = [Leaf(), Leaf()]
        self.added_in_v2 = 7


def _filled() -> Thing:
    t = Thing()
    t.b, t.w, t.q, t.neg, t.flag = 0xAB, 0xDEADBEEF, (1 << 64) - 1, -5, True
    t.blob += b"hello"
    t.fifo.extend(b"\x01\x02")
    t.regs[:] = [1, 2, 3, 1 << 63]
    t.leaf.a = 0x1234
    t.leaves[1].a = 9
    t.added_in_v2 = 42
    return t


def test_every_kind_round_trips_in_place():
    src = _filled()
    dst = Thing()
    regs, blob = dst.regs, dst.blob
    load_state(Thing.VMSTATE, dst, save_state(Thing.VMSTATE, src), 2)
    assert (dst.b, dst.w, dst.q, dst.neg, dst.flag) == (0xAB, 0xDEADBEEF, (1 << 64) - 1, -5, True)
    assert dst.blob == b"hello" and list(dst.fifo) == [1, 2]
    assert dst.regs == [1, 2, 3, 1 << 63] and dst.regs is regs and dst.blob is blob
    assert dst.leaf.a == 0x1234 and [x.a for x in dst.leaves] == [0, 9]
    assert dst.added_in_v2 == 42 and dst.loaded_version == 2


def test_a_field_newer_than_the_stream_keeps_its_value():
    v1 = VMStateDescription("thing", 1, 1, Thing.VMSTATE.fields[:-1])
    dst = Thing()
    load_state(Thing.VMSTATE, dst, save_state(v1, _filled()), 1)
    assert dst.added_in_v2 == 7 and dst.w == 0xDEADBEEF


def test_versions_out_of_range_are_refused():
    data = save_state(Thing.VMSTATE, _filled())
    with pytest.raises(VMStateError, match="version 3 is newer than the supported 2"):
        load_state(Thing.VMSTATE, Thing(), data, 3)
    old = VMStateDescription("thing", 2, 2, Thing.VMSTATE.fields)
    with pytest.raises(VMStateError, match="older than the oldest supported 2"):
        load_state(old, Thing(), data, 1)


def test_short_long_and_mismatched_payloads_name_the_problem():
    data = save_state(Thing.VMSTATE, _filled())
    dst = Thing()
    with pytest.raises(VMStateError, match=r"truncated at field 'thing\.added_in_v2'"):
        load_state(Thing.VMSTATE, dst, data[:-2], 2)
    assert dst.w == 0, "a failed load leaves the object as it was"
    with pytest.raises(VMStateError, match="3 unexpected bytes"):
        load_state(Thing.VMSTATE, dst, data + b"xyz", 2)
    short = Thing()
    short.regs = [0] * 3
    with pytest.raises(VMStateError, match="'thing.regs' has 4 elements, this machine has 3"):
        load_state(Thing.VMSTATE, short, data, 2)
    too_big = _filled()
    too_big.b = 256
    with pytest.raises(VMStateError, match=r"thing\.b: value 0x100 does not fit U8"):
        save_state(Thing.VMSTATE, too_big)


@pytest.fixture(scope="module")
def machines():
    def make(ram=64 << 20, smp=1):
        return VirtMachine(VirtConfig(bios="none", kernel=guest_elf(), ram_size=ram, smp=smp))
    return make


def _run_guest(m, tbs: int) -> None:
    """Run the guest on this thread for a while (no vCPU thread needed)."""
    m.clock.start()
    for _ in range(tbs // 256):
        for h in m.harts:
            h.run_slice(256, m.events)


@pytest.mark.parametrize("smp", [1, 3])
def test_a_whole_machine_round_trips(machines, smp):
    src = machines(smp=smp)
    _run_guest(src, 200_000)
    assert src.harts[0].pc != 0x1000, "the guest ran"
    stream = save_machine(src)
    with pytest.raises(StreamError, match="Unknown savevm section or instance 'riscv-cpu' 1"
                       if smp > 1 else "lacks the state of: riscv-cpu 1"):
        load_stream(StreamReader(io.BytesIO(stream).read), machines(smp=1 if smp > 1 else 2))
    dst = machines(smp=smp)
    load_stream(StreamReader(io.BytesIO(stream).read), dst)
    for a, b in zip(src.harts, dst.harts):
        assert (b.pc, b.r[:64], b.waiting) == (a.pc, a.r[:64], a.waiting)
    assert bytes(dst.ram.view) == bytes(src.ram.view)
    for a, b in zip(machine_sections(src), machine_sections(dst)):
        if a.name == "timer":
            continue
        assert save_state(a.vmsd, a.obj) == save_state(b.vmsd, b.obj), a.name


def test_bad_streams_fail_with_one_line(machines):
    src = machines()
    stream = save_machine(src)
    dst = machines()

    def load(data, m=dst):
        load_stream(StreamReader(io.BytesIO(data).read), m)

    with pytest.raises(StreamError, match="not a pyqemu migration stream"):
        load(b"QEVM" + stream[4:])
    with pytest.raises(StreamError, match="truncated"):
        load(stream[:len(stream) // 2])
    at = stream.rindex(b"\x00\x06serial") + 20     # inside the UART section's payload
    corrupt = stream[:at] + bytes([stream[at] ^ 0xFF]) + stream[at + 1:]
    with pytest.raises(StreamError, match="section 'serial' instance 0: checksum mismatch"):
        load(corrupt)
    with pytest.raises(StreamError, match="Length mismatch: RAM block 'riscv.virt.ram' is "
                                          "0x4000000 bytes in the stream, 0x8000000 here"):
        load(stream, machines(128 << 20))
    cut = stream.rindex(b"riscv.sifive.test") - 3
    with pytest.raises(StreamError, match="end marker counts|lacks the state of"):
        load(stream[:cut] + stream[-5:])


def test_passes_send_what_changed_and_the_destination_follows(machines):
    """A page written, sent, then changed and finally cleared between passes
    ends as the source has it; untouched RAM is never sent as data."""
    from pyqemu.migration.ram import RamReceiver, RamSender
    from pyqemu.migration.state import ram_blocks
    from pyqemu.migration.stream import Record, StreamWriter

    src, dst = machines(), machines()
    out = bytearray()
    w = StreamWriter(out.extend)
    sender = RamSender(ram_blocks(src))
    page = 0x3000000                      # 48 MiB into RAM: nothing there yet
    src.ram.view[page:page + 4] = b"abcd"
    first = sender.send_pass(w)
    assert first.normal < 100 and first.duplicate > 16000
    src.ram.view[page:page + 4] = b"wxyz"
    src.ram.view[page + 8192:page + 8196] = b"more"
    second = sender.send_pass(w)
    assert (second.normal, second.duplicate) == (2, 0)
    src.ram.view[page:page + 4] = bytes(4)
    third = sender.send_pass(w)
    assert (third.normal, third.duplicate) == (0, 1)
    assert sender.send_pass(w).pages == 0, "nothing changed, nothing sent"

    from pyqemu.migration.stream import StreamReader
    r = StreamReader(io.BytesIO(bytes(out)).read)
    recv = RamReceiver(ram_blocks(dst))
    recv.setup([(n, reg.size) for n, reg in ram_blocks(dst)])
    while True:
        try:
            kind = r.record_type()
        except StreamError:
            break
        assert kind is Record.RAM_PAGES
        recv.load(*r.ram_pages())
    assert bytes(dst.ram.view) == bytes(src.ram.view)


def test_a_timer_that_expired_while_stopped_wakes_the_hart_after_loading(machines):
    """The source stopped after mtimecmp passed but before the timer callback
    ran: the hart sleeps in WFI with MTIP still clear. After loading, the
    CLINT must raise MTIP (QEMU 7.2's destination leaves such a guest
    asleep for good, FACTS.md)."""
    src = machines()
    hart = src.harts[0]
    hart.mie = 1 << 7
    hart.waiting = True
    src.clint._mtimecmp[0] = src.clint.ticks()   # due now, its callback not run
    hart.mip_hw = 0
    hart._recompute_mip()
    dst = machines()
    load_stream(StreamReader(io.BytesIO(save_machine(src)).read), dst)
    assert dst.harts[0].mip & (1 << 7)
    assert not dst.harts[0].waiting


def test_the_power_button_keeps_its_pending_events():
    from pyqemu.hw.input.virtio_input import VirtioPowerButton
    a, b = VirtioPowerButton(), VirtioPowerButton()
    a.press()                       # no queues yet: the events wait
    a._select = 1
    load_state(b.VMSTATE, b, save_state(a.VMSTATE, a), 1)
    assert b._pending == a._pending and len(b._pending) == 4 and b._select == 1


def test_every_device_of_the_board_migrates(tmp_path):
    """Each device the board wires (and each virtio model in a slot, the
    power button too) has a VMSTATE and a section: a device added to the
    board without one fails here."""
    from pyqemu.block import open_image
    from pyqemu.hw.virtio.blk import VirtioBlk
    from pyqemu.hw.virtio.console import VirtioConsole
    from pyqemu.hw.virtio.rng import VirtioRng
    import subprocess
    disk = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"], check=True)
    backend = open_image(str(disk))
    try:
        m = VirtMachine(VirtConfig(bios="none", kernel=guest_elf(), ram_size=64 << 20,
                                   power_button=True,
                                   virtio_devices=[VirtioBlk(backend), VirtioRng(), VirtioConsole()]))
        covered = {id(s.obj) for s in machine_sections(m)}
        # (An empty virtio-mmio slot holds nothing to carry.)
        wired = [d for d in m.devices if getattr(d, "device", True) is not None]
        for dev in wired + [t.device for t in m.virtio if t.device is not None]:
            assert isinstance(type(dev).__dict__.get("VMSTATE") or getattr(dev, "VMSTATE", None),
                              VMStateDescription), type(dev).__name__
            assert id(dev) in covered, type(dev).__name__
        names = [s.name for s in machine_sections(m)]
        assert {"virtio-input", "virtio-console", "virtio-device"} <= set(names)
    finally:
        backend.close()
