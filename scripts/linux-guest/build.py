#!/usr/bin/env python3
"""Build the Debian riscv64 Linux guest fixture for the `virt` board (issue 8).

    scripts/linux-guest/build.py [DEST]     (default ~/.cache/pyqemu/linux-guest)

Produces in DEST:
  Image          the Debian trixie kernel (raw RISC-V Image from /boot/vmlinux-*)
  initramfs.gz   cpio newc + gzip: static busybox, the modules /dev/vda needs,
                 and an /init that prints MARKER, mounts /dev/vda, prints
                 READ_FILE from it, writes WRITE_FILE, syncs and powers off
  disk.img       raw ext4 image holding READ_FILE
  disk.qcow2     the same disk as qcow2 (when qemu-img is installed)
  append.txt     the kernel command line to pass with -append

Packages come only from Debian trixie riscv64, fetched with `apt-get download`
through a private apt configuration (its own sources list, lists, status and
cache under DEST.apt) whose mirror is the first non-security `URIs:` of the
machine's own apt sources, so the machine's apt state is never touched.

Module signatures are dropped (hashing them is 35 % of the boot's
instructions) and the command line carries cryptomgr.notests (the crypto
self-tests are another 36 %). A rerun with everything in place does nothing:
disk.img is rebuilt each run only if asked with --fresh-disk, because the guest
writes into it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

MARKER = "PYQEMU-LINUX-GUEST: userspace reached"
READ_FILE = "hello.txt"
READ_TEXT = "hello from the pyqemu linux-guest disk\n"
WRITE_FILE = "guest-wrote.txt"
WRITE_TEXT = "written by the guest"
DONE_MARKER = "PYQEMU-LINUX-GUEST: done"
# With this word on the kernel command line, /init gives the console a shell
# (job control through setsid + cttyhack) before it unmounts and powers off.
SHELL_PARAMETER = "pyqemu.shell"
SHELL_MARKER = "PYQEMU-LINUX-GUEST: shell"
# Modules /dev/vda with ext4 needs; their modules.dep dependencies are added
# in front. crc32c reaches ext4 through a softdep that modules.dep omits, so
# it is named here explicitly, before ext4.
WANTED_MODULES = ("virtio_mmio", "virtio_blk", "crc32c_generic", "ext4")
APPEND = "console=ttyS0 cryptomgr.notests"
DISK_SIZE_MIB = 16
# Bump when the result changes shape.
STAMP = "v2 " + " ".join(WANTED_MODULES) + " " + MARKER

KERNEL_META_PACKAGE = "linux-image-riscv64"
BUSYBOX_PACKAGE = "busybox-static"


class BuildError(Exception):
    """A one-line reason the fixture cannot be built."""


def find_mirror() -> str:
    """The machine's own Debian mirror (FACTS.md: Debian riscv64 packages)."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "URIs:" and "security" not in fields[1]:
                return fields[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == "deb":
                for field in fields[1:]:
                    if re.match(r"(https?|ftp|file):", field) and "security" not in field:
                        return field
    raise BuildError("no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")


class PrivateApt:
    """apt-get/apt-cache with their own sources, lists, status and cache."""

    def __init__(self, work: Path, mirror: str):
        self.work = work
        for sub in ("lists/partial", "cache/archives/partial", "debs"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        (work / "sources.list").write_text(f"deb [arch=riscv64 trusted=yes] {mirror} trixie main\n")
        status = work / "status"
        if not status.exists():
            status.write_text("")
        self.options = [
            "-o", f"Dir::Etc::SourceList={work / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::State::status={status}",
            "-o", f"Dir::Cache={work / 'cache'}",
            "-o", "APT::Architecture=riscv64",
            "-o", "APT::Architectures=riscv64",
            "-o", "Debug::NoLocking=1",
            "-o", "Acquire::Languages=none",
            "-o", "APT::Sandbox::User=root",
        ]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run([tool, *self.options, *args], cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{tool} {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return proc.stdout

    def update(self) -> None:
        self._run("apt-get", "update", "-qq")

    def depends(self, package: str) -> list[str]:
        """The Depends: of the candidate version of a package."""
        record = self._run("apt-cache", "show", "--no-all-versions", package)
        for line in record.splitlines():
            if line.startswith("Depends:"):
                return [alt.split("|")[0].split("(")[0].strip() for alt in line[8:].split(",")]
        return []

    def download(self, package: str) -> Path:
        debs = self.work / "debs"
        existing = sorted(debs.glob(f"{package}_*_riscv64.deb"))
        if existing:
            return existing[-1]
        self._run("apt-get", "download", package, cwd=debs)
        found = sorted(debs.glob(f"{package}_*_riscv64.deb"))
        if not found:
            raise BuildError(f"apt-get download {package} left no .deb in {debs}")
        return found[-1]


def unpack(deb: Path, into: Path) -> None:
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True)


def fetch_packages(dest: Path) -> tuple[Path, Path]:
    """Kernel and busybox trees unpacked under DEST.apt (cached)."""
    work = Path(str(dest) + ".apt")
    kernel_tree, busybox_tree = work / "kernel", work / "busybox"
    if (kernel_tree / ".unpacked").exists() and (busybox_tree / ".unpacked").exists():
        return kernel_tree, busybox_tree
    apt = PrivateApt(work, find_mirror())
    apt.update()
    image_packages = [d for d in apt.depends(KERNEL_META_PACKAGE)
                      if re.fullmatch(r"linux-image-6\.12\..*-riscv64", d)]
    if not image_packages:
        raise BuildError(f"{KERNEL_META_PACKAGE} does not depend on a linux-image-6.12.*-riscv64")
    for package, tree in ((image_packages[0], kernel_tree), (BUSYBOX_PACKAGE, busybox_tree)):
        unpack(apt.download(package), tree)
        (tree / ".unpacked").write_text(package + "\n")
    return kernel_tree, busybox_tree


def module_tree(kernel_tree: Path) -> Path:
    roots = sorted(p for p in (kernel_tree / "usr/lib/modules").glob("6.12.*") if p.is_dir()) or \
        sorted(p for p in (kernel_tree / "lib/modules").glob("6.12.*") if p.is_dir())
    if not roots:
        raise BuildError(f"no lib/modules/6.12.* in {kernel_tree}")
    return roots[0]


def module_depends(elf: bytes) -> list[str]:
    """The `depends=` entry of a module's .modinfo (the package ships no
    modules.dep: depmod writes it at install time)."""
    found = re.search(rb"(?:^|\0)depends=([^\0]*)\0", elf)
    return [d.decode() for d in found.group(1).split(b",") if d] if found else []


def module_load_order(modules_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the wanted modules, each after its dependencies."""
    by_name = {re.sub(r"\.ko(\.(xz|zst|gz))?$", "", p.name).replace("-", "_"): p
               for p in (modules_dir / "kernel").rglob("*.ko*")}
    order: list[tuple[str, Path]] = []

    def visit(name: str) -> None:
        if any(done == name for done, _ in order):
            return
        if name not in by_name:
            raise BuildError(f"module {name} not found under {modules_dir} (built in?)")
        for dep in module_depends(unsigned_module(by_name[name])):
            visit(dep.replace("-", "_"))
        order.append((name, by_name[name]))

    for name in WANTED_MODULES:
        visit(name)
    return order


def unsigned_module(path: Path) -> bytes:
    """The module's ELF without the appended signature (and decompressed)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        data = lzma.decompress(data)
    elif path.name.endswith(".gz"):
        data = gzip.decompress(data)
    elif path.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    # Layout: ELF | PKCS#7 | struct module_signature (12 bytes) | magic.
    magic = b"~Module signature appended~\n"
    if data.endswith(magic):
        sig_len = int.from_bytes(data[-len(magic) - 4:-len(magic)], "big")
        data = data[:-len(magic) - 12 - sig_len]
    if data[:4] != b"\x7fELF":
        raise BuildError(f"{path}: not an ELF module after decompression")
    return data


def init_script(module_names: list[str]) -> str:
    insmods = "\n".join(f"insmod /lib/modules/{m}.ko || echo \"insmod {m} failed\"" for m in module_names)
    return f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "{MARKER}"
{insmods}
# virtio-blk may finish probing after insmod returns.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if mount -t ext4 /dev/vda /mnt; then
    cat /mnt/{READ_FILE}
    echo "{WRITE_TEXT}" > /mnt/{WRITE_FILE}
    sync
    case "$(cat /proc/cmdline)" in
    *{SHELL_PARAMETER}*)
        /bin/busybox --install -s /bin
        echo "{SHELL_MARKER}: /dev/vda is mounted on /mnt; 'exit' powers off"
        setsid cttyhack sh -l
        sync
        ;;
    esac
    umount /mnt
    echo "{DONE_MARKER}"
else
    echo "PYQEMU-LINUX-GUEST: cannot mount /dev/vda"
fi
sync
poweroff -f
"""


class NewcArchive:
    """A cpio archive in the "newc" format (the kernel's initramfs format)."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.inode = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        self.inode += 1
        self.out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        self.out.write(b"\0" * (-self.out.tell() % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def build_initramfs(kernel_tree: Path, busybox_tree: Path, target: Path) -> None:
    modules_dir = module_tree(kernel_tree)
    order = module_load_order(modules_dir)
    names = [name for name, _ in order]
    busybox = busybox_tree / "bin/busybox"
    if not busybox.exists():
        busybox = busybox_tree / "usr/bin/busybox"
    archive = NewcArchive()
    for d in ("bin", "dev", "proc", "sys", "mnt", "lib", "lib/modules"):
        archive.directory(d)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in ("sh", "mount", "umount", "echo", "cat", "insmod", "sleep", "sync", "poweroff"):
        archive.symlink(f"bin/{applet}", "busybox")
    for name, path in order:
        archive.file(f"lib/modules/{name}.ko", unsigned_module(path))
    archive.file("init", init_script(names).encode(), 0o755)
    target.write_bytes(gzip.compress(archive.finish(), 9, mtime=0))


def find_kernel_image(kernel_tree: Path) -> Path:
    images = sorted((kernel_tree / "boot").glob("vmlinu*-6.12.*-riscv64"))
    if not images:
        raise BuildError(f"no /boot/vmlinu*-6.12.*-riscv64 in {kernel_tree}")
    image = images[0]
    head = image.read_bytes()[:0x40]
    if head[0x38:0x3C] != b"RSC\x05":
        raise BuildError(f"{image}: no RISC-V Image magic at 0x38")
    return image


def ensure_mkfs() -> str:
    mkfs = shutil.which("mkfs.ext4") or ("/usr/sbin/mkfs.ext4" if Path("/usr/sbin/mkfs.ext4").exists() else None)
    if mkfs:
        return mkfs
    print("build.py: mkfs.ext4 missing, installing e2fsprogs with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "e2fsprogs"], check=True)
    return "/usr/sbin/mkfs.ext4"


def build_disk(dest: Path) -> None:
    content = dest / "disk-content"
    if content.exists():
        shutil.rmtree(content)
    content.mkdir()
    (content / READ_FILE).write_text(READ_TEXT)
    tmp = dest / "disk.img.tmp"
    tmp.unlink(missing_ok=True)
    subprocess.run([ensure_mkfs(), "-q", "-F", "-t", "ext4", "-L", "pyqemu", "-d", str(content),
                    str(tmp), f"{DISK_SIZE_MIB}M"], check=True, capture_output=True)
    tmp.replace(dest / "disk.img")
    shutil.rmtree(content)
    qemu_img = shutil.which("qemu-img")
    if qemu_img:
        subprocess.run([qemu_img, "convert", "-f", "raw", "-O", "qcow2", str(dest / "disk.img"),
                        str(dest / "disk.qcow2")], check=True)


def build(dest: Path, fresh_disk: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dest / ".complete"
    if stamp.exists() and stamp.read_text() == STAMP:
        if fresh_disk:
            build_disk(dest)
        print(f"{dest}: up to date")
        return
    kernel_tree, busybox_tree = fetch_packages(dest)
    shutil.copyfile(find_kernel_image(kernel_tree), dest / "Image")
    build_initramfs(kernel_tree, busybox_tree, dest / "initramfs.gz")
    build_disk(dest)
    (dest / "append.txt").write_text(APPEND + "\n")
    stamp.write_text(STAMP)
    print(f"{dest}: built ({(kernel_tree / '.unpacked').read_text().strip()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(Path.home() / ".cache/pyqemu/linux-guest"))
    parser.add_argument("--fresh-disk", action="store_true",
                        help="recreate disk.img/disk.qcow2 even when everything is cached")
    args = parser.parse_args(argv)
    try:
        build(Path(args.dest), args.fresh_disk)
    except (BuildError, OSError, subprocess.CalledProcessError) as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
