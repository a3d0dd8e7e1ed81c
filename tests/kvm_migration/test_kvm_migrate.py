"""Live migration of the migcount guest between two pyqemu-system-x86_64
processes (KVM, microvm) sharing one qcow2 image: the RAM passes follow
KVM's dirty log, the counter and the disk records continue on the
destination, the image changes hands as docs/migration.md's steps say
(lock bytes per process, and as the real qemu-io sees them), and the failure
paths leave the source running with its image active."""

from __future__ import annotations

import time

import pytest

from kmhelpers import (VM, counts_in, free_port, img_check, lock_bytes, make_disk, records,
                       wait_migration, write_locked_by_someone)

# FACTS.md: a read-write qcow2 user holds 100-101, 103, 201, 203; an inactive
# source keeps only 100; an incoming destination holds nothing.
OWNER = {100, 101, 103, 201, 203}
INACTIVE_SOURCE = {100}


def test_tcp_hand_over_step_by_step(tmp_path):
    disk = make_disk(tmp_path / "shared.qcow2")
    port = free_port()
    src = VM(tmp_path, "src", disk)
    dst = None
    try:
        src.wait_count(3)
        # Step 1: the destination opens the image inactive, without a lock.
        dst = VM(tmp_path, "dst", disk, "-S", "-incoming", f"tcp:127.0.0.1:{port}")
        assert dst.status() == "inmigrate"
        assert lock_bytes(src.proc.pid, disk) == OWNER
        assert lock_bytes(dst.proc.pid, disk) == set()
        assert write_locked_by_someone(disk), "real qemu-io must not get the write lock"
        with pytest.raises(RuntimeError, match="Guest is waiting for an incoming migration"):
            dst.qmp.cmd("cont")
        src.wait_count(8)

        dst.qmp.cmd("migrate-set-capabilities", capabilities=[
            {"capability": "late-block-activate", "state": True}])
        src.qmp.cmd("migrate-set-capabilities", capabilities=[
            {"capability": "events", "state": True}])
        # Slow enough that the guest completes disk requests while the passes
        # run: the used ring, written only by the VMM, must follow (the
        # guest checks it on the destination).
        src.qmp.cmd("migrate-set-parameters", max_bandwidth=4 << 20, downtime_limit=1000)
        src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        src.qmp.wait_event("MIGRATION", status="completed", timeout=60)
        passes = [e for e in src.qmp.events if e["event"] == "MIGRATION_PASS"]
        assert len(passes) >= 3, "pass 1, at least one pass from the dirty logs, the last"

        # Step 2: both sides inactive; the source ends postmigrate, refuses cont.
        assert src.status() == "postmigrate"
        deadline = time.monotonic() + 10
        while dst.status() == "inmigrate" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dst.status() == "paused"
        assert lock_bytes(src.proc.pid, disk) == INACTIVE_SOURCE
        assert lock_bytes(dst.proc.pid, disk) == set()
        assert not write_locked_by_someone(disk), "nobody owns the image in between"
        with pytest.raises(RuntimeError, match="disk images now belong to the destination"):
            src.qmp.cmd("cont")

        info = src.qmp.cmd("query-migrate")
        ram = info["ram"]
        assert info["status"] == "completed" and info["total-time"] > 0
        assert 0 <= info["downtime"] <= info["total-time"] and info["downtime"] < 1000
        assert ram["total"] == 64 << 20 and ram["remaining"] == 0
        # Pass 1 sends the 64 MiB (mostly zero markers); the later passes
        # only what the dirty logs named: far fewer than all pages again.
        assert ram["duplicate"] + ram["normal"] < 2 * (64 << 20) // 4096
        assert ram["normal"] >= 256 and ram["dirty-sync-count"] >= 2
        assert ram["transferred"] >= ram["normal"] * 4096 and ram["mbps"] > 0

        # Step 3: the destination takes the image and runs on.
        dst.qmp.cmd("cont")
        assert lock_bytes(dst.proc.pid, disk) == OWNER
        assert lock_bytes(src.proc.pid, disk) == INACTIVE_SOURCE
        assert write_locked_by_someone(disk)
        last_on_source = counts_in(src.output())[-1]
        dst.wait_count(last_on_source + 5)
        counts = counts_in(src.output() + dst.output())
        assert counts == list(range(1, len(counts) + 1)), "the counter continues without a gap"
        assert b"FAIL" not in dst.output(), dst.output()[-200:]
        assert not dst.output().startswith(b"migcount ready"), "the destination must not boot"
        dst.qmp.cmd("stop")
        recs = records(disk, tmp_path)
        assert recs == list(range(1, len(recs) + 1)) and len(recs) >= last_on_source + 5
    finally:
        src.quit()
        if dst is not None:
            dst.quit()
    check = img_check(disk)
    assert check.returncode == 0 and "No errors were found" in check.stdout


# -- failure paths: one source for all of them; after each it must still run
# with its image active and writable.

