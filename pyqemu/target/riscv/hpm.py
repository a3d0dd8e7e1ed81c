"""Zihpm: the programmable hardware performance counters mhpmcounter3..31
and their event selectors mhpmevent3..31 (privileged spec, "Hardware
Performance Monitor").

As on QEMU 7.2's virt board: 16 counters (3..18) exist and hold what is
written; the others are not implemented (their CSRs raise illegal
instruction, which is how OpenSBI counts them: it reports "MHPM Count: 16");
every mhpmevent3..31 holds what is written. A counter counts when its event
is one of the SBI PMU hardware events QEMU counts, CPU cycles (1) and
instructions retired (2), and its mcountinhibit bit is clear; with any other
event (0 = none) it keeps its value.

Counting is lazy: a counter is its value at `base_instret` plus the
instructions retired since, so nothing runs per instruction.
"""

from __future__ import annotations

FIRST, COUNT = 3, 16
IMPLEMENTED = range(FIRST, FIRST + COUNT)
EVENTS = range(3, 32)
EVENT_IDX_MASK = 0xFFFFF          # the event code field QEMU and OpenSBI use
COUNTED_EVENTS = (1, 2)           # SBI PMU: HW_CPU_CYCLES, HW_INSTRUCTIONS
_MASK64 = (1 << 64) - 1


class HpmCounters:
    def __init__(self, cpu):
        self.cpu = cpu
        self.values = [0] * 32
        self.events = [0] * 32
        self.base_instret = [0] * 32

    def _counting(self, idx: int) -> bool:
        return ((self.events[idx] & EVENT_IDX_MASK) in COUNTED_EVENTS
                and not (self.cpu.mcountinhibit >> idx) & 1)

    def read(self, idx: int) -> int:
        if self._counting(idx):
            return (self.values[idx] + self.cpu.instret - self.base_instret[idx]) & _MASK64
        return self.values[idx]

    def _rebase(self, idx: int, value: int, retiring: int) -> None:
        self.values[idx] = value & _MASK64
        # The writing instruction itself retires after the write: it is not counted.
        self.base_instret[idx] = self.cpu.instret + retiring

    def write(self, idx: int, value: int) -> None:
        self._rebase(idx, value, 1)

    def write_event(self, idx: int, value: int) -> None:
        self._rebase(idx, self.read(idx), 0)
        self.events[idx] = value & self.cpu.xmask

    def before_inhibit_change(self) -> None:
        """mcountinhibit is about to change: fold every running count in."""
        for idx in IMPLEMENTED:
            self._rebase(idx, self.read(idx), 0)

    def reset(self) -> None:
        self.values = [0] * 32
        self.events = [0] * 32
        self.base_instret = [0] * 32
