"""`-serial null`: output is discarded, no input ever arrives."""

from __future__ import annotations

from pyqemu.chardev.base import Chardev


class NullChardev(Chardev):
    pass
