"""The VM life cycle as a management tool drives it (-S, cont, stop, quit),
guest power-off and reset, -no-shutdown, signals; compared with the real
qemu-system-riscv64 where both can run the same flow."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time

import pytest
from qemu.qmp import ExecuteError, QMPClient

from monhelpers import PYQEMU, QEMU, RawQMP


async def _client(path: str) -> QMPClient:
    c = QMPClient("lifecycle")
    await c.connect(path)
    return c


async def _next_events(c: QMPClient, names: list[str], timeout: float = 20) -> list[dict]:
    """Wait for events until each of `names` arrived; return them in order."""
    got = []
    want = list(names)

    async def collect():
        async for ev in c.events:
            got.append(ev)
            if ev["event"] in want:
                want.remove(ev["event"])
            if not want:
                return
    await asyncio.wait_for(collect(), timeout)
    return got


def _flow(emu) -> list:
    """libvirt's start-up flow; what the client saw, as comparable data."""
    async def go():
        c = await _client(emu.qmp_path)
        seen = [await c.execute("query-status")]
        await c.execute("cont")
        ev = await _next_events(c, ["RESUME"])
        seen.append([e["event"] for e in ev])
        seen.append(await c.execute("query-status"))
        await c.execute("stop")
        ev = await _next_events(c, ["STOP"])
        seen.append([e["event"] for e in ev])
        seen.append(await c.execute("query-status"))
        await c.execute("stop")              # stopping a paused machine: no event
        await c.execute("cont")
        ev = await _next_events(c, ["RESUME"])
        seen.append([e["event"] for e in ev])
        seen.append(await c.execute("query-status"))
        assert set(ev[0]["timestamp"]) == {"seconds", "microseconds"}
        assert abs(ev[0]["timestamp"]["seconds"] - time.time()) < 60
        await c.execute("quit")
        ev = await _next_events(c, ["SHUTDOWN"])
        seen.append([(e["event"], e.get("data")) for e in ev])
        try:
            await c.disconnect()
        except EOFError:
            pass        # qemu.qmp reports the server's own exit on disconnect
        return seen
    seen = asyncio.run(go())
    seen.append(emu.wait())
    return seen


