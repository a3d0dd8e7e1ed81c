"""savevm/loadvm of the migcount guest on microvm (KVM): after loadvm the
guest goes on exactly from the snapshot — its console continues the text it
had printed then, its disk holds the records written until then and no
later one — in the same process and in a new one started with -loadvm."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kmhelpers import ROOT, VM, counts_in, guest_elf, img_check, make_disk, records


def _consecutive(counts: list[int]) -> bool:
    return counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("append", ["delay=3000", "irq=5"], ids=["spinning", "pit-paced"])
def test_savevm_loadvm_same_process_then_loadvm_at_start(tmp_path, append):
    """pit-paced: the guest halts between PIT interrupts; it wakes after
    loadvm only if the PIT, IOAPIC and LAPIC came back too."""
    disk = make_disk(tmp_path / "disk.qcow2")
    vm = VM(tmp_path, "a", disk, append=append)
    try:
        vm.wait_count(4)
        vm.qmp.cmd("stop")
        at_snapshot = vm.output()        # the console as the guest had it then
        assert vm.qmp.hmp("savevm s1") == ""
        taken = counts_in(at_snapshot)[-1]
        # The records the guest had written: up to the count it printed,
        # maybe the next one (written just before its line).
        recs = records(disk, tmp_path)
        assert _consecutive(recs) and taken <= len(recs) <= taken + 1
        vm.qmp.cmd("cont")
        vm.wait_count(taken + 6)
        assert len(records(disk, tmp_path)) >= taken + 5

        # loadvm on a stopped machine: it stays stopped, the disk is reverted.
        vm.qmp.cmd("stop")
        mark = len(vm.output())
        assert vm.qmp.hmp("loadvm s1") == ""
        assert vm.status() == "paused"
        assert records(disk, tmp_path) == recs, "later records must be gone from the disk"
        vm.qmp.cmd("cont")
        time.sleep(0.3)
        vm.wait_count(1, timeout=10)
        deadline = time.monotonic() + 20
        while len(counts_in(at_snapshot + vm.output()[mark:])) < taken + 5:
            assert time.monotonic() < deadline, vm.output()[mark:]
            time.sleep(0.05)
        after = counts_in(at_snapshot + vm.output()[mark:])
        assert _consecutive(after), after
        assert b"FAIL" not in vm.output(), vm.output()[-200:]
        # A running machine: loadvm stops it, loads, runs on.
        assert vm.status() == "running"
        mark = len(vm.output())
        assert vm.qmp.hmp("loadvm s1") == ""
        assert vm.status() == "running"
        deadline = time.monotonic() + 20
        while len(counts_in(at_snapshot + vm.output()[mark:])) < taken + 3:
            assert time.monotonic() < deadline, vm.output()[mark:]
            time.sleep(0.05)
        assert _consecutive(counts_in(at_snapshot + vm.output()[mark:]))
    finally:
        vm.quit()
    listing = subprocess.run(["qemu-img", "snapshot", "-l", disk], capture_output=True, text=True)
    assert "s1" in listing.stdout
    check = img_check(disk)
    assert check.returncode == 0 and "No errors were found" in check.stdout

    # A new process, -loadvm before the first instruction.
    vm2 = VM(tmp_path, "b", disk, "-loadvm", "s1", append=append)
    try:
        deadline = time.monotonic() + 20
        while len(counts_in(at_snapshot + vm2.output())) < taken + 5:
            assert vm2.proc.poll() is None, vm2.stderr()
            assert time.monotonic() < deadline, vm2.output()
            time.sleep(0.05)
        assert not vm2.output().startswith(b"migcount ready"), "it must not boot afresh"
        assert _consecutive(counts_in(at_snapshot + vm2.output()))
        vm2.qmp.cmd("stop")
        recs = records(disk, tmp_path)
        assert _consecutive(recs) and len(recs) >= taken + 4
    finally:
        vm2.quit()
    assert img_check(disk).returncode == 0


def test_loadvm_errors(tmp_path):
    disk = make_disk(tmp_path / "disk.qcow2")
    base = [sys.executable, "-m", "pyqemu.cli.system_x86", "-M", "microvm", "-nographic",
            "-kernel", guest_elf(), "-monitor", "none", "-serial", "null",
            "-drive", f"file={disk},if=none,id=d0,format=qcow2",
            "-device", "virtio-blk-device,drive=d0"]
    r = subprocess.run(base + ["-loadvm", "nosuch"], capture_output=True, text=True,
                       timeout=30, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip().endswith("Snapshot 'nosuch' does not exist in one or more devices")
    assert "Traceback" not in r.stderr
    r = subprocess.run(base + ["-loadvm", "s1", "-incoming", "defer"], capture_output=True,
                       text=True, timeout=30, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip().endswith("-loadvm and -incoming cannot be used together")
