"""What of a machine migrates, in which order, and the whole-machine
save and load that migration's last step and savevm/loadvm share.

Sections, in stream order: the virtual clock first (timers and counters
are re-armed against it), the harts, the interrupt controllers and timers
(which then drive the harts' lines), the other devices and the virtio
transports with their device models.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..target.riscv.vmstate import VMSTATE_RISCV_CPU
from .ram import RamReceiver, RamSender
from .stream import Record, StreamError, StreamReader, StreamWriter
from .vmstate import VMStateDescription, VMStateError, buffer, load_state, save_state, u64


class ClockState:
    """The virtual clock as a migratable object: guest time continues on the
    destination where it stood on the source when the vCPUs stopped."""

    VMSTATE = VMStateDescription("timer", 1, 1, (
        u64("vm_clock_ns", get=lambda c: c.clock.now_ns(),
            set=lambda c, v: c.clock.set_ns(v)),
    ))

    def __init__(self, clock):
        self.clock = clock


class GlobalState:
    """The source's run state when it stopped (QEMU's "globalstate"): a
    destination runs the guest on only if the source was running it."""

    VMSTATE = VMStateDescription("globalstate", 1, 1, (
        buffer("runstate", get=lambda g: g.machine_state().encode(),
               set=lambda g, v: g.loaded(v.decode(errors="replace"))),
    ))

    def __init__(self, machine):
        self.machine = machine

    def machine_state(self) -> str:
        return getattr(self.machine, "migration_runstate", "running")

    def loaded(self, value: str) -> None:
        if value not in ("running", "paused"):
            raise VMStateError(f"globalstate: unknown run state '{value[:32]}'")
        self.machine.migration_runstate = value


@dataclass
class Section:
    name: str
    instance: int
    vmsd: VMStateDescription
    obj: object


def machine_sections(machine) -> list[Section]:
    """The sections of `machine` in stream order. A board other than RISC-V
    virt (the KVM microvm) supplies its own: `vmstate_sections()` returning
    (name, instance, VMStateDescription, object) tuples, `ram_blocks()`
    ((name, region) pairs; a region has `size`, a writable `view` and the
    `mem` mmap behind it) and `block_backends()`; with its `runstate` and
    `runner.run_on_vcpu`, RAM passes, the stream, the hand-over and savevm
    then work unchanged."""
    own = getattr(machine, "vmstate_sections", None)
    if own is not None:
        return [_global_state_section(machine)] + [Section(*t) for t in own()]
    s = [_global_state_section(machine),
         Section("timer", 0, ClockState.VMSTATE, ClockState(machine.clock))]
    for h in machine.harts:
        s.append(Section(VMSTATE_RISCV_CPU.name, h.hart_id, VMSTATE_RISCV_CPU, h))
    # After the harts: their post_load drives the harts' interrupt lines from
    # the loaded state (a timer that expired while the source stood still
    # raises MTIP here, over the hart's saved mip).
    for dev in (machine.clint, machine.plic):
        s.append(Section(dev.VMSTATE.name, 0, dev.VMSTATE, dev))
    for dev in (machine.uart, machine.rtc, machine.test):
        s.append(Section(dev.VMSTATE.name, 0, dev.VMSTATE, dev))
    for slot, t in enumerate(machine.virtio):
        if t.device is None:
            continue
        s.append(Section(t.VMSTATE.name, slot, t.VMSTATE, t))
        s.append(Section(t.device.VMSTATE.name, slot, t.device.VMSTATE, t.device))
    return s


def _global_state_section(machine) -> "Section":
    return Section("globalstate", 0, GlobalState.VMSTATE, GlobalState(machine))


def ram_blocks(machine) -> list:
    """(name, RamRegion) of every RAM block, in stream order."""
    own = getattr(machine, "ram_blocks", None)
    if own is not None:
        return own()
    return [(machine.ram.name, machine.ram), (machine.rom.name, machine.rom)]


def block_backends(machine) -> list:
    """Every image the machine's devices use."""
    own = getattr(machine, "block_backends", None)
    if own is not None:
        return own()
    out = []
    for t in machine.virtio:
        backend = getattr(t.device, "backend", None)
        if backend is not None:
            out.append(backend)
    return out


def save_devices(writer: StreamWriter, machine) -> None:
    """All device sections (the vCPUs must be stopped)."""
    for sec in machine_sections(machine):
        writer.section(sec.name, sec.instance, sec.vmsd.version_id, save_state(sec.vmsd, sec.obj))


def save_machine(machine) -> bytes:
    """A whole stream (all RAM, every device) in memory: the savevm state."""
    out = bytearray()
    w = StreamWriter(out.extend)

    def save():
        # On the vCPU thread: RAM and devices from one instant.
        w.header()
        blocks = ram_blocks(machine)
        w.ram_setup([(name, r.size) for name, r in blocks])
        RamSender(blocks).send_pass(w)
        save_devices(w, machine)
        w.eof()

    machine.runner.run_on_vcpu(save)
    return bytes(out)


def load_stream(reader: StreamReader, machine, on_ram_progress=None) -> None:
    """Read a stream to its end marker and load it: RAM as it comes, the
    device sections all together at the end (on the vCPU thread)."""
    reader.header()
    ram = RamReceiver(ram_blocks(machine))
    sections = {(s.name, s.instance): s for s in machine_sections(machine)}
    staged: list[tuple[Section, int, bytes]] = []
    seen: set = set()
    while True:
        kind = reader.record_type()
        if kind is Record.RAM_SETUP:
            ram.setup(reader.ram_setup())
        elif kind is Record.RAM_PAGES:
            ram.load(*reader.ram_pages())
            if on_ram_progress is not None:
                on_ram_progress(reader.bytes_received)
        elif kind is Record.SECTION:
            name, instance, version, payload = reader.section()
            sec = sections.get((name, instance))
            if sec is None:
                raise StreamError(f"Unknown savevm section or instance '{name}' {instance}")
            if (name, instance) in seen:
                raise StreamError(f"section '{name}' instance {instance} sent twice")
            seen.add((name, instance))
            staged.append((sec, version, payload))
        else:
            count = reader.eof()
            if count != len(staged):
                raise StreamError(f"end marker counts {count} sections, the stream held "
                                  f"{len(staged)}")
            break
    if not ram.set_up:
        raise StreamError("the stream has no RAM")
    missing = [f"{n} {i}" for (n, i) in sections if (n, i) not in seen]
    if missing:
        raise StreamError(f"the stream lacks the state of: {', '.join(missing)}")

    def apply():
        for sec, version, payload in staged:
            load_state(sec.vmsd, sec.obj, payload, version)
        for h in machine.harts:
            # Sstc's STIP against mtime, now that the CLINT's offset is in
            # (a RISC-V hart; the KVM board's CPUs have no such state).
            update = getattr(h, "_update_stip", None)
            if update is not None:
                update()

    try:
        machine.runner.run_on_vcpu(apply)
    except VMStateError as e:
        raise StreamError(str(e)) from None
