"""pyqemu's system emulator with `-machine virt,power-button=on`, built from
the same parts as the command line (VirtMachine, chardevs, MonitorHost),
for as long as the command line has no power-button property.

    launch.py ELF QMP_SOCKET SERIAL_FILE [paused]
"""

import os
import sys

from pyqemu.chardev.options import ChardevRegistry, parse_legacy
from pyqemu.machine.riscv.virt import VirtConfig, VirtMachine
from pyqemu.monitor.server import MonitorHost


def main() -> int:
    elf, qmp, serial = sys.argv[1:4]
    paused = sys.argv[4:] == ["paused"]
    registry = ChardevRegistry()
    cfg = VirtConfig(xlen=64, bios="none", kernel=elf, power_button=True, start_paused=paused)
    cfg.serial = parse_legacy(f"file:{serial}", "serial0", registry, "-serial")
    monitor = parse_legacy(f"unix:{qmp},server=on,wait=off", "compat_monitor0", registry,
                           "-qmp", server_default=True)
    machine = VirtMachine(cfg)
    host = MonitorHost(machine, registry)
    host.add_monitor(monitor, "control")
    try:
        return host.run(paused)
    finally:
        machine.close_devices()


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
