"""The gdbstub against the real gdb-multiarch, compared with the real
qemu-system-riscv64's gdbstub where both behave alike."""

from __future__ import annotations

import subprocess
import time

import pytest

from gdbhelpers import PYQEMU, QEMU, RemoteClient

# What a debugging session prints; everything in it must be the same on
# QEMU and pyqemu (register values, stops, memory, run states).
SESSION = [
    "monitor info status",
    "break square",
    "continue",
    "continue",
    "print $a0",
    "print/x $pc",
    "backtrace",
    "monitor info status",
    "info registers a0 ra sp gp",
    "stepi",
    "print/x $pc",
    "x/4xw square",
    "print counter",
    "print/x $mstatus",
    "print $priv",
    "print/x $mepc",
    "set var $a0 = 7",
    "print $a0",
    "delete",
    "watch counter",
    "continue",
    "print counter",
    "print/x $pc",
    "monitor info status",
]


# Read and access watchpoints: stops before the access, as QEMU's stub.
WATCH_SESSION = ["break square", "continue", "delete", "rwatch result", "continue",
                 "print/x $pc", "awatch counter", "continue", "print/x $pc", "continue",
                 "print/x $pc", "info watchpoints"]


def _normalise(text: str) -> list[str]:
    # gdb's own chatter that depends on the stub's thread naming (QEMU's
    # stub announces multiprocess ids) is not the stub's behaviour.
    return [line.replace("Thread 1.1", "Thread 1").replace("(process 1)", "(Remote target)")
            for line in text.splitlines() if line.strip()]


def test_session_prints_what_qemu_prints(target, debuggee):
    want = _normalise(target(QEMU, debuggee).gdb(debuggee, SESSION))
    got = _normalise(target(PYQEMU, debuggee).gdb(debuggee, SESSION))
    assert "Breakpoint 1, square (x=x@entry=2)" in "\n".join(want)      # the script did its job
    assert got == want


def test_read_and_access_watchpoints_as_qemu(target, debuggee):
    want = _normalise(target(QEMU, debuggee).gdb(debuggee, WATCH_SESSION))
    got = _normalise(target(PYQEMU, debuggee).gdb(debuggee, WATCH_SESSION))
    assert "Hardware access (read/write) watchpoint 3: counter" in want
    assert got == want


def test_register_write_changes_the_guest_and_exit_reaches_gdb(target, debuggee):
    t = target(PYQEMU, debuggee)
    out = t.gdb(debuggee, ["break square", "continue", "finish",
                           "set var $a0 = 100", "delete", "continue"])
    # square(1) returned 100 instead of 1: the sum is 154, so the guest fails.
    assert "[Inferior 1 (Remote target) exited with code 01]" in out, out
    assert t.proc.wait(20) == 1


def test_fp_csrs_and_priv_are_registers(target, debuggee):
    # QEMU 7.2 leaves fflags/frm/fcsr out of its description ($fflags is void
    # there); pyqemu lists every CSR the hart implements.
    t = target(PYQEMU, debuggee)
    out = t.gdb(debuggee, ["break square", "continue", "set var $fflags = 0x1f",
                           "print/x $fcsr", "print $frm", "print $priv", "print/x $mhartid",
                           "print/x $satp", "set var $mscratch = 0x1234", "print/x $mscratch",
                           "print/x $misa"])
    lines = [l for l in out.splitlines() if l.startswith("$")]
    assert lines == ["$1 = 0x1f", "$2 = 0", "$3 = 3", "$4 = 0x0", "$5 = 0x0", "$6 = 0x1234",
                     "$7 = 0x800000000014112d"], out


def _symbol(elf, name: str) -> int:
    out = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        addr, _, sym = line.split()
        if sym == name:
            return int(addr, 16)
    raise KeyError(name)


