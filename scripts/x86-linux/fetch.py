"""Fetch the Debian bookworm amd64 kernel (linux-image-amd64) for the
microvm Linux boot tests, and derive its PVH vmlinux.

    python scripts/x86-linux/fetch.py        # prints the bzImage and vmlinux paths

Packages come from Debian bookworm amd64 through `apt-get download` with a
private apt configuration (its own sources list, lists, status and cache
under the cache directory), whose mirror is the first non-security `URIs:`
of the machine's /etc/apt/sources.list.d/*.sources, so the machine's apt
state is never touched. Results live in ~/.cache/pyqemu/x86-linux/<version>/:

    vmlinuz   the bzImage from /boot (Documentation/arch/x86/boot.rst)
    vmlinux   its payload decompressed: an ELF with a PVH entry note
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))    # pyqemu, when not installed

SUITE = "bookworm"
META_PACKAGE = "linux-image-amd64"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyqemu" / "x86-linux"


class FetchError(Exception):
    pass


def find_mirror() -> str:
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                uri = line.split(":", 1)[1].split()[0]
                if "security" not in uri:
                    return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    raise FetchError("no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")


class PrivateApt:
    def __init__(self, work: Path, mirror: str):
        self.work = work
        for d in ("lists/partial", "cache/archives/partial", "debs"):
            (work / d).mkdir(parents=True, exist_ok=True)
        (work / "sources.list").write_text(f"deb [arch=amd64 trusted=yes] {mirror} {SUITE} main\n")
        status = work / "status"
        status.touch()
        self.options = [
            "-o", f"Dir::Etc::SourceList={work / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::State::status={status}",
            "-o", f"Dir::Cache={work / 'cache'}",
            "-o", "APT::Architecture=amd64", "-o", "APT::Architectures=amd64",
        ]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run([tool, *self.options, *args], cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise FetchError(f"{tool} {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def kernel_package(self) -> str:
        """The versioned image package the meta package depends on."""
        record = self.run("apt-cache", "show", "--no-all-versions", META_PACKAGE)
        m = re.search(r"^Depends:.*?(linux-image-[0-9][^ ,]*)", record, re.M)
        if not m:
            raise FetchError(f"{META_PACKAGE} has no linux-image dependency")
        return m.group(1)

    def download(self, package: str) -> Path:
        debs = self.work / "debs"
        for old in debs.glob("*.deb"):
            old.unlink()
        self.run("apt-get", "download", package, cwd=debs)
        found = list(debs.glob("*.deb"))
        if not found:
            raise FetchError(f"apt-get download {package} left no .deb")
        return found[0]


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The bzImage's payload decompressed: the vmlinux ELF (the same code the
    board's x-decompress-bzimage uses)."""
    from pyqemu.machine.loader import LoadError
    from pyqemu.machine.x86.linux import decompress_payload, is_bzimage
    if not is_bzimage(bzimage):
        raise FetchError("not a bzImage (no HdrS)")
    try:
        return decompress_payload("vmlinuz", bzimage)
    except LoadError as e:
        raise FetchError(str(e)) from None


def fetch() -> tuple[Path, Path]:
    work = CACHE / "apt"
    apt = PrivateApt(work, find_mirror())
    apt.run("apt-get", "update", "-qq")
    package = apt.kernel_package()
    dest = CACHE / package
    vmlinuz, vmlinux = dest / "vmlinuz", dest / "vmlinux"
    if vmlinuz.exists() and vmlinux.exists():
        return vmlinuz, vmlinux
    deb = apt.download(package)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        found = sorted(Path(tmp, "boot").glob("vmlinuz-*"))
        if not found:
            raise FetchError(f"{deb.name} has no /boot/vmlinuz-*")
        dest.mkdir(parents=True, exist_ok=True)
        data = found[0].read_bytes()
        elf = extract_vmlinux(data)
        for path, content in ((vmlinux, elf), (vmlinuz, data)):   # vmlinuz last: it marks "done"
            tmp_path = path.with_suffix(".tmp")
            tmp_path.write_bytes(content)
            os.replace(tmp_path, path)
    deb.unlink()
    return vmlinuz, vmlinux


def cached() -> tuple[Path, Path] | None:
    """The newest fetched kernel, without touching the network."""
    for d in sorted(CACHE.glob("linux-image-*"), reverse=True):
        if (d / "vmlinuz").exists() and (d / "vmlinux").exists():
            return d / "vmlinuz", d / "vmlinux"
    return None


def main() -> int:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        sys.stderr.write("fetch.py: needs apt-get and dpkg-deb (a Debian machine)\n")
        return 1
    try:
        for p in fetch():
            print(p)
    except FetchError as e:
        sys.stderr.write(f"fetch.py: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
