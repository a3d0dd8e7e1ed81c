"""Issue 9's TCG acceptance with the Debian riscv64 guest: its disk a qcow2
image on shared storage, /init appends numbered records to it (each synced,
memory dirtied between them: `pyqemu.workload=N`, scripts/linux-guest), and
the running guest is live-migrated over TCP to a second
pyqemu-system-riscv64. The guest goes on on the destination without noticing
(its record numbers continue on the console), the source ends postmigrate
and refuses `cont`, the destination owns the image's write lock, every
record is on the disk once and in order, and the image passes
`qemu-img check`. The workload does not end by itself: the destination is
stopped with QMP `quit` a few records after the hand-over."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from mighelpers import PYQEMU, QMP, lock_bytes, qemu_img_check, write_locked_by_someone

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path.home() / ".cache" / "pyqemu" / "linux-guest"
_spec = importlib.util.spec_from_file_location("linux_guest_build_mig",
                                               ROOT / "scripts" / "linux-guest" / "build.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)

# More records than the test ever waits for: the source boots while the rest
# of the suite runs and keeps writing until the test migrates it; the
# destination is stopped some records later.
RECORDS = 100000
AFTER = 5                   # records the destination must write after the hand-over
# Booting to userspace takes minutes of host CPU on pyqemu (more while the
# rest of the suite shares the machine).
BOOT_TIMEOUT = 1800
WRITE_LOCK = {100, 101, 103, 201, 203}


class LinuxVM:
    def __init__(self, tmp: Path, name: str, disk: Path, *extra: str):
        self.name = name
        self.console = tmp / f"{name}.console"
        self.qmp_path = str(tmp / f"{name}.qmp")
        self.stderr_path = tmp / f"{name}.stderr"
        append = (FIXTURE / "append.txt").read_text().strip()
        self.proc = subprocess.Popen(
            [PYQEMU, "-M", "virt", "-m", "512M", "-nographic",
             "-kernel", str(FIXTURE / "Image"), "-initrd", str(FIXTURE / "initramfs.gz"),
             "-append", f"{append} {fixture.WORKLOAD_PARAMETER}={RECORDS}",
             "-serial", f"file:{self.console}", "-monitor", "none",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
             "-drive", f"file={disk},if=none,id=d0,format=qcow2",
             "-device", "virtio-blk-device,drive=d0", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "wb"))
        self.qmp = QMP(self.qmp_path)

    def text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def records(self) -> list[int]:
        return [int(n) for n in re.findall(rf"^{fixture.RECORD_MARKER} (\d+)\r?$", self.text(), re.M)]

    def wait_for(self, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while what not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode} before '{what}':\n"
                                     + self.text()[-1500:] + self.stderr_path.read_text()[-1500:])
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no '{what}' after {timeout} s:\n" + self.text()[-1500:])
            time.sleep(0.5)

    def wait_records(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.records() or self.records()[-1] < n:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no record {n} (status {self.proc.poll()}):\n"
                                     + self.text()[-1500:] + self.stderr_path.read_text()[-1500:])
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.qmp.cmd_raw("quit")
                self.proc.wait(20)
            except Exception:
                self.proc.kill()
                self.proc.wait()


_source: list = []          # (workdir, disk, LinuxVM) once started
_workdir: list = []


def start_boots() -> None:
    """Boot the source guest now (tests/conftest.py calls this when the
    session has collected this test): it needs minutes to reach userspace,
    which it spends beside the rest of the suite."""
    if _source or not (FIXTURE / "Image").exists():
        return
    tmp = tempfile.TemporaryDirectory(prefix="pyqemu-linux-mig-")
    _workdir.append(tmp)
    work = Path(tmp.name)
    disk = work / "shared.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(FIXTURE / "disk.img"), str(disk)],
                   check=True)
    _source.append((work, disk, LinuxVM(work, "src", disk)))


def stop_boots() -> None:
    for _work, _disk, vm in _source:
        vm.close()


@pytest.mark.timeout(BOOT_TIMEOUT + 600)
def test_debian_guest_writing_records_moves_to_another_process(tmp_path):
    start_boots()          # when run on its own (no session hook)
    if not _source:
        pytest.skip("Linux guest fixture not built (scripts/linux-guest/build.py)")
    work, disk, src = _source[0]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    dst = None
    try:
        src.wait_records(3, BOOT_TIMEOUT)
        assert lock_bytes(src.proc.pid, str(disk)) == WRITE_LOCK
        dst = LinuxVM(work, "dst", disk, "-incoming", f"tcp:127.0.0.1:{port}")
        assert lock_bytes(dst.proc.pid, str(disk)) == set()      # inactive: no lock at all
        src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        deadline = time.monotonic() + 300
        while (info := src.qmp.cmd("query-migrate"))["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.2)
        assert info["status"] == "completed", info
        moved_at = src.records()[-1]
        assert info["downtime"] < 300, info
        assert info["ram"]["transferred"] > 0 and info["ram"]["total"] > 512 << 20

        # The destination owns the image; the source is done with it.
        assert src.qmp.cmd("query-status")["status"] == "postmigrate"
        refused = src.qmp.cmd_raw("cont")
        assert "error" in refused, refused
        dst.wait_records(moved_at + AFTER, 600)
        assert lock_bytes(dst.proc.pid, str(disk)) == WRITE_LOCK
        assert lock_bytes(src.proc.pid, str(disk)) != WRITE_LOCK

        # The guest's numbers go on where the source stopped, without a gap
        # (read across both consoles: the hand-over may fall inside a line).
        console = src.text() + dst.text()
        numbers = [int(n) for n in re.findall(rf"^{fixture.RECORD_MARKER} (\d+)\r?$", console, re.M)]
        last = numbers[-1]
        assert numbers == list(range(1, last + 1)), console[-1500:]
        assert last >= moved_at + AFTER
    finally:
        src.close()
        if dst is not None:
            dst.close()             # QMP quit: the image is flushed and closed

    assert not write_locked_by_someone(str(disk))
    check = qemu_img_check(str(disk))
    assert check.returncode == 0, check.stdout + check.stderr
    raw = tmp_path / "shared.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(raw)], check=True)
    on_disk = subprocess.run(["debugfs", "-R", f"cat /{fixture.RECORDS_FILE}", str(raw)],
                             capture_output=True, text=True, check=True).stdout
    # Every record the guest announced is there, in order; at most the one it
    # was writing when the destination quit follows.
    lines = on_disk.splitlines()
    assert lines[:last] == [f"record {i}" for i in range(1, last + 1)], lines[-5:]
    assert len(lines) <= last + 1 and (len(lines) == last or lines[-1] == f"record {last + 1}")
