"""blockdev-add / query-named-block-nodes / block_resize / blockdev-del on
top of pyqemu/block, with images made by the real qemu-img; image locks
are the block layer's, so the real qemu-io sees ours."""

from __future__ import annotations

import subprocess

from monhelpers import RawQMP


def test_blockdev_life_cycle(guests, launch, tmp_path):
    img = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "1M"], check=True)
    emu = launch(guests["loop"], "-S")
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    # QEMU 7.2's default drives on virt: empty cdrom, floppy, SD card
    assert [b["device"] for b in c.command("query-block")["return"]] == ["none2", "floppy0", "sd0"]
    r = c.command("blockdev-add", **{"driver": "qcow2", "node-name": "disk0",
                                     "file": {"driver": "file", "filename": str(img)}})
    assert r == {"return": {}}, r
    nodes = c.command("query-named-block-nodes")["return"]
    # the format node and its (automatically named) file node, as QEMU lists them
    assert [(n["node-name"], n["drv"], n["ro"], n["image"]["virtual-size"]) for n in nodes] == [
        ("disk0", "qcow2", False, 1 << 20), (nodes[1]["node-name"], "file", False, 197120)]
    assert nodes[1]["node-name"].startswith("#block")
    # the image is locked for writing: the real qemu-io is refused
    r = subprocess.run(["qemu-io", "-c", "write 0 512", str(img)], capture_output=True, text=True)
    assert r.returncode != 0 and 'Failed to get "write" lock' in r.stderr
    dup = c.command("blockdev-add", **{"driver": "qcow2", "node-name": "disk0",
                                       "file": {"driver": "file", "filename": str(img)}})
    assert dup["error"]["desc"] == "Duplicate nodes with node-name='disk0'"
    assert c.command("block_resize", **{"node-name": "disk0", "size": 2 << 20}) == {"return": {}}
    missing = c.command("block_resize", device="nope", size=1)
    assert missing["error"]["class"] == "DeviceNotFound"
    bad = c.command("blockdev-add", driver="qcow2", **{"node-name": "x"})
    assert bad["error"]["class"] == "GenericError"
    assert c.command("blockdev-del", **{"node-name": "disk0"}) == {"return": {}}
    info = subprocess.run(["qemu-img", "info", "--output=json", str(img)], capture_output=True,
                          text=True, check=True).stdout
    assert '"virtual-size": 2097152' in info
    assert c.command("blockdev-del", **{"node-name": "disk0"})["error"]["class"] == "GenericError"


def test_sigterm_flushes_and_unlocks_added_nodes(guests, launch, tmp_path):
    import signal
    img = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "1M"], check=True)
    emu = launch(guests["loop"])
    c = RawQMP(emu.qmp_path)
    c.recv()
    c.command("qmp_capabilities")
    assert c.command("blockdev-add", **{"driver": "qcow2", "node-name": "d",
                                        "file": {"driver": "file", "filename": str(img)}}) \
        == {"return": {}}
    emu.proc.send_signal(signal.SIGTERM)
    assert emu.wait() == 0
    r = subprocess.run(["qemu-img", "check", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["qemu-io", "-c", "write 0 512", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
