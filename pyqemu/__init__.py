"""pyqemu: a machine emulator and virtualizer in Python."""

__version__ = "0.1.0"
# The QEMU release whose command lines and protocols we follow.
QEMU_COMPAT_VERSION = (7, 2, 0)
