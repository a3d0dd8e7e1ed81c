"""Choosing the boot protocol for `-kernel`: Linux (bzImage, PVH vmlinux)
or a multiboot/plain ELF (boot.py)."""

from __future__ import annotations

from . import boot


def load_any(machine, path: str, append: str, initrd: str | None) -> boot.BootState:
    if initrd:
        from ..loader import LoadError
        raise LoadError("-initrd is only supported with a Linux kernel")
    # Multiboot loaders pass the kernel's path first on the command line, as QEMU's.
    return boot.load_kernel(machine.bus, path, f"{path} {append}".rstrip(), machine.memory_map())
