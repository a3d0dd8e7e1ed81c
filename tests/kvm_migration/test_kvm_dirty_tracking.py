"""The microvm's dirty tracking that drives live migration's RAM passes, on
a running guest in this process: KVM's dirty log names the pages the guest
writes, the board's bus the pages a device writes (which KVM does not see),
and DirtyLogSender's later passes send exactly those pages."""

from __future__ import annotations

import io
import time

from kmhelpers import guest_elf, make_disk

from pyqemu.chardev.options import ChardevRegistry
from pyqemu.hw.virtio.options import VirtioOptions
from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine
from pyqemu.migration.stream import Record, StreamError, StreamReader, StreamWriter
from pyqemu.system.runstate import RunState


def _machine(tmp_path):
    disk = make_disk(tmp_path / "disk.qcow2")
    opts = VirtioOptions()
    opts.add_drive(f"file={disk},format=qcow2,if=none,id=d0")
    opts.add_device("virtio-blk-device,drive=d0", ChardevRegistry())
    cfg = MicrovmConfig(ram_size=64 << 20, kernel=guest_elf(), append="delay=3000")
    cfg.virtio_devices = opts.all_devices()
    return MicrovmMachine(cfg), opts


def _pages_in(stream: bytes) -> set[int]:
    """Page numbers of the RAM_PAGES records of a stream without header."""
    r = StreamReader(io.BytesIO(stream).read)
    pages = set()
    while True:
        try:
            kind = r.record_type()
        except StreamError:             # the end of these records
            return pages
        assert kind is Record.RAM_PAGES
        block, first, flags, _data = r.ram_pages()
        assert block == 0
        pages.update(range(first, first + len(flags)))


def test_guest_and_device_writes_drive_the_passes(tmp_path):
    m, opts = _machine(tmp_path)
    try:
        m.start_vcpus()
        time.sleep(0.5)
        blk = next(t for t in m.virtio if t.device is not None)
        used_page = blk.queues[0].used // 4096
        sender = m.ram_sender(m.ram_blocks())
        sent = bytearray()
        first = sender.send_pass(StreamWriter(sent.extend))
        assert first.pages == (64 << 20) // 4096            # pass 1: every page
        time.sleep(0.3)                                     # a few ticks
        sent.clear()
        second = sender.send_pass(StreamWriter(sent.extend))
        pages = _pages_in(bytes(sent))
        # The guest's 256 buffer pages each tick (KVM's log), the used ring
        # only the device writes (the bus's log); far from all RAM.
        assert 256 <= second.pages < 1024 and len(pages) == second.pages
        assert used_page in pages
        # Nothing written since: an empty pass (both logs were emptied).
        m.runstate.vm_stop(RunState.PAUSED)
        sent.clear()
        sender.send_pass(StreamWriter(sent.extend))
        sent.clear()
        assert sender.send_pass(StreamWriter(sent.extend)).pages == 0
        # A device write while stopped is still logged.
        m.bus.ram_slice(0x300000, 8192 + 1, write=True)[:] = bytes(8193)
        sent.clear()
        sender.send_pass(StreamWriter(sent.extend))
        assert _pages_in(bytes(sent)) == {0x300, 0x301, 0x302}
        sender.close()
        assert not m.bus.logging
    finally:
        m.quit()
        m.finish()
        m.close_devices()
        opts.close()
