"""The Python API (pyqemu.api): life cycle, memory, registers, in-process
QMP/HMP, hooks, and the examples."""

from __future__ import annotations

import struct
import subprocess
import sys
import time

import pytest

from monhelpers import REPO
from pyqemu.api import Machine, MachineError, QMPCommandError


def test_life_cycle_memory_and_registers(guests):
    with Machine(kernel=str(guests["loop"])) as m:
        m.start(paused=True)
        assert m.status == "prelaunch"
        assert m.qmp("query-status")["status"] == "prelaunch"
        elf = guests["loop"].read_bytes()
        assert m.read_memory(0x80000000, 8) in elf
        # "li a0, 0x1234" becomes "li a0, 42; c.nop"
        m.write_memory(0x80000000, struct.pack("<IH", 0x02A00513, 0x0001))
        m.cont()
        time.sleep(0.2)
        m.stop()
        cpu = m.cpu()
        assert cpu.reg("a0") == 42 and cpu.reg("x10") == 42
        assert cpu.reg("a1") > 0
        assert 0x80000000 <= cpu.pc < 0x80000010
        cpu.set_reg("a0", 7)
        assert "x10/a0   0000000000000007" in m.hmp("info registers")
        assert [e["event"] for e in m.events] == ["RESUME", "STOP"]
        with pytest.raises(QMPCommandError) as e:
            m.qmp("memsave", val="nope", size=1, filename="/dev/null")
        assert e.value.error_class == "GenericError"
        with pytest.raises(MachineError):
            m.read_memory(0x0, 4)


def test_hooks_and_stopping_from_a_hook(guests):
    blocks, traps, writes = [], [], []
    with Machine(kernel=str(guests["poweroff"])) as m:
        m.on_block(lambda cpu, pc, n: blocks.append((pc, n)))
        m.on_exception(lambda cpu, cause, tval, irq: traps.append(cause))
        m.on_memory(lambda cpu, kind, va, size, value: writes.append((kind, va, size, value)))
        m.start()
        assert m.wait_for_shutdown(timeout=20) == 0
    assert blocks[0][0] == 0x1000          # the reset vector in the boot ROM
    assert any(pc == 0x80000000 for pc, _ in blocks)
    # the three UART bytes, then the finisher's power-off word
    assert [(k, va, v) for k, va, _, v in writes if k == "write"] == [
        ("write", 0x10000000, ord("h")), ("write", 0x10000000, ord("i")),
        ("write", 0x10000000, ord("\n")), ("write", 0x100000, 0x5555)]

    seen = []
    with Machine(kernel=str(guests["loop"])) as m:
        def count(cpu, pc):
            seen.append(pc)
            if len(seen) >= 1000:
                m.stop()
        m.on_instruction(count)
        m.start()
        deadline = time.monotonic() + 20
        while m.status != "paused" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert m.status == "paused"
        n = len(seen)
        time.sleep(0.1)
        assert len(seen) == n          # stopped means stopped


def test_from_args_and_bad_options(guests):
    with Machine.from_args(["-M", "virt", "-bios", "none", "-kernel", str(guests["loop"]),
                            "-m", "64M", "-name", "api"]) as m:
        assert m.qmp("query-name") == {"name": "api"}
        assert m.qmp("qom-get", path="/machine", property="ram-size") == 64 << 20
    with pytest.raises(MachineError, match="could not load kernel"):
        Machine(kernel="/nonexistent.elf")
    with pytest.raises(MachineError, match="unknown machine option"):
        Machine(kernel=str(guests["loop"]), bogus=1)


def test_examples_run(guests):
    r = subprocess.run([sys.executable, str(REPO / "examples" / "trace_and_stop.py"),
                        str(guests["loop"]), "3000"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "a0=0x1234" in r.stdout and "'status': 'paused'" in r.stdout
    r = subprocess.run([sys.executable, str(REPO / "examples" / "patch_memory.py"),
                        str(guests["loop"])], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "a0 = 42" in r.stdout
