"""The Debian Linux guest fixture of issue 8 (scripts/linux-guest/build.py),
proven on the real qemu-system-riscv64: the kernel reaches the initramfs
marker, /init reads a file from /dev/vda (virtio-blk over virtio-mmio),
writes one back, and powers the machine off with exit status 0.

Runs against raw and qcow2 disks, with one and two harts. Each guest gets
its own copy of the disk so the cached fixture stays pristine."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "linux-guest" / "build.py"
FIXTURE = Path.home() / ".cache" / "pyqemu" / "linux-guest"
QEMU = "qemu-system-riscv64"
# QEMU 7.2 powers off ~3 s after launch on these machines (2 cores shared).
BOOT_TIMEOUT = 60

# By file, under its own name: tests/conftest.py already imports another
# "build" module (tests/guests/build.py).
_spec = importlib.util.spec_from_file_location("linux_guest_build", BUILD)
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


@pytest.fixture(scope="module")
def guest_files() -> Path:
    if shutil.which(QEMU) is None:
        pytest.skip(f"{QEMU} is not installed")
    proc = subprocess.run([sys.executable, str(BUILD), str(FIXTURE)], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"linux guest fixture could not be built: {proc.stderr.strip().splitlines()[-1:]}")
    return FIXTURE


def debugfs_cat(raw_image: Path, name: str) -> str:
    proc = subprocess.run(["debugfs", "-R", f"cat /{name}", str(raw_image)],
                          capture_output=True, text=True, check=True)
    return proc.stdout


def boot(files: Path, disk: Path, disk_format: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = [QEMU, "-M", "virt", "-m", "512M", "-nographic", *extra,
               "-kernel", str(files / "Image"), "-initrd", str(files / "initramfs.gz"),
               "-append", (files / "append.txt").read_text().strip(),
               "-drive", f"file={disk},format={disk_format},if=none,id=d0",
               "-device", "virtio-blk-device,drive=d0"]
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        # Reported through the assertions below, with the console tail.
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(command, None, out + f"\n[killed after {BOOT_TIMEOUT} s]", "")


@pytest.mark.parametrize("disk_format,extra", [
    ("raw", ()),
    ("raw", ("-smp", "2")),
    ("qcow2", ()),
], ids=["raw", "raw-smp2", "qcow2"])
def test_guest_reads_and_writes_its_disk(guest_files: Path, tmp_path: Path,
                                         disk_format: str, extra: tuple[str, ...]) -> None:
    source = guest_files / ("disk.img" if disk_format == "raw" else "disk.qcow2")
    disk = tmp_path / source.name
    shutil.copyfile(source, disk)
    assert fixture.WRITE_TEXT not in debugfs_cat(guest_files / "disk.img", fixture.WRITE_FILE)

    run = boot(guest_files, disk, disk_format, extra)
    tail = "\n".join(run.stdout.splitlines()[-20:])
    assert fixture.MARKER in run.stdout, tail
    assert fixture.READ_TEXT.strip() in run.stdout.split(fixture.MARKER, 1)[1], tail
    assert fixture.DONE_MARKER in run.stdout, tail
    assert run.returncode == 0, f"status {run.returncode}\n{tail}\n{run.stderr[-1000:]}"
    if "-smp" in extra:
        assert "smp: Brought up 1 node, 2 CPUs" in run.stdout, tail

    raw = disk
    if disk_format == "qcow2":
        raw = tmp_path / "disk.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(raw)], check=True)
    assert debugfs_cat(raw, fixture.WRITE_FILE).strip() == fixture.WRITE_TEXT
    assert debugfs_cat(raw, fixture.READ_FILE) == fixture.READ_TEXT


def test_rerun_with_cache_is_instant(guest_files: Path) -> None:
    proc = subprocess.run([sys.executable, str(BUILD), str(guest_files)], capture_output=True,
                          text=True, timeout=10, check=True)
    assert "up to date" in proc.stdout


def test_bad_destination_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run([sys.executable, str(BUILD), str(blocker / "sub")], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.startswith("build.py: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
