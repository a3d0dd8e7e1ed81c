"""Let GDB in: start paused with a gdbstub, wait for GDB to run the guest.

    python examples/gdb_remote.py guest.elf [PORT]
    gdb-multiarch guest.elf -ex 'target remote :PORT' -ex 'break main' -ex continue

GDB's `monitor info status` (and any HMP command) works through the stub.
"""

import sys

from pyqemu.api import Machine


def main(elf: str, port: str = "1234") -> None:
    with Machine(kernel=elf) as m:
        m.gdbserver(f"tcp::{port}")
        m.start(paused=True)
        print(f"waiting for gdb on port {port} (status {m.status})")
        code = m.wait_for_shutdown()
        print("guest exited with", code, "events:", [e["event"] for e in m.events])


if __name__ == "__main__":
    main(*sys.argv[1:])
