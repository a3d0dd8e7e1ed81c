"""savevm/loadvm/delvm with the migrate_counter guest on a qcow2 disk: the
console and the disk are exactly as at the snapshot after loadvm, in the
same process and in a new one started with -loadvm; the real qemu-img lists
the snapshot and finds the image clean."""

from __future__ import annotations

import re
import subprocess

import pytest

from mighelpers import VM, create_disk, qemu_img_check, records


def _stop_at_count(vm: VM, n: int) -> int:
    """Stop once the console shows count n; the console's length then."""
    vm.wait_count(n)
    vm.qmp.cmd("stop")
    return len(vm.text())


def test_savevm_loadvm_same_process_then_new_process(tmp_path):
    disk = create_disk(tmp_path / "disk.qcow2")
    vm = VM(tmp_path, "a", disk)
    try:
        at_snap = _stop_at_count(vm, 5)
        recs = records(disk, 4000)
        # One record per count, written before the count is printed.
        assert recs == list(range(len(recs)))
        assert len(recs) - 1 - vm.counts()[-1] in (0, 1), "record N goes out just before 'count N'"
        assert vm.qmp.hmp("savevm snap1") == ""
        vm.qmp.cmd("cont")
        at_load = _stop_at_count(vm, vm.counts()[-1] + 8)
        assert len(records(disk, 4000)) > len(recs) + 5
        info = vm.qmp.hmp("info snapshots").splitlines()
        # QEMU 7.2's layout, measured: a title, qemu-img's header, "--" ids, no icount.
        assert info[:2] == ["List of snapshots present on all disks:",
                            "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT"]
        assert re.fullmatch(r"--        snap1 {13}[ .0-9]{4} MiB \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                            r"00:00:\d\d\.\d{3} {11}", info[2]), info[2]

        assert vm.qmp.hmp("loadvm snap1") == ""
        assert vm.status() == "paused", "loadvm of a stopped machine leaves it stopped"
        assert records(disk, 4000) == recs, "the disk is back at the snapshot"
        vm.qmp.cmd("cont")
        vm.wait_count(vm.counts()[-1] + 3)
        text = vm.text()
        after_snap = text[at_snap:at_load]
        replay = text[at_load:]
        assert len(replay) > 30
        n = min(len(after_snap), len(replay))
        assert replay[:n] == after_snap[:n], "the console continues exactly from the snapshot"
        assert "BAD" not in text, "every dirtied page came back"
        assert "loadvm" in vm.qmp.hmp("help loadvm")
    finally:
        vm.quit()

    listing = subprocess.run(["qemu-img", "snapshot", "-l", disk], capture_output=True,
                             text=True, check=True).stdout
    assert "snap1" in listing and "MiB" in listing, listing
    check = qemu_img_check(disk)
    assert check.returncode == 0 and "No errors were found" in check.stdout, check.stdout

    vm2 = VM(tmp_path, "b", disk, "-loadvm", "snap1")
    try:
        vm2.wait_count(len(recs) + 2)
        fresh = vm2.text()
        n = min(len(fresh), len(after_snap))
        assert n > 20 and fresh[:n] == after_snap[:n], "-loadvm starts from the snapshot"
        vm2.qmp.cmd("stop")
        got = records(disk, 4000)
        assert got == list(range(len(got))) and len(got) >= len(recs)
        assert vm2.qmp.hmp("delvm snap1") == ""
        assert vm2.qmp.hmp("delvm snap1") == "", "deleting what is gone is no error (QEMU 7.2)"
        assert "There is no snapshot available" in vm2.qmp.hmp("info snapshots")
        assert "Error" in vm2.qmp.hmp("loadvm snap1")
    finally:
        vm2.quit()
    assert qemu_img_check(disk).returncode == 0


def test_loadvm_of_a_missing_snapshot_at_start_up_is_one_line(tmp_path):
    disk = create_disk(tmp_path / "disk.qcow2")
    from mighelpers import PYQEMU, guest_elf
    r = subprocess.run([PYQEMU, "-M", "virt", "-bios", "none", "-nographic", "-kernel", guest_elf(),
                        "-drive", f"file={disk},if=none,id=d0,format=qcow2",
                        "-device", "virtio-blk-device,drive=d0", "-loadvm", "nope"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "pyqemu-system-riscv64: Snapshot 'nope' does not exist in one or more devices"]


def test_snapshot_jobs_over_qmp(tmp_path):
    disk = create_disk(tmp_path / "disk.qcow2")
    vm = VM(tmp_path, "j", disk)
    try:
        vm.wait_count(2)
        vm.qmp.cmd("snapshot-save", job_id="s", tag="qmpsnap", vmstate="d0", devices=["d0"])
        vm.qmp.wait_event("JOB_STATUS_CHANGE", id="s", status="concluded")
        jobs = vm.qmp.cmd("query-jobs")
        assert jobs[0]["id"] == "s" and "error" not in jobs[0]
        vm.qmp.cmd("job-dismiss", id="s")
        assert "qmpsnap" in vm.qmp.hmp("info snapshots")
        vm.qmp.cmd("snapshot-delete", job_id="d", tag="qmpsnap", devices=["d0"])
        vm.qmp.wait_event("JOB_STATUS_CHANGE", id="d", status="concluded")
        assert "There is no snapshot available" in vm.qmp.hmp("info snapshots")
        with pytest.raises(RuntimeError, match="No block device node 'nodisk'"):
            vm.qmp.cmd("snapshot-save", job_id="x", tag="t", vmstate="nodisk", devices=[])
    finally:
        vm.quit()
