"""The other channels: exec: and file: (a stream with no return path,
loaded by a later process), and -incoming defer with migrate-incoming."""

from __future__ import annotations

import re
import socket
import time

import pytest

from mighelpers import VM, create_disk, lock_bytes

OWNER = {100, 101, 103, 201, 203}


def _counts(*vms):
    return [int(x) for x in re.findall(r"count (\d+)\n", "".join(v.text() for v in vms))]


def _completed(vm: VM, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = vm.qmp.cmd("query-migrate")
        if info.get("status") in ("completed", "failed"):
            return info
        time.sleep(0.05)
    raise TimeoutError(str(vm.qmp.cmd("query-migrate")))


def test_exec_out_then_file_in(tmp_path):
    disk = create_disk(tmp_path / "disk.qcow2")
    saved = tmp_path / "state.bin"
    src = VM(tmp_path, "src", disk)
    try:
        src.wait_count(3)
        src.qmp.cmd("stop")
        src.qmp.cmd("migrate", uri=f"exec:cat > {saved}")
        info = _completed(src)
        assert info["status"] == "completed", info
        assert src.status() == "postmigrate"
        assert lock_bytes(src.proc.pid, disk) == {100}
        assert saved.read_bytes()[:4] == b"PYQM"
    finally:
        src.quit()
    dst = VM(tmp_path, "dst", disk, "-incoming", f"file:{saved}")
    try:
        deadline = time.monotonic() + 20
        while dst.status() == "inmigrate" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dst.status() == "paused", "a source that was paused stays paused"
        assert lock_bytes(dst.proc.pid, disk) == OWNER
        dst.qmp.cmd("cont")
        dst.wait_count(_counts(src)[-1] + 3)
        counts = _counts(src, dst)
        assert counts == list(range(len(counts)))
        assert lock_bytes(dst.proc.pid, disk) == OWNER
    finally:
        dst.quit()


def test_incoming_defer_then_migrate_incoming(tmp_path):
    disk = create_disk(tmp_path / "disk.qcow2")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    src = VM(tmp_path, "src", disk)
    dst = VM(tmp_path, "dst", disk, "-incoming", "defer")
    try:
        assert dst.status() == "inmigrate"
        with pytest.raises(RuntimeError, match="unknown migration protocol: nope:1"):
            dst.qmp.cmd("migrate-incoming", uri="nope:1")
        dst.qmp.cmd("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
        with pytest.raises(RuntimeError, match="already been started"):
            dst.qmp.cmd("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
        with pytest.raises(RuntimeError, match="'-incoming' was not specified"):
            src.qmp.cmd("migrate-incoming", uri="tcp:127.0.0.1:1")
        src.wait_count(2)
        src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        assert _completed(src)["status"] == "completed"
        dst.wait_count(_counts(src)[-1] + 2)
        assert dst.status() == "running"
    finally:
        src.quit()
        dst.quit()


def test_fd_in_and_out(tmp_path):
    """fd:N on both sides: the source writes into a pipe the test drains into
    a file; the destination reads that file from an inherited descriptor."""
    import os
    import threading
    disk = create_disk(tmp_path / "disk.qcow2")
    saved = tmp_path / "state.bin"
    r, w = os.pipe()
    src = VM(tmp_path, "src", disk, pass_fds=(w,))
    os.close(w)

    def drain():
        with open(saved, "wb") as f, os.fdopen(r, "rb") as pipe:
            while chunk := pipe.read(1 << 16):
                f.write(chunk)
    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        src.wait_count(2)
        src.qmp.cmd("migrate", uri=f"fd:{w}")
        assert _completed(src)["status"] == "completed"
    finally:
        src.quit()
        drainer.join(10)
    fd = os.open(saved, os.O_RDONLY)
    try:
        dst = VM(tmp_path, "dst", disk, "-incoming", f"fd:{fd}", pass_fds=(fd,))
    finally:
        os.close(fd)
    try:
        dst.wait_count(_counts(src)[-1] + 2)
        counts = _counts(src, dst)
        assert counts == list(range(len(counts)))
    finally:
        dst.quit()
