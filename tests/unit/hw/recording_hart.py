"""A stand-in for the CPU side of the interrupt wiring.

The devices call only `cpu.set_irq(bit, level)` on what the board gives them.
The real CPU (pyqemu/target/riscv) is being written at the same time as these
devices, so the tests hand the devices this test double of that one-method
interface: it records the level of each mip bit and every change.
"""

from __future__ import annotations


class RecordingHart:
    def __init__(self) -> None:
        self.mip: dict[int, int] = {}
        self.calls: list[tuple[int, int]] = []

    def set_irq(self, bit: int, level: int) -> None:
        self.mip[bit] = level
        self.calls.append((bit, level))

    def level(self, bit: int) -> int:
        return self.mip.get(bit, 0)