@pytest.mark.parametrize("binary", [QEMU, PYQEMU])
def test_interrupt_memory_write_and_run_states(target, debuggee, binary):
    t = target(binary, debuggee)
    spin = _symbol(debuggee, "spin")
    c = RemoteClient(t.port)
    assert c.request("qSupported:swbreak+;vContSupported+").startswith("PacketSize=")
    assert c.request("?") == "T05thread:01;"
    assert t.qmp.status() == "prelaunch"        # connecting leaves -S's prelaunch alone
    assert c.request(f"M{spin:x},8:0100000000000000") == "OK"
    assert c.request(f"m{spin:x},8") == "0100000000000000"
    c.request("vCont;c", reply=False)
    time.sleep(0.3)
    assert t.qmp.status() == "running"
    c.send_raw(b"\x03")
    assert c.wait_reply() == "T02thread:01;"
    assert t.qmp.status() == "paused"
    assert t.qmp.events == ["RESUME", "STOP"]
    # A breakpoint stop is the debug state.
    square = _symbol(debuggee, "square")
    assert c.request(f"M{spin:x},8:0000000000000000") == "OK"
    assert c.request(f"Z0,{square:x},2") == "OK"
    c.request("c", reply=False)
    # the guest is past its loop of squares: it powers off
    if binary == PYQEMU:
        assert c.wait_reply() == "W00"
    assert t.proc.wait(20) == 0
    c.close()


def test_breakpoint_stop_is_debug_state_and_step_moves_one_instruction(target, debuggee):
    t = target(PYQEMU, debuggee)
    square = _symbol(debuggee, "square")
    c = RemoteClient(t.port)
    c.request("qSupported")
    assert c.request(f"Z0,{square:x},2") == "OK"
    c.request("vCont;c", reply=False)
    assert c.wait_reply() == "T05thread:01;"
    assert t.qmp.status() == "debug"
    assert c.request("p20") == square.to_bytes(8, "little").hex()
    c.request("vCont;s:1", reply=False)
    assert c.wait_reply() == "T05thread:01;"
    pc = int.from_bytes(bytes.fromhex(c.request("p20")), "little")
    assert pc == square + 4          # mul a0, a0, a0 ran, nothing more
    assert t.qmp.status() == "debug"
    assert t.qmp.events == ["RESUME", "STOP", "RESUME", "STOP"]
    assert c.request("D") == "OK"
    assert t.proc.wait(20) == 0


def _smp_exchange(t) -> list[str]:
    c = RemoteClient(t.port)
    out = [c.request("?"), c.request("Hg2"), c.request("qC"), c.request("T2"), c.request("T3")]
    c.request("vCont;s:2", reply=False)         # hart 1 steps, hart 0 stays stopped
    out.append(c.wait_reply())
    for _ in range(2):
        out += [c.request("Hg1"), c.request("g")[-16:], c.request("Hg2"), c.request("g")[-16:]]
        c.request("vCont;s:1", reply=False)
        out.append(c.wait_reply())
    c.close()
    return out


def test_threads_are_harts_and_vcont_holds_the_others_as_qemu(target, debuggee):
    want = _smp_exchange(target(QEMU, debuggee, "-smp", "2"))
    got = _smp_exchange(target(PYQEMU, debuggee, "-smp", "2"))
    assert want[5] == "T05thread:02;"
    assert got == want


def test_hmp_gdbserver_answers_as_qemu(target, debuggee):
    def answers(t):
        def hmp(line):
            return t.qmp.command("human-monitor-command", **{"command-line": line}).replace(
                str(t.port), "PORT")
        out = [hmp("gdbserver none"), hmp(f"gdbserver tcp::{t.port}")]
        bad = hmp("gdbserver bogus:x").splitlines()
        return out + [bad[-1], len(bad)]      # QEMU's reason line differs in wording
    want = answers(target(QEMU, debuggee))
    assert want == ["Disabled gdbserver\r\n",
                    "Waiting for gdb connection on device 'tcp::PORT'\r\n",
                    "Could not open gdbserver on device 'bogus:x'", 2]
    assert answers(target(PYQEMU, debuggee)) == want


