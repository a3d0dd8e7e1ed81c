"""Start paused, patch the guest's first instruction and a register, run.

    python examples/patch_memory.py guest.elf
"""

import struct
import sys
import time

from pyqemu.api import Machine


def main(elf: str) -> None:
    with Machine.from_args(["-M", "virt", "-bios", "none", "-kernel", elf, "-S"]) as m:
        m.start()
        print("status:", m.status)                       # prelaunch
        entry = 0x80000000
        print("first word:", m.read_memory(entry, 4).hex())
        # The guest starts with "li a0, 0x1234" (c.lui + addiw, 6 bytes) when
        # built from tests/monitor's loop guest: make it "li a0, 42; c.nop".
        m.write_memory(entry, struct.pack("<IH", 0x02A00513, 0x0001))
        # Run the first block of the program only: a block hook stops the
        # machine before the next one runs.
        m.on_block(lambda cpu, pc, n: m.stop() if entry < pc < entry + 0x1000 else None)
        m.cont()
        while m.status != "paused":
            time.sleep(0.01)
        print("a0 =", m.cpu().reg("a0"), "events:", [e["event"] for e in m.events])


if __name__ == "__main__":
    main(sys.argv[1])
