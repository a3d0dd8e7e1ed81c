"""Interrupt lines between devices and interrupt controllers.

A line carries a level. The sink is a callable taking (number, level); a
device raises or lowers its line and does not know who listens.
"""

from __future__ import annotations

from typing import Callable


class IRQLine:
    __slots__ = ("_sink", "number", "level")

    def __init__(self, sink: Callable[[int, int], None], number: int):
        self._sink = sink
        self.number = number
        self.level = 0

    def set(self, level: int) -> None:
        level = 1 if level else 0
        self.level = level
        self._sink(self.number, level)

    def raise_(self) -> None:
        self.set(1)

    def lower(self) -> None:
        self.set(0)

    def pulse(self) -> None:
        self.set(1)
        self.set(0)
