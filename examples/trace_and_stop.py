"""Run a bare-metal RISC-V ELF, count its blocks, log its traps and stores,
stop it from a hook after N instructions and look at its registers.

    python examples/trace_and_stop.py guest.elf [max-instructions]
"""

import sys

from pyqemu.api import Machine


def main(elf: str, budget: int = 100_000) -> None:
    executed = 0
    stores = []
    with Machine(kernel=elf) as m:           # -M virt -bios none -kernel ELF

        def on_block(cpu, pc, n_insns):
            nonlocal executed
            executed += n_insns
            if executed >= budget:
                m.stop()                       # from a hook: the block does not run

        m.on_block(on_block)
        m.on_exception(lambda cpu, cause, tval, irq: print(
            f"{'interrupt' if irq else 'exception'} {cause} tval={tval:#x} at pc={cpu.pc:#x}"))
        m.on_memory(lambda cpu, kind, va, size, value: stores.append((va, size, value))
                    if kind == "write" else None)
        m.start()
        code = m.wait_for_shutdown(timeout=5)
        if code is not None:
            print(f"guest powered off with status {code}")
        else:
            m.stop()
        print(f"{executed} instructions, {len(stores)} stores, status {m.status}")
        cpu = m.cpu(0)
        print(f"pc={cpu.pc:#x} a0={cpu.reg('a0'):#x} sp={cpu.reg('sp'):#x}")
        print(m.hmp("x/4i $pc"), end="")
        print(m.qmp("query-status"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
