"""The command line's virtio pieces: -drive, -blockdev, -device, -global
virtio-mmio.*, turned into device models in -device order (QEMU's wording
for every error)."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The block layer and the device models are imported where a -drive,
# -blockdev, -global or virtio -device asks for them: a command line with
# none of those (the x86 board's start-up path) does not pay for them.
if TYPE_CHECKING:
    from .device import VirtioDevice


class VirtioOptionError(Exception):
    """One line for the user, already prefixed with the offending option."""


class VirtioOptions:
    def __init__(self) -> None:
        self.drives: dict = {}              # id / node-name -> BlockBackend
        self.used: set[str] = set()
        self.devices: list[VirtioDevice] = []
        self.legacy = True
        self.shorthand: list[VirtioDevice] = []   # if=virtio drives
        # -incoming: images open inactive until the migration hands them over.
        self.incoming = False

    def all_devices(self) -> list[VirtioDevice]:
        """-device models in order, then the if=virtio drives: QEMU puts those on
        PCI, outside the MMIO slots, so they must not move a -device's slot."""
        return self.devices + self.shorthand

    def add_drive(self, text: str) -> None:
        from ...block import BlockError, drive_from_options
        from ...block.options import split_options
        from .blk import VirtioBlk
        opts = dict(split_options(text))
        iface = opts.pop("if", "none")
        if iface not in ("none", "virtio"):
            raise VirtioOptionError(f"-drive {text}: if={iface} is not supported: use if=none "
                                    "and -device virtio-blk-device (or if=virtio)")
        name = opts.get("id") or opts.get("node-name") or f"#virtio{len(self.drives)}"
        self._check_new(name, f"-drive {text}")
        if self.incoming:
            opts.setdefault("active", "off")
        try:
            self.drives[name] = drive_from_options(opts)
        except BlockError as e:
            raise VirtioOptionError(f"-drive {text}: {e}") from None
        # The drive's id names its BlockBackend (query-block's "device").
        self.drives[name].name = opts.get("id") or ""
        if iface == "virtio":
            # QEMU's shorthand makes a virtio-blk-pci; pyqemu has no PCI, so a
            # virtio-blk-device in a free MMIO slot stands in for it.
            self.used.add(name)
            backend = self.drives[name]
            self.shorthand.append(VirtioBlk(backend, read_only=backend.read_only))

    def add_blockdev(self, text: str) -> None:
        from ...block import BlockError, blockdev_from_options
        from ...block.options import split_options
        opts = dict(split_options(text))
        name = opts.get("node-name")
        if not name:
            raise VirtioOptionError(f"-blockdev {text}: A block device must be given a "
                                    "node-name at the top level")
        self._check_new(name, f"-blockdev {text}")
        try:
            self.drives[name] = blockdev_from_options(
                text + (",active=off" if self.incoming and "active=" not in text else ""))
        except BlockError as e:
            raise VirtioOptionError(f"-blockdev {text}: {e}") from None

    def _check_new(self, name: str, where: str) -> None:
        if name in self.drives:
            raise VirtioOptionError(f"{where}: Duplicate ID '{name}' for drive")

    def add_global(self, text: str) -> bool:
        """-global virtio-mmio.force-legacy=...; False if the option is not ours."""
        key, _, value = text.partition("=")
        if not key.startswith("virtio-mmio."):
            return False
        from ...block import BlockError
        from ...block.options import parse_bool
        prop = key[len("virtio-mmio."):]
        if prop != "force-legacy":
            raise VirtioOptionError(f"can't apply global {text}: Property '{key}' not found")
        try:
            self.legacy = parse_bool(value, key)
        except BlockError:
            raise VirtioOptionError(f"can't apply global {text}: Parameter '{key}' expects "
                                    "'on' or 'off'") from None
        return True

    def add_device(self, text: str, chardevs) -> bool:
        """A -device; False if the model is not a virtio one (someone else's)."""
        from ...block.options import split_options
        from .blk import VirtioBlk
        from .console import VirtioConsole
        from .rng import VirtioRng
        pairs = split_options(text)
        model = pairs[0][0] if pairs and pairs[0][1] in ("", None) else ""
        opts = dict(p for p in pairs[1:])
        if pairs and pairs[0][0] == "driver":
            model = pairs[0][1]
        where = f"-device {text}"
        if model == "virtio-blk-device":
            self._known(opts, where, model, {"drive", "serial", "id"})
            drive = opts.get("drive")
            if not drive:
                raise VirtioOptionError(f"{where}: drive property not set")
            if drive not in self.drives:
                raise VirtioOptionError(f"{where}: Property 'virtio-blk-device.drive' can't "
                                        f"find value '{drive}'")
            if drive in self.used:
                raise VirtioOptionError(f"{where}: Drive '{drive}' is already in use by "
                                        "another device")
            self.used.add(drive)
            backend = self.drives[drive]
            blk = VirtioBlk(backend, serial=opts.get("serial"), read_only=backend.read_only)
            blk.qdev_id = opts.get("id")
            self.devices.append(blk)
        elif model == "virtio-rng-device":
            self._known(opts, where, model, {"id"})
            self.devices.append(VirtioRng())
        elif model == "virtio-serial-device":
            self._known(opts, where, model, {"id"})
            self.devices.append(VirtioConsole())
        elif model == "virtconsole":
            self._known(opts, where, model, {"chardev", "id", "name"})
            console = next((d for d in reversed(self.devices) if isinstance(d, VirtioConsole)), None)
            if console is None:
                raise VirtioOptionError(f"{where}: No 'virtio-serial-bus' bus found for device "
                                        "'virtconsole'")
            if console.chardev is not None:
                raise VirtioOptionError(f"{where}: pyqemu's virtio-serial-device has a single "
                                        "port, already taken")
            name = opts.get("chardev")
            if name is not None:
                if name not in chardevs:
                    raise VirtioOptionError(f"{where}: Property 'virtconsole.chardev' can't find "
                                            f"value '{name}'")
                console.chardev = chardevs[name]
        else:
            return False
        return True

    @staticmethod
    def _known(opts: dict, where: str, model: str, allowed: set[str]) -> None:
        for k in opts:
            if k not in allowed:
                raise VirtioOptionError(f"{where}: Property '{model}.{k}' not found")

    def close(self) -> None:
        """Close every opened image (on an error before the machine exists)."""
        for b in self.drives.values():
            try:
                b.close()
            except Exception:
                pass
        self.drives.clear()

    def unattached(self) -> list:
        return [b for n, b in self.drives.items() if n not in self.used]
