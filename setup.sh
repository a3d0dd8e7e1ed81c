#!/usr/bin/env bash
# Sets up everything (Debian packages, .venv, the Debian Linux guest) and
# boots the default guest on this terminal: Debian's riscv64 Linux kernel on
# the RISC-V virt board (OpenSBI firmware, virtio-blk disk), to a shell.
#
# The disk is a qcow2 overlay in ~/.cache/pyqemu/linux-guest/setup-disk.qcow2
# backed by the fixture's disk, so what you write there stays between runs
# (delete the overlay to start afresh). 'exit' in the guest shell powers off;
# Ctrl-A x quits the emulator. Extra arguments go to pyqemu-system-riscv64.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
GUEST="${HOME}/.cache/pyqemu/linux-guest"
.venv/bin/python scripts/linux-guest/build.py "$GUEST"
if [ ! -f "$GUEST/setup-disk.qcow2" ]; then
    .venv/bin/pyqemu-img create -q -f qcow2 -b disk.qcow2 -F qcow2 "$GUEST/setup-disk.qcow2"
fi
echo "setup: booting Debian Linux on pyqemu's RISC-V virt board (Ctrl-A x quits)"
exec .venv/bin/pyqemu-system-riscv64 -M virt -m 512M -nographic \
    -kernel "$GUEST/Image" -initrd "$GUEST/initramfs.gz" \
    -append "$(cat "$GUEST/append.txt") pyqemu.shell" \
    -drive file="$GUEST/setup-disk.qcow2",format=qcow2,if=none,id=d0 \
    -device virtio-blk-device,drive=d0 "$@"
