"""QMP protocol behaviour, against the real qemu-system-riscv64 where the
same exchange is observable: greeting, negotiation, errors, bad input."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from qemu.qmp import ExecuteError, QMPClient

from monhelpers import PYQEMU, QEMU, RawQMP


def _exchange(path: str) -> list[dict]:
    """A fixed script of good and bad requests; the answers, ids kept."""
    c = RawQMP(path)
    out = [c.recv()]
    script = [
        b'{"execute": "query-status", "id": 1}',
        b'{"execute": "qmp_capabilities", "arguments": {"bogus": 1}, "id": 2}',
        b'{"execute": "qmp_capabilities", "id": {"nested": [1]}}',
        b'{"execute": "qmp_capabilities", "id": 3}',
        b'not json\n',
        b'[1, 2]',
        b'{"id": 4}',
        b'{"execute": 42, "id": 5}',
        b'{"execute": "query-status", "arguments": [], "id": 6}',
        b'{"execute": "query-status", "bogus": 1, "id": 7}',
        b'{"execute": "no-such-command", "id": 8}',
        b'{"execute": "memsave", "arguments": {"val": "x", "size": 1, "filename": "/x"}, "id": 9}',
        b'{"execute": "memsave", "arguments": {"size": 1, "filename": "/x"}, "id": 10}',
        b'{"execute": "query-status", "arguments": {"extra": true}, "id": 11}',
        b'{"execute": "pmemsave", "arguments": {"val": 1, "size": true, "filename": "/x"}, "id": 12}',
        b'{"execute": "query-status", "id": 13}',
    ]
    for msg in script:
        c.send(msg)
        out.append(c.recv_reply())
        if msg.startswith(b"not json"):
            out.append(c.recv_reply())      # two bad keywords, two errors
    c.close()
    return out


def _normalise(messages: list[dict]) -> list[dict]:
    greeting = messages[0]["QMP"]
    greeting["version"] = "-"
    return messages


def test_protocol_exchange_matches_qemu(guests, launch):
    ours = launch(guests["loop"], "-S")
    theirs = launch(guests["loop"], "-S", binary=QEMU)
    a = _normalise(_exchange(ours.qmp_path))
    b = _normalise(_exchange(theirs.qmp_path))
    for got, want in zip(a, b):
        assert got == want
    assert len(a) == len(b)
    # The ones FACTS.md quotes, to be explicit.
    assert a[1]["error"] == {"class": "CommandNotFound",
                             "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}
    assert a[5]["error"]["desc"] == "JSON parse error, invalid keyword 'not'"
    assert a[6]["error"]["desc"] == "JSON parse error, invalid keyword 'json'"
    assert a[7]["error"]["desc"] == "QMP input must be a JSON object"
    assert a[3] == {"return": {}, "id": {"nested": [1]}}


def _run(coro):
    return asyncio.run(coro)


def test_qmpclient_negotiates_and_runs_commands(guests, launch):
    emu = launch(guests["loop"], "-S", "-name", "guest-one")

    async def go():
        c = QMPClient("test")
        await c.connect(emu.qmp_path)
        assert list(c.greeting.QMP.capabilities) == ["oob"]
        assert c.greeting.QMP.version["qemu"] == {"major": 7, "minor": 2, "micro": 0}
        assert await c.execute("query-name") == {"name": "guest-one"}
        assert await c.execute("query-target") == {"arch": "riscv64"}
        assert await c.execute("query-kvm") == {"enabled": False, "present": False}
        cpus = await c.execute("query-cpus-fast")
        assert [x["cpu-index"] for x in cpus] == [0] and cpus[0]["target"] == "riscv64"
        with pytest.raises(ExecuteError) as e:
            await c.execute("qmp_capabilities")
        assert e.value.error_class == "CommandNotFound"
        assert "already complete" in e.value.error.error.desc
        with pytest.raises(ExecuteError) as e:
            await c.execute("inject-nmi")
        assert e.value.error_class == "GenericError"
        with pytest.raises(ExecuteError) as e:
            await c.execute("qom-list", {"path": "/nowhere"})
        assert e.value.error_class == "DeviceNotFound"
        assert {"name": "soc0", "type": "child<riscv.hart_array>"} in \
            await c.execute("qom-list", {"path": "/machine"})
        await c.disconnect()
    _run(go())


def test_schema_drives_checking_and_introspection(guests, launch):
    emu = launch(guests["loop"], "-S")

    async def go():
        c = QMPClient("test")
        await c.connect(emu.qmp_path)
        names = {x["name"] for x in await c.execute("query-commands")}
        for n in ("qmp_capabilities", "query-status", "stop", "cont", "system_reset",
                  "system_powerdown", "quit", "human-monitor-command", "memsave", "pmemsave",
                  "qom-list", "qom-get", "query-qmp-schema", "blockdev-add", "query-block"):
            assert n in names
        schema = await c.execute("query-qmp-schema")
        by_name = {e["name"]: e for e in schema}
        # Every type a command, event or member refers to is described.
        for e in schema:
            refs = [e.get("arg-type"), e.get("ret-type"), e.get("element-type")]
            refs += [m["type"] for m in e.get("members", []) if "type" in m]
            for r in refs:
                if r is not None:
                    assert r in by_name, (e["name"], r)
        memsave = by_name["memsave"]
        args = by_name[memsave["arg-type"]]
        assert [(m["name"], m["type"], "default" in m) for m in args["members"]] == [
            ("val", "int", False), ("size", "int", False), ("filename", "str", False),
            ("cpu-index", "int", True)]
        assert by_name["SHUTDOWN"]["meta-type"] == "event"
        assert set(by_name["RunState"]["values"]) >= {"prelaunch", "running", "paused",
                                                       "shutdown"}
        assert {n for n, e in by_name.items() if e["meta-type"] == "command"} == names
        await c.disconnect()
    _run(go())


def test_bad_clients_do_not_disturb_the_machine_or_others(guests, launch):
    # Two monitors: one for the well-behaved client, one for the others
    # (a socket chardev serves one client at a time, as QEMU's).
    emu = launch(guests["loop"], "-qmp", "unix:{},server=on,wait=off".format(
        str(guests["loop"].parent / "second.sock")))
    second = str(guests["loop"].parent / "second.sock")
    good = RawQMP(second)
    good.recv()
    assert good.command("qmp_capabilities") == {"return": {}}
    # a huge message (a 5 MB string) is answered
    big = RawQMP(emu.qmp_path)
    big.recv()
    big.command("qmp_capabilities")
    big.send(b'{"execute": "query-status", "id": "' + b"x" * (5 << 20) + b'"}')
    reply = big.recv_reply()
    assert reply["return"]["status"] == "running" and len(reply["id"]) == 5 << 20
    big.close()
    # a client that goes away in the middle of a message and of a command
    for chunk in (b'{"execute": "query-st',
                  b'{"execute": "human-monitor-command", "arguments": {"command-line": '
                  b'"info registers"}}{"execute": "query-status"}'):
        c = RawQMP(emu.qmp_path)
        c.recv()
        c.command("qmp_capabilities")
        c.send(chunk)
        c.close()
    assert good.command("query-status")["return"]["status"] == "running"
    # nesting beyond QEMU's limit is an error, not a crash
    good.send(b"[" * 2000 + b"]" * 2000)
    assert good.recv_reply()["error"]["class"] == "GenericError"
    assert good.command("query-status")["return"] == {"status": "running", "singlestep": False,
                                                      "running": True}
    good.close()
    assert emu.proc.poll() is None


def test_qmp_shell_works(guests, launch):
    emu = launch(guests["loop"], "-S")
    shell = str(__import__("pathlib").Path(PYQEMU).parent / "qmp-shell")
    r = subprocess.run([shell, emu.qmp_path], input="query-status\nquery-name\n",
                       capture_output=True, text=True, timeout=30)
    assert '"status": "prelaunch"' in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0


def _oob_exchange(path: str) -> list[dict]:
    c = RawQMP(path)
    c.recv()
    out = []
    for msg in (b'{"exec-oob": "query-status", "id": 1}',
                b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}',
                b'{"exec-oob": "query-status", "id": 2}',
                b'{"exec-oob": "query-status", "execute": "query-status", "id": 3}',
                b'{"execute": "qmp_capabilities", "arguments": {"enable": ["bogus"]}}',
                b'{"execute": "query-status", "control": {}, "id": 4}'):
        c.send(msg)
        out.append(c.recv_reply())
    c.close()
    return out


def test_oob_capability_matches_qemu(guests, launch):
    ours = _oob_exchange(launch(guests["loop"], "-S").qmp_path)
    theirs = _oob_exchange(launch(guests["loop"], "-S", binary=QEMU).qmp_path)
    assert ours == theirs
