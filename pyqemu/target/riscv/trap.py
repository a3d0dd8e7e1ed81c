"""Exception causes and the Python exception that carries a guest trap.

A guest exception raised anywhere under the CPU loop (a load in a helper,
the MMU, a CSR access) is a `GuestTrap`; the loop catches it, restores the
precise PC of the faulting instruction, and enters the trap handler. It is
never an emulator error.
"""

from __future__ import annotations

import enum


class Cause(enum.IntEnum):
    """mcause exception codes (privileged spec 1.12, table 3.6)."""
    INSN_MISALIGNED = 0
    INSN_ACCESS_FAULT = 1
    ILLEGAL_INSN = 2
    BREAKPOINT = 3
    LOAD_MISALIGNED = 4
    LOAD_ACCESS_FAULT = 5
    STORE_MISALIGNED = 6
    STORE_ACCESS_FAULT = 7
    ECALL_U = 8
    ECALL_S = 9
    ECALL_M = 11
    INSN_PAGE_FAULT = 12
    LOAD_PAGE_FAULT = 13
    STORE_PAGE_FAULT = 15


class Interrupt(enum.IntEnum):
    """Interrupt numbers: bit positions in mip/mie."""
    SSI = 1
    MSI = 3
    STI = 5
    MTI = 7
    SEI = 9
    MEI = 11


# Memory access types, used by the MMU, PMP and triggers.
FETCH, LOAD, STORE = 0, 1, 2

ACCESS_FAULT = {FETCH: Cause.INSN_ACCESS_FAULT, LOAD: Cause.LOAD_ACCESS_FAULT,
                STORE: Cause.STORE_ACCESS_FAULT}
PAGE_FAULT = {FETCH: Cause.INSN_PAGE_FAULT, LOAD: Cause.LOAD_PAGE_FAULT,
              STORE: Cause.STORE_PAGE_FAULT}
MISALIGNED = {FETCH: Cause.INSN_MISALIGNED, LOAD: Cause.LOAD_MISALIGNED,
              STORE: Cause.STORE_MISALIGNED}


class GuestTrap(Exception):
    """A synchronous guest exception: cause code and the value for xtval."""

    __slots__ = ("cause", "tval")

    def __init__(self, cause: int, tval: int = 0):
        self.cause = cause
        self.tval = tval

    def __repr__(self) -> str:
        try:
            name = Cause(self.cause).name
        except ValueError:
            name = str(self.cause)
        return f"GuestTrap({name}, tval=0x{self.tval:x})"