@pytest.fixture(scope="module")
def source(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kvmfailsrc")
    disk = make_disk(tmp / "shared.qcow2")
    vm = VM(tmp, "src", disk)
    vm.disk = disk
    vm.tmp = tmp
    vm.wait_count(2)
    yield vm
    vm.quit()
    assert img_check(disk).returncode == 0


def _source_still_owns(vm: VM) -> None:
    assert vm.status() == "running"
    n = counts_in(vm.output())[-1]
    vm.wait_count(n + 2, timeout=10)
    assert lock_bytes(vm.proc.pid, vm.disk) == OWNER
    recs = records(vm.disk, vm.tmp)
    assert recs == list(range(1, len(recs) + 1)) and len(recs) >= n + 1
    assert b"FAIL" not in vm.output()


def test_destination_not_listening(source):
    port = free_port()
    source.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
    info = wait_migration(source, {"failed", "completed"})
    assert info["status"] == "failed"
    assert f"Failed to connect to 'tcp:127.0.0.1:{port}'" in info["error-desc"]
    _source_still_owns(source)


def test_migrate_cancel_mid_way(source, tmp_path):
    port = free_port()
    dst = VM(tmp_path, "dst", source.disk, "-incoming", f"tcp:127.0.0.1:{port}")
    try:
        # Slow enough that the first pass is still going when cancelled.
        source.qmp.cmd("migrate-set-parameters", max_bandwidth=256 << 10)
        source.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        wait_migration(source, {"active"})
        source.qmp.cmd("migrate_cancel")
        info = wait_migration(source, {"cancelled", "failed", "completed"})
        assert info["status"] == "cancelled"
        assert dst.proc.wait(15) == 1
        assert "load of migration failed: migration stream truncated" in dst.stderr()
    finally:
        source.qmp.cmd("migrate-set-parameters", max_bandwidth=128 << 20)
        dst.kill()
    _source_still_owns(source)


def test_destination_killed_mid_stream(source, tmp_path):
    port = free_port()
    dst = VM(tmp_path, "dst", source.disk, "-incoming", f"tcp:127.0.0.1:{port}")
    try:
        source.qmp.cmd("migrate-set-parameters", max_bandwidth=256 << 10)
        source.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        wait_migration(source, {"active"})
        time.sleep(0.3)
        dst.kill()
        info = wait_migration(source, {"failed", "completed"})
        assert info["status"] == "failed" and "migration stream failed" in info["error-desc"]
    finally:
        source.qmp.cmd("migrate-set-parameters", max_bandwidth=128 << 20)
        dst.kill()
    _source_still_owns(source)


def test_ram_size_mismatch(source, tmp_path):
    port = free_port()
    dst = VM(tmp_path, "dst", source.disk, "-incoming", f"tcp:127.0.0.1:{port}", mem="128M")
    try:
        source.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        info = wait_migration(source, {"failed", "completed"})
        assert info["status"] == "failed"
        assert "Length mismatch: RAM block 'microvm.ram'" in info["error-desc"]
        assert dst.proc.wait(15) == 1
        assert ("load of migration failed: Length mismatch: RAM block 'microvm.ram' is "
                "0x4000000 bytes in the stream, 0x8000000 here (check -m)") in dst.stderr()
    finally:
        dst.kill()
    _source_still_owns(source)


def test_incoming_defer_unix_two_vcpus_hmp(tmp_path):
    """-incoming defer + migrate-incoming, a unix socket, HMP migrate and
    info migrate, two vCPUs (the second waiting for INIT/SIPI on both sides)."""
    disk = make_disk(tmp_path / "shared.qcow2")
    sock = str(tmp_path / "mig.sock")
    src = VM(tmp_path, "src", disk, "-smp", "2")
    dst = VM(tmp_path, "dst", disk, "-smp", "2", "-incoming", "defer")
    try:
        assert dst.status() == "inmigrate"
        dst.qmp.cmd("migrate-incoming", uri=f"unix:{sock}")
        src.wait_count(3)
        assert src.qmp.hmp(f"migrate unix:{sock}") == ""
        assert wait_migration(src, {"completed", "failed"})["status"] == "completed"
        info = src.qmp.hmp("info migrate")
        assert "Migration status: completed" in info and "dirty sync count:" in info
        last = counts_in(src.output())[-1]
        dst.wait_count(last + 3)
        counts = counts_in(src.output() + dst.output())
        assert counts == list(range(1, len(counts) + 1))
        assert dst.status() == "running" and src.status() == "postmigrate"
        cpus = dst.qmp.cmd("query-cpus-fast")
        assert len(cpus) == 2
    finally:
        src.quit()
        dst.quit()
    assert img_check(disk).returncode == 0


def test_guest_paced_by_pit_interrupts_sleeps_through_and_wakes_on_the_destination(tmp_path):
    """irq=5: the guest halts between ticks until the in-kernel PIT's
    interrupts (IOAPIC pin 2, LAPIC) wake it. It continues on the
    destination only if the PIT, IOAPIC, LAPIC and the halted vCPU's MP
    state all arrived."""
    disk = make_disk(tmp_path / "shared.qcow2")
    port = free_port()
    src = VM(tmp_path, "src", disk, append="irq=5")
    dst = VM(tmp_path, "dst", disk, "-incoming", f"tcp:127.0.0.1:{port}", append="irq=5")
    try:
        src.wait_count(5)
        src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        assert wait_migration(src, {"completed", "failed"})["status"] == "completed"
        last = counts_in(src.output())[-1]
        dst.wait_count(last + 10, timeout=20)
        counts = counts_in(src.output() + dst.output())
        assert counts == list(range(1, len(counts) + 1))
        assert b"FAIL" not in dst.output()
    finally:
        src.quit()
        dst.quit()
    assert img_check(disk).returncode == 0