def test_malformed_packets_get_errors_and_the_session_goes_on(target, debuggee):
    t = target(PYQEMU, debuggee)
    c = RemoteClient(t.port)
    for bad in ["mzz,4", "m80000000", "Z9,0,0", "Zx", "pzz", "P20", "Hgzz", "qXfer:features:read:x",
                "vCont;q", "P20=12"]:
        reply = c.request(bad)
        assert reply == "" or reply.startswith("E"), (bad, reply)
    assert c.request("qAttached") == "1"
    assert c.request("m80000000,2") != ""
    c.send_raw(b"$m80000000,2#00")                  # a bad checksum is refused with '-'
    assert c.request("?") == "T05thread:01;"
    c.close()


@pytest.mark.parametrize("binary", [QEMU, PYQEMU])
def test_qmp_stop_ends_gdbs_wait_as_an_interrupt(target, debuggee, binary):
    t = target(binary, debuggee)
    c = RemoteClient(t.port)
    c.request("qSupported")
    assert c.request(f"M{_symbol(debuggee, 'spin'):x},8:0100000000000000") == "OK"
    c.request("vCont;c", reply=False)
    time.sleep(0.2)
    t.qmp.command("stop")
    assert c.wait_reply() == "T02thread:01;"
    assert t.qmp.status() == "paused"
    c.close()


def test_api_gdbserver_on_a_unix_socket(debuggee, tmp_path):
    from pyqemu.api import Machine, MachineError
    with Machine(kernel=str(debuggee)) as m:
        with pytest.raises(MachineError, match="gdbstub device 'bogus:x'"):
            m.gdbserver("bogus:x")
        path = str(tmp_path / "gdb.sock")
        m.gdbserver(f"unix:{path},server=on,wait=off")
        m.start(paused=True)
        c = RemoteClient(path=path)
        assert c.request("qAttached") == "1"
        assert c.request("p20") == (0x1000).to_bytes(8, "little").hex()    # the reset vector
        c.request("c", reply=False)
        assert c.wait_reply() == "W00"
        assert m.wait_for_shutdown(10) == 0
        c.close()


@pytest.mark.parametrize("binary", [QEMU, PYQEMU])
def test_detach_lets_a_prelaunch_machine_run(target, debuggee, binary):
    t = target(binary, debuggee)
    c = RemoteClient(t.port)
    c.request("qSupported")
    assert t.qmp.status() == "prelaunch"
    assert c.request("D") == "OK"
    assert t.proc.wait(20) == 0                   # the guest ran to its power-off


@pytest.mark.parametrize("binary", [QEMU, PYQEMU])
def test_kill_ends_the_emulator(target, debuggee, binary):
    t = target(binary, debuggee)
    c = RemoteClient(t.port)
    c.request("qSupported")
    c.request("k", reply=False)
    assert t.proc.wait(20) == 0
    assert b"Terminated via GDBstub" in t.proc.stderr.read()


def test_example_gdb_remote(debuggee):
    import sys
    from gdbhelpers import REPO, free_port
    port = free_port()
    example = subprocess.Popen([sys.executable, str(REPO / "examples" / "gdb_remote.py"),
                                str(debuggee), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert "waiting for gdb" in example.stdout.readline()
        gdb = subprocess.run(["gdb-multiarch", "-q", "-nx", "-batch",
                              "-ex", f"target remote 127.0.0.1:{port}", "-ex", "break square",
                              "-ex", "continue", "-ex", "print x", "-ex", "delete",
                              "-ex", "continue", str(debuggee)],
                             capture_output=True, text=True, timeout=60)
        assert "$1 = 1" in gdb.stdout, gdb.stdout + gdb.stderr
        assert "exited normally" in gdb.stdout
        assert "guest exited with 0" in example.stdout.read()
        assert example.wait(20) == 0
    finally:
        if example.poll() is None:
            example.kill()
            example.wait()
