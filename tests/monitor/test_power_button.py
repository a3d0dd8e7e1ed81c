"""system_powerdown reaching a guest that handles it: the opt-in power
button (-machine virt,power-button=on: a virtio input device with
KEY_POWER). The guest's driver is checked on the real qemu-system-riscv64
with its virtio-keyboard-device and a power key sent by input-send-event."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from qemu.qmp import ExecInterruptedError, QMPClient

from monhelpers import QEMU, REPO, wait_for_socket

HERE = Path(__file__).resolve().parent / "power_button"
PYTHON = str(REPO / ".venv" / "bin" / "python")


@pytest.fixture(scope="module")
def guest(tmp_path_factory) -> Path:
    elf = tmp_path_factory.mktemp("power-button") / "guest.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv64imac_zicsr", "-mabi=lp64",
                    "-mcmodel=medany", "-nostdlib", "-ffreestanding", "-O1", "-Wall", "-Werror",
                    "-Wl,-Ttext=0x80000000", str(HERE / "start.S"), str(HERE / "guest.c"),
                    "-o", str(elf)], check=True)
    return elf


def _wait_for_text(path: Path, text: str, proc, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"emulator exited with {proc.returncode}"
        time.sleep(0.02)
    raise AssertionError(f"no {text!r} on the serial port")


async def _events_until(c: QMPClient, last: str, timeout: float = 20) -> list[dict]:
    got = []

    async def collect():
        async for ev in c.events:
            got.append(ev)
            if ev["event"] == last:
                return
    await asyncio.wait_for(collect(), timeout)
    return got


def test_the_guest_driver_works_on_qemu(guest, tmp_path):
    serial, qmp = tmp_path / "serial.txt", str(tmp_path / "q.sock")
    proc = subprocess.Popen([QEMU, "-M", "virt", "-bios", "none", "-display", "none",
                             "-kernel", str(guest), "-serial", f"file:{serial}",
                             "-device", "virtio-keyboard-device",
                             "-qmp", f"unix:{qmp},server=on,wait=off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_socket(qmp, proc)
        _wait_for_text(serial, "ready", proc)

        async def press():
            c = QMPClient("power")
            await c.connect(qmp)
            try:
                await c.execute("input-send-event", {"events": [
                    {"type": "key",
                     "data": {"down": True, "key": {"type": "qcode", "data": "power"}}}]})
            except ExecInterruptedError:
                pass        # the guest powered QEMU off before it answered: the expected end
            finally:
                try:
                    await c.disconnect()
                except EOFError:
                    pass    # ... or after, before the client had hung up: the same end
        asyncio.run(press())
        assert proc.wait(20) == 0           # QEMU's SiFive test exit
        assert serial.read_text() == "ready\npower key\n"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_libvirt_flow_powerdown_gives_powerdown_then_shutdown(guest, tmp_path):
    serial, qmp = tmp_path / "serial.txt", str(tmp_path / "q.sock")
    proc = subprocess.Popen([PYTHON, str(HERE / "launch.py"), str(guest), qmp, str(serial),
                             "paused"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO)
    try:
        wait_for_socket(qmp, proc)

        async def flow():
            c = QMPClient("libvirt")
            await c.connect(qmp)
            assert (await c.execute("query-status"))["status"] == "prelaunch"
            await c.execute("cont")
            assert [e["event"] for e in await _events_until(c, "RESUME")] == ["RESUME"]
            await asyncio.get_running_loop().run_in_executor(
                None, _wait_for_text, serial, "ready", proc)
            await c.execute("stop")
            assert [e["event"] for e in await _events_until(c, "STOP")] == ["STOP"]
            assert (await c.execute("query-status"))["status"] == "paused"
            await c.execute("cont")
            await _events_until(c, "RESUME")
            await c.execute("system_powerdown")
            events = await _events_until(c, "SHUTDOWN")
            return events
        events = asyncio.run(flow())
        assert [e["event"] for e in events] == ["POWERDOWN", "SHUTDOWN"]
        assert events[1]["data"] == {"guest": True, "reason": "guest-shutdown"}
        assert proc.wait(20) == 0
        assert serial.read_text() == "ready\npower key\n"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _dts(dtb: bytes) -> list[str]:
    """The tree as source, without /chosen/rng-seed (fresh random bytes each boot)."""
    out = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", "-q"], input=dtb,
                         capture_output=True, check=True).stdout.decode()
    return [line for line in out.splitlines() if "rng-seed" not in line]


def test_power_button_leaves_the_device_tree_alone(guest):
    from pyqemu.api import Machine
    with Machine(kernel=str(guest)) as plain, Machine(kernel=str(guest), power_button=True) as pb:
        assert _dts(pb._vm.dtb) == _dts(plain._vm.dtb)
        assert "virtio_mmio@10001000" in "\n".join(_dts(pb._vm.dtb))
        # the button sits in the lowest slot, the -device ones fill from the top
        assert [t.device is not None for t in pb._vm.virtio] == [True] + [False] * 7


def test_without_a_power_button_powerdown_is_only_an_event(guests):
    # As QEMU 7.2's virt: POWERDOWN, and the machine runs on.
    from pyqemu.api import Machine
    with Machine(kernel=str(guests["loop"])) as m:
        m.start()
        m.qmp("system_powerdown")
        assert m.wait_for_shutdown(0.5) is None
        assert m.status == "running"
        assert [e["event"] for e in m.events] == ["RESUME", "POWERDOWN"]


def test_api_command_line_takes_the_machine_property(guest):
    from pyqemu.api import Machine, MachineError
    with Machine.from_args(["-M", "virt,power-button=on", "-bios", "none",
                            "-kernel", str(guest)]) as m:
        assert m._vm.power_button is not None
    with pytest.raises(MachineError, match="power-button"):
        Machine.from_args(["-M", "virt,power-button=maybe", "-bios", "none",
                           "-kernel", str(guest)])
