"""savevm / loadvm / delvm / info snapshots: the machine state inside a
qcow2 internal snapshot.

savevm stops the vCPUs, writes the whole machine state (the migration
stream, all RAM in one pass) into the VM-state area of the first qcow2
disk, and snapshots every disk under one name at that instant; that disk's
snapshot records the state's size. loadvm reverts every disk to the
snapshot and loads the state back. `qemu-img snapshot -l` lists them.
"""

from __future__ import annotations

import io

from ..block.errors import BlockError
from ..block.qcow2 import snapshot as qsnap
from ..system.runstate import RunState
from .state import block_backends, load_stream, save_machine
from .stream import StreamError, StreamReader


class SnapshotError(Exception):
    """One line for the monitor."""


def _qcow2_root(backend):
    node = backend.root
    return node if node.driver == "qcow2" else None


def _disks(machine) -> list:
    """(backend, qcow2 node) of every disk; all must take snapshots."""
    out = []
    for backend in block_backends(machine):
        node = _qcow2_root(backend)
        if node is None:
            if backend.read_only:
                continue
            raise SnapshotError(f"Device '{backend.filename}' is writable but does not "
                                "support snapshots")
        if backend.read_only:
            continue
        out.append((backend, node))
    if not out:
        raise SnapshotError("No block device can accept snapshots")
    return out


class _Stopped:
    """vCPUs stopped in `state` for the duration, restarted if they ran."""

    def __init__(self, machine, state: RunState):
        self.rs = machine.runstate
        self.state = state

    def __enter__(self):
        self.was_running = self.rs.running
        if self.was_running:
            self.rs.vm_stop(self.state)
        return self

    def __exit__(self, *exc):
        if self.was_running:
            self.rs.vm_start()


def save_snapshot(machine, name: str) -> None:
    disks = _disks(machine)
    with _Stopped(machine, RunState.SAVE_VM):
        try:
            # As QEMU's savevm: a snapshot of that name is replaced.
            for backend, node in disks:
                with backend.lock:
                    if any(s.name == name for s in node.snapshots):
                        qsnap.delete(node, name)
            state = save_machine(machine)
            clock_ns = machine.clock.now_ns()
            for i, (backend, node) in enumerate(disks):
                with backend.lock:
                    backend.flush()
                    if i == 0:
                        node.write_vm_state(state)
                        # icount -1: not recorded (as QEMU's savevm without -icount).
                        qsnap.create(node, name, vm_state_size=len(state),
                                     vm_clock_nsec=clock_ns, icount=-1)
                        node.discard_vm_state(len(state))
                        node.flush()
                    else:
                        qsnap.create(node, name, vm_clock_nsec=clock_ns, icount=-1)
        except BlockError as e:
            raise SnapshotError(f"Error while creating snapshot on '{name}': {e}") from None


def load_snapshot(machine, name: str) -> None:
    disks = _disks(machine)
    found = []
    for backend, node in disks:
        snap = next((s for s in node.snapshots if s.name == name or s.id_str == name), None)
        if snap is None:
            raise SnapshotError(f"Snapshot '{name}' does not exist in one or more devices")
        found.append(snap)
    holder = next((i for i, s in enumerate(found) if s.vm_state_size), None)
    if holder is None:
        raise SnapshotError(f"Snapshot '{name}' has no VM state (a disk-only snapshot)")
    with _Stopped(machine, RunState.RESTORE_VM):
        try:
            for backend, node in disks:
                with backend.lock:
                    qsnap.apply(node, found[disks.index((backend, node))].id_str)
            backend, node = disks[holder]
            with backend.lock:
                data = node.read_vm_state(found[holder].vm_state_size)
        except BlockError as e:
            raise SnapshotError(f"Error while reverting to snapshot '{name}': {e}") from None
        try:
            load_stream(StreamReader(io.BytesIO(data).read), machine)
        except StreamError as e:
            raise SnapshotError(f"Error while loading VM state of '{name}': {e}") from None


def delete_snapshot(machine, name: str) -> None:
    """delvm: the snapshot goes from every disk that has it (a name no disk
    has is no error, as QEMU 7.2's delvm)."""
    for backend, node in _disks(machine):
        with backend.lock:
            if any(s.name == name or s.id_str == name for s in node.snapshots):
                try:
                    qsnap.delete(node, name)
                except BlockError as e:
                    raise SnapshotError(f"Error while deleting snapshot on '{name}': {e}") from None


def list_snapshots(machine) -> list:
    """The first disk's snapshots that hold VM state, as loadvm can use them."""
    backend, node = _disks(machine)[0]
    return [s for s in node.snapshots if s.vm_state_size]


def format_info_snapshots(machine) -> str:
    """HMP `info snapshots`, in QEMU 7.2's layout (qemu-img's table, the id
    column "--" for snapshots present on all disks)."""
    from dataclasses import replace
    from ..tools.img.info import _snapshot_table
    snaps = list_snapshots(machine)
    if not snaps:
        return "There is no snapshot available.\n"
    lines = ["List of snapshots present on all disks:"]
    lines += _snapshot_table([replace(s, id_str="--") for s in snaps])
    return "\n".join(lines) + "\n"
