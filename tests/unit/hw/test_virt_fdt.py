"""The virt device tree, compared with what the real qemu-system-riscv64/32 dump."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import libfdt
import pytest

from pyqemu.machine.riscv.fdt import FdtError, VirtFdtConfig, build_virt_fdt, fdt_set_chosen

# Nodes QEMU generates for devices pyqemu does not model.
UNMODELLED = ("/pmu", "/fw-cfg@10100000", "/flash@20000000", "/platform-bus@4000000",
              "/soc/pci@30000000")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    return path


def qemu_dtb(tmp_path: Path, arch: str, *args: str) -> bytes:
    qemu = _require(f"qemu-system-{arch}")
    out = tmp_path / f"qemu-{arch}.dtb"
    subprocess.run([qemu, "-M", f"virt,dumpdtb={out}", "-nographic", "-bios", "none", *args],
                   check=True, capture_output=True, timeout=30)
    return out.read_bytes()


def tree(dtb: bytes) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Every node's path and properties, in blob order."""
    fdt = libfdt.Fdt(dtb)
    nodes = []
    offset, depth = 0, 0
    # next_node signals the end with a negative offset or a negative depth.
    while offset >= 0 and depth >= 0:
        props = []
        poff = fdt.first_property_offset(offset, quiet=(libfdt.NOTFOUND,))
        while poff >= 0:
            prop = fdt.get_property_by_offset(poff)
            props.append((prop.name, bytes(prop)))
            poff = fdt.next_property_offset(poff, quiet=(libfdt.NOTFOUND,))
        nodes.append((fdt.get_path(offset), props))
        offset, depth = fdt.next_node(offset, depth, quiet=(libfdt.NOTFOUND,))
    return nodes


def modelled(nodes):
    kept = []
    for path, props in nodes:
        if any(path == u or path.startswith(u + "/") for u in UNMODELLED):
            continue
        # The seed is random on every run: compare its presence and length only.
        props = [(n, len(v).to_bytes(4, "big") if n == "rng-seed" else v) for n, v in props]
        kept.append((path, props))
    return kept


def prop(dtb: bytes, path: str, name: str) -> bytes:
    fdt = libfdt.Fdt(dtb)
    return bytes(fdt.getprop(fdt.path_offset(path), name))


def config_like(dtb: bytes, **kw) -> VirtFdtConfig:
    """Our config for the same machine: the caller passes ISA and MMU from the CPU."""
    isa = prop(dtb, "/cpus/cpu@0", "riscv,isa").rstrip(b"\0").decode()
    mmu = prop(dtb, "/cpus/cpu@0", "mmu-type").rstrip(b"\0").decode()
    return VirtFdtConfig(isa=isa, mmu_type=mmu, **kw)


@pytest.mark.parametrize("arch,args,kw", [
    ("riscv64", [], dict(ram_size=128 << 20)),
    ("riscv64", ["-smp", "2", "-m", "256M"], dict(ram_size=256 << 20, num_harts=2)),
    ("riscv64", ["-smp", "4", "-m", "5G"], dict(ram_size=5 << 30, num_harts=4)),
    ("riscv32", [], dict(ram_size=128 << 20, xlen=32)),
], ids=["rv64", "rv64-smp2-256M", "rv64-smp4-5G", "rv32"])
def test_matches_real_qemu(tmp_path, arch, args, kw):
    real = qemu_dtb(tmp_path, arch, *args)
    ours = build_virt_fdt(config_like(real, **kw))
    assert modelled(tree(ours)) == modelled(tree(real))


def test_chosen_with_kernel_initrd_and_bootargs_matches_real_qemu(tmp_path):
    kernel = tmp_path / "kernel.bin"
    kernel.write_bytes(bytes(4096))
    initrd = tmp_path / "initrd.bin"
    initrd.write_bytes(bytes(1000))
    bootargs = "console=ttyS0 root=/dev/vda rw"
    real = qemu_dtb(tmp_path, "riscv64", "-kernel", str(kernel), "-initrd", str(initrd),
                    "-append", bootargs)
    start = int.from_bytes(prop(real, "/chosen", "linux,initrd-start"), "big")
    end = int.from_bytes(prop(real, "/chosen", "linux,initrd-end"), "big")
    assert end - start == 1000
    ours = build_virt_fdt(config_like(real, ram_size=128 << 20, bootargs=bootargs,
                                      initrd_start=start, initrd_end=end))
    assert modelled(tree(ours)) == modelled(tree(real))


