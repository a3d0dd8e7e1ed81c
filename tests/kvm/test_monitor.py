"""The monitor under KVM: query-kvm says enabled and present (as QEMU with
-enable-kvm), query-target says x86_64, HMP `info kvm`, and stop/cont/quit
drive the vCPU threads (the guest is started paused with -S)."""

from __future__ import annotations

import json
import socket
import subprocess
import time

from kvmhelpers import ROOT, ours_cmd


class Qmp:
    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        assert "QMP" in json.loads(self.file.readline())
        assert self.cmd("qmp_capabilities") == {}

    def cmd(self, name: str, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            msg = json.loads(self.file.readline())
            if "return" in msg or "error" in msg:
                return msg.get("return", msg.get("error"))


def _wait_socket(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
    raise AssertionError("QMP socket never appeared")


def test_query_kvm_and_paused_start(guest, tmp_path):
    sock = str(tmp_path / "qmp.sock")
    p = subprocess.Popen(ours_cmd("-S", "-display", "none", "-serial", "stdio", "-no-reboot", "-m", "64",
                                  "-kernel", guest("modes"), "-append", "s=9",
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                                  "-qmp", f"unix:{sock},server=on,wait=off"),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        _wait_socket(sock, p)
        q = Qmp(sock)
        assert q.cmd("query-kvm") == {"enabled": True, "present": True}
        assert q.cmd("query-target")["arch"] == "x86_64"
        assert q.cmd("query-status")["status"] == "prelaunch"
        assert q.cmd("human-monitor-command", **{"command-line": "info kvm"}).strip() == "kvm support: enabled"
        assert len(q.cmd("query-cpus-fast")) == 1
        q.cmd("cont")
        assert p.wait(20) == 19
        assert p.stdout.read().endswith(b"hello from long mode\n")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_stop_interrupts_a_guest_in_ring3(guest, tmp_path):
    """`stop` must take a vCPU out of KVM_RUN even when the guest never exits
    by itself (a long ring-3 loop): the kick signal and immediate_exit."""
    sock = str(tmp_path / "qmp.sock")
    p = subprocess.Popen(ours_cmd("-display", "none", "-serial", "stdio", "-m", "64",
                                  "-kernel", guest("compute"), "-append", "iters=100000000000",
                                  "-qmp", f"unix:{sock},server=on,wait=off"),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        _wait_socket(sock, p)
        q = Qmp(sock)
        time.sleep(0.5)
        # The registers of a vCPU inside KVM_RUN: paused for the read, then resumed.
        regs = q.cmd("human-monitor-command", **{"command-line": "info registers"})
        assert "CPU#0" in regs and "RIP=" in regs and "CPL=3" in regs, regs
        assert q.cmd("query-status")["status"] == "running"
        assert q.cmd("query-cpus-fast")[0]["target"] == "x86_64"
        start = time.monotonic()
        assert q.cmd("stop") == {}
        assert time.monotonic() - start < 2
        assert q.cmd("query-status")["status"] == "paused"
        assert q.cmd("cont") == {}
        assert q.cmd("query-status")["status"] == "running"
        assert q.cmd("quit") == {}
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
