"""qcow2 format driver (docs/interop/qcow2.rst)."""
from .create import Qcow2CreateOptions, create_qcow2
from .driver import Qcow2Node

__all__ = ["Qcow2Node", "Qcow2CreateOptions", "create_qcow2"]
