"""A paused vCPU has no half-done exit (api.rst, KVM_RUN: the operation of
an I/O or MMIO exit completes only on the next KVM_RUN). A VMM that sets
the registers of a vCPU paused right after such an exit, as loadvm and an
incoming migration do, must not have them overwritten by that exit's
completion when the vCPU runs again.

The guest reads an unassigned address in a loop, so the vCPU is nearly
always between an MMIO exit and its completion when it is paused; the test
then moves RIP to code that exits through isa-debug-exit."""

from __future__ import annotations

import time

from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine


def test_registers_set_while_paused_survive_the_resume(guest):
    for attempt in range(5):
        m = MicrovmMachine(MicrovmConfig(ram_size=16 << 20, smp=1, kernel=guest("mmioloop"),
                                         debug_exits=[(0xF4, 1)], no_reboot=True))
        try:
            m.start_vcpus()
            time.sleep(0.2)                       # well into the loop
            m.runner.pause()
            target = m.bus.read(0x500, 4)
            vcpu = m.vcpus[0]
            regs = vcpu.get_regs()
            assert regs.rip != target
            regs.rip = target
            vcpu.set_regs(regs)
            m.runner.resume()
            # The guest leaves from `target` (isa-debug-exit: value 3 -> status 7);
            # had the old MMIO read's completion (KVM's emulator finishing the
            # instruction) put back its next RIP, it
            # would loop on.
            assert m.wait(10), f"the guest went on looping (attempt {attempt})"
            assert m.finish() == 7
        finally:
            m.finish()
            m.close_devices()