def test_rng_seed_fresh_or_as_given_or_absent():
    base = dict(ram_size=64 << 20, isa="rv64imac")
    a = prop(build_virt_fdt(VirtFdtConfig(**base)), "/chosen", "rng-seed")
    b = prop(build_virt_fdt(VirtFdtConfig(**base)), "/chosen", "rng-seed")
    assert len(a) == len(b) == 32 and a != b
    assert prop(build_virt_fdt(VirtFdtConfig(**base, rng_seed=b"\x01" * 8)),
                "/chosen", "rng-seed") == b"\x01" * 8
    fdt = libfdt.Fdt(build_virt_fdt(VirtFdtConfig(**base, rng_seed=b"")))
    assert not fdt.hasprop(fdt.path_offset("/chosen"), "rng-seed")


def test_no_mmu_leaves_out_mmu_type():
    fdt = libfdt.Fdt(build_virt_fdt(VirtFdtConfig(ram_size=64 << 20, isa="rv32imac",
                                                  xlen=32, mmu_type=None)))
    assert not fdt.hasprop(fdt.path_offset("/cpus/cpu@0"), "mmu-type")


def test_bad_config_is_a_clear_error():
    with pytest.raises(FdtError, match="xlen 128"):
        VirtFdtConfig(ram_size=1 << 20, isa="rv128i", xlen=128)
    with pytest.raises(FdtError, match="initrd"):
        VirtFdtConfig(ram_size=1 << 20, isa="rv64i", initrd_start=0x84000000)


def test_set_chosen_on_user_dtb(tmp_path):
    real = qemu_dtb(tmp_path, "riscv64")
    edited = fdt_set_chosen(real, "console=hvc0 quiet", 0x1_2000_0000, 0x1_2000_1000)
    assert prop(edited, "/chosen", "bootargs") == b"console=hvc0 quiet\0"
    assert prop(edited, "/chosen", "linux,initrd-start") == (0x1_2000_0000).to_bytes(8, "big")
    assert prop(edited, "/chosen", "linux,initrd-end") == (0x1_2000_1000).to_bytes(8, "big")
    # Everything else is untouched, and dtc (the reference parser) accepts it.
    before = {p: v for p, v in tree(real)}
    after = {p: v for p, v in tree(edited)}
    assert before.keys() == after.keys()
    assert all(after[p] == before[p] for p in before if p != "/chosen")
    dtb = tmp_path / "edited.dtb"
    dtb.write_bytes(edited)
    dts = subprocess.run([_require("dtc"), "-I", "dtb", "-O", "dts", str(dtb)],
                         check=True, capture_output=True, text=True).stdout
    assert 'bootargs = "console=hvc0 quiet";' in dts


def test_set_chosen_creates_chosen_and_rejects_garbage():
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    with sw.add_node(""):
        pass
    bare = bytes(sw.as_fdt().as_bytearray())
    edited = fdt_set_chosen(bare, "x=1", 0x1000, 0x2000)
    assert prop(edited, "/chosen", "bootargs") == b"x=1\0"
    assert prop(edited, "/chosen", "linux,initrd-start") == (0x1000).to_bytes(4, "big")
    with pytest.raises(FdtError, match="invalid device tree blob"):
        fdt_set_chosen(b"not a device tree at all", "x")


def test_real_opensbi_boots_on_our_tree(tmp_path):
    """OpenSBI (the firmware real QEMU ships) finds the console, timer, IPI,
    poweroff and all harts from our tree alone."""
    qemu = _require("qemu-system-riscv64")
    cfg = config_like(qemu_dtb(tmp_path, "riscv64", "-smp", "2"), ram_size=128 << 20, num_harts=2)
    dtb = tmp_path / "ours.dtb"
    dtb.write_bytes(build_virt_fdt(cfg))
    log = tmp_path / "serial.txt"
    proc = subprocess.Popen([qemu, "-M", "virt", "-smp", "2", "-dtb", str(dtb),
                             "-display", "none", "-monitor", "none", "-serial", f"file:{log}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline and "Boot HART ID" not in text:
            time.sleep(0.05)
            text = log.read_text(errors="replace") if log.exists() else ""
    finally:
        proc.kill()
        proc.wait()
    fields = {k.strip(): v.strip() for k, _, v in
              (line.partition(":") for line in text.splitlines() if ":" in line)}
    assert fields.get("Platform HART Count") == "2", text
    assert fields["Platform Console Device"] == "uart8250"
    assert fields["Platform Timer Device"] == "aclint-mtimer @ 10000000Hz"
    assert fields["Platform IPI Device"] == "aclint-mswi"
    assert fields["Platform Shutdown Device"] == "sifive_test"
    assert fields["Platform Reboot Device"] == "sifive_test"