def test_management_flow_matches_qemu(guests, launch):
    ours = _flow(launch(guests["loop"], "-S"))
    theirs = _flow(launch(guests["loop"], "-S", binary=QEMU))
    assert ours == theirs
    assert ours[0]["status"] == "prelaunch"
    assert ours[-2] == [("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})]
    assert ours[-1] == 0


def _poweroff_no_shutdown(emu) -> list:
    async def go():
        c = await _client(emu.qmp_path)
        await c.execute("cont")
        ev = await _next_events(c, ["SHUTDOWN", "STOP"])
        seen = [[(e["event"], e.get("data")) for e in ev]]
        seen.append(await c.execute("query-status"))
        try:
            await c.execute("cont")
        except ExecuteError as e:
            seen.append((e.error_class, e.error.error.desc))
        await c.execute("system_reset")
        ev = await _next_events(c, ["RESET"])
        seen.append([(e["event"], e.get("data")) for e in ev])
        seen.append(await c.execute("query-status"))
        await c.execute("cont")
        ev = await _next_events(c, ["SHUTDOWN", "STOP"])   # the guest runs again
        seen.append([e["event"] for e in ev])
        await c.execute("quit")
        try:
            await c.disconnect()
        except EOFError:
            pass
        return seen
    seen = asyncio.run(go())
    seen.append(emu.wait())
    return seen


def test_guest_poweroff_with_no_shutdown(guests, launch):
    """Not compared with QEMU: 7.2's SiFive test device calls exit() at once,
    with no SHUTDOWN event and whatever -no-shutdown says. We follow the
    documented life cycle (qapi SHUTDOWN, -no-shutdown) instead."""
    ours = _poweroff_no_shutdown(launch(guests["late_poweroff"], "-S", "-no-shutdown"))
    assert ours == [
        [("RESUME", None), ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
         ("STOP", None)],
        {"status": "shutdown", "singlestep": False, "running": False},
        ("GenericError", "Resetting the Virtual Machine is required"),
        [("RESET", {"guest": False, "reason": "host-qmp-system-reset"})],
        # as QEMU's main loop: a reset machine that is not running is in prelaunch
        {"status": "prelaunch", "singlestep": False, "running": False},
        ["RESUME", "SHUTDOWN", "STOP"],
        0]


def test_guest_poweroff_emits_shutdown_and_exits_0(guests, launch):
    emu = launch(guests["late_poweroff"], "-S")
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    c.command("cont")
    events = []
    while True:
        try:
            m = c.recv()
        except EOFError:
            break
        events.append(m)
    assert [e["event"] for e in events] == ["RESUME", "SHUTDOWN"]
    assert events[1]["data"] == {"guest": True, "reason": "guest-shutdown"}
    assert emu.wait() == 0


def test_guest_reset_and_no_reboot(guests, launch):
    emu = launch(guests["reset"], "-S", "-no-reboot")
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    c.command("cont")
    events = []
    while True:
        try:
            events.append(c.recv())
        except EOFError:
            break
    assert [(e["event"], e.get("data")) for e in events] == [
        ("RESUME", None), ("SHUTDOWN", {"guest": True, "reason": "guest-reset"})]
    assert emu.wait() == 0


def test_sigterm_shuts_down_cleanly(guests, launch):
    emu = launch(guests["loop"])
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    emu.proc.send_signal(signal.SIGTERM)
    m = c.recv()
    assert (m["event"], m["data"]) == ("SHUTDOWN", {"guest": False, "reason": "host-signal"})
    assert emu.wait() == 0
    assert b"terminating on signal 15" in emu.proc.stderr.read()


def test_system_powerdown_is_announced(guests, launch):
    emu = launch(guests["loop"])
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    assert c.command("system_powerdown") == {"return": {}}
    m = c.recv()
    assert m["event"] == "POWERDOWN"
    assert c.command("query-status")["return"]["status"] == "running"


def test_pidfile_and_wait_on(guests, launch, tmp_path):
    """wait=on: nothing runs before the first client; -pidfile names us."""
    pidfile = tmp_path / "pid"
    emu = launch(guests["loop"], "-pidfile", str(pidfile), qmp=False)
    sock = str(tmp_path / "w.sock")
    emu2 = launch(guests["loop"], "-qmp", f"unix:{sock},server=on", qmp=False)
    deadline = time.monotonic() + 15
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(pidfile.read_text()) == emu.proc.pid
    from monhelpers import wait_for_socket
    wait_for_socket(sock, emu2.proc)
    c = RawQMP(sock)
    assert "QMP" in c.recv()
    c.command("qmp_capabilities")
    assert c.command("query-status")["return"]["status"] == "running"
    emu.proc.send_signal(signal.SIGTERM)
    assert emu.wait() == 0
    assert not pidfile.exists()


def test_daemonize_with_qmp_on_tcp(guests, tmp_path):
    """-daemonize returns at once (status 0); the daemon serves QMP on TCP
    and writes its own pid, removed when it quits."""
    import socket as _socket
    with _socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pidfile = tmp_path / "daemon.pid"
    r = subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", "-display", "none", "-serial",
                        "null", "-kernel", str(guests["loop"]), "-daemonize", "-pidfile",
                        str(pidfile), "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    deadline = time.monotonic() + 15
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())

    async def go():
        c = QMPClient("daemon")
        for _ in range(100):
            try:
                await c.connect(("127.0.0.1", port))
                break
            except Exception:          # not listening yet
                await asyncio.sleep(0.05)
        assert (await c.execute("query-status"))["status"] == "running"
        await c.execute("quit")
        try:
            await c.disconnect()
        except EOFError:
            pass
    asyncio.run(go())
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)


def test_qmp_on_stdio(guests):
    r = subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", "-kernel", str(guests["loop"]),
                        "-S", "-qmp", "stdio"], input=b'{"execute":"qmp_capabilities"}\n'
                       b'{"execute":"query-status","id":"s"}\n{"execute":"quit"}\n',
                       capture_output=True, timeout=30)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert "QMP" in lines[0]
    assert lines[2] == {"return": {"status": "prelaunch", "singlestep": False, "running": False},
                        "id": "s"}
    assert lines[4]["event"] == "SHUTDOWN"
    assert r.returncode == 0


def test_signal_while_waiting_for_the_first_client(guests, launch, tmp_path):
    sock = str(tmp_path / "never.sock")
    emu = launch(guests["loop"], "-qmp", f"unix:{sock},server=on,wait=on", qmp=False)
    deadline = time.monotonic() + 15
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.02)
    emu.proc.send_signal(signal.SIGTERM)
    assert emu.wait() == 0
