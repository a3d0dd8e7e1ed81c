"""HMP: through QMP's human-monitor-command, on a -monitor socket, and on
mon:stdio behind C-a c; outputs compared with qemu-system-riscv64's."""

from __future__ import annotations

import os
import pty
import re
import select
import socket
import subprocess
import time

from monhelpers import PYQEMU, QEMU, RawQMP, wait_for_socket

# Commands whose output QEMU and pyqemu must print identically (the machine
# is in prelaunch, so memory holds exactly what was loaded).
SAME_OUTPUT = [
    "info status",
    "xp/4xw 0x80000000",
    "x/3xg 0x80000000",
    "x/2xb 0x80000000",
    "x/2dh 0x80000000",
    "xp/3ub 0x80000004",
    "x/3o 0x80000000",
    "x/2ow 0x80000000",
    "x/2tb 0x80000000",
    "x/2c 0x80000000",
    "x 0x80000000",
    "xp/2x 0x0",
    "bogus",
    "info bogus",
    "info kvm",
    "stop",
    "info status",
]


def _hmp(c: RawQMP, line: str) -> str:
    r = c.command("human-monitor-command", **{"command-line": line})
    assert "return" in r, r
    return r["return"]


def _session(path: str) -> RawQMP:
    c = RawQMP(path)
    c.recv()
    c.command("qmp_capabilities")
    return c


def test_hmp_outputs_match_qemu(guests, launch):
    ours = _session(launch(guests["loop"], "-S").qmp_path)
    theirs = _session(launch(guests["loop"], "-S", binary=QEMU).qmp_path)
    for line in SAME_OUTPUT:
        assert _hmp(ours, line) == _hmp(theirs, line), line


def test_registers_and_disassembly_of_a_running_guest(guests, launch):
    c = _session(launch(guests["loop"]).qmp_path)
    time.sleep(0.3)
    assert _hmp(c, "info status") == "VM status: running\r\n"
    _hmp(c, "stop")
    regs = _hmp(c, "info registers")
    assert regs.startswith("\r\nCPU#0\r\n")
    fields = dict(re.findall(r"(x\d+/\w+|\bpc)\s+([0-9a-f]{16})", regs))
    assert int(fields["x10/a0"], 16) == 0x1234
    pc = int(fields["pc"], 16)
    counter = int(fields["x11/a1"], 16)
    assert counter > 0
    assert 0x80000000 <= pc < 0x80000020
    # the loop is "addi a1, a1, 1; j 1b": x/2i at the loop head
    lines = _hmp(c, "x/2i 0x80000008").splitlines()
    assert re.match(r"0x0000000080000008:  0585\s+c\.addi\s+a1, 1$", lines[0]), lines
    assert re.match(r"0x000000008000000a:  bffd\s+c\.j\s+-2$", lines[1]), lines
    out = _hmp(c, "x/4i $pc").splitlines()
    assert len(out) == 4 and out[0].startswith(f"0x{pc:016x}:  ")
    # the machine goes on where it stopped
    _hmp(c, "cont")
    time.sleep(0.2)
    _hmp(c, "stop")
    regs = _hmp(c, "info registers")
    assert int(dict(re.findall(r"(x\d+/\w+)\s+([0-9a-f]{16})", regs))["x11/a1"], 16) > counter


def test_memsave_and_pmemsave_write_guest_memory(guests, launch, tmp_path):
    c = _session(launch(guests["loop"], "-S").qmp_path)
    elf = guests["loop"].read_bytes()
    pfile, vfile = tmp_path / "p.bin", tmp_path / "v.bin"
    assert c.command("pmemsave", val=0x80000000, size=12, filename=str(pfile)) == {"return": {}}
    _hmp(c, f"memsave 0x80000000 12 {vfile}")
    assert pfile.read_bytes() == vfile.read_bytes()
    assert pfile.read_bytes() in elf            # the program's text, as loaded
    r = c.command("pmemsave", val=0x0, size=16, filename=str(pfile))
    assert r["error"]["class"] == "GenericError"


def test_monitor_on_a_unix_socket(guests, launch, tmp_path):
    path = str(tmp_path / "hmp.sock")
    emu = launch(guests["loop"], "-S", "-monitor", f"unix:{path},server=on,wait=off", qmp=False)
    wait_for_socket(path, emu.proc)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(20)

    def until(marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        return data

    banner = until(b"(qemu) ")
    assert banner == b"QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "
    s.sendall(b"info status\n")
    assert until(b"(qemu) ") == b"VM status: paused (prelaunch)\r\n(qemu) "
    s.sendall(b"c\ninfo status\n")
    assert b"VM status: running\r\n" in until(b"running\r\n(qemu) ")
    s.sendall(b"q\n")
    assert emu.wait() == 0


def test_ctrl_a_c_switches_to_the_monitor(guests):
    master, slave = pty.openpty()
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "none", "-nographic", "-kernel",
                             str(guests["loop"])], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        def read_until(marker: bytes, seconds: float = 20) -> bytes:
            data = b""
            deadline = time.monotonic() + seconds
            while marker not in data and time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.2)
                if r:
                    data += os.read(master, 4096)
            assert marker in data, data
            return data

        # The monitor attaches once the machine is built (longer on a loaded
        # machine): until then C-a c answers "no monitor", so press it again.
        data = b""
        deadline = time.monotonic() + 30
        while b"(qemu) " not in data and time.monotonic() < deadline:
            os.write(master, b"\x01c")
            end = time.monotonic() + 1
            while b"(qemu) " not in data and time.monotonic() < end:
                if select.select([master], [], [], 0.2)[0]:
                    data += os.read(master, 4096)
            if b"(qemu) " not in data and b"no monitor" not in data:
                break
            data = data if b"(qemu) " in data else b""
        assert b"(qemu) " in data, data
        os.write(master, b"info status\r")
        read_until(b"VM status: running")
        os.write(master, b"\x01c\x01x")
        read_until(b"QEMU: Terminated")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_info_registers_layout_matches_qemu(guests, launch):
    """Same hart state (reset, prelaunch): every line both print is identical
    (QEMU's default CPU also has the H extension, whose lines we lack)."""
    ours = _hmp(_session(launch(guests["loop"], "-S").qmp_path), "info registers")
    theirs = _hmp(_session(launch(guests["loop"], "-S", binary=QEMU).qmp_path),
                  "info registers")
    mine = ours.splitlines()
    common = ("pc", "mhartid", "mstatus", "mip", "mie", "mideleg", "medeleg", "mtvec", "stvec",
              "mepc", "sepc", "mcause", "scause", "mtval", "stval", "mscratch", "sscratch",
              "satp")
    want = [line for line in theirs.splitlines()
            if line.startswith((" x", " f")) or line.split()[:1] in ([n] for n in common)]
    assert len(want) == 16 + len(common)
    assert mine[:2] == ["", "CPU#0"]
    assert [line for line in mine if line in want] == want


def test_log_switched_on_at_run_time(guests, launch):
    emu = launch(guests["loop"], "-S")
    c = _session(emu.qmp_path)
    assert _hmp(c, "log bogus").startswith("Log items (comma separated):")
    assert _hmp(c, "log in_asm") == ""
    _hmp(c, "cont")
    time.sleep(0.3)
    _hmp(c, "log none")
    c.command("quit")
    assert emu.wait() == 0
    err = emu.proc.stderr.read().decode()
    assert "IN: \n0x0000000000001000:  00000297" in err
    assert "0x0000000080000000:" in err
