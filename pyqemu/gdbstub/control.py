"""Execution control for the debugger: breakpoints, watchpoints, single
step, and stops that go through the run-state machine (a stop at a
breakpoint, a watchpoint or after a step leaves the machine in `debug`
state, as QEMU; an interrupt from GDB leaves it `paused`).

How it works without a debug mode in the translator:
- Breakpoints end translation blocks: while the debugger is attached each
  hart's instruction fetch (at translation time) refuses to put a
  breakpoint address anywhere but first in a block, so the runner's
  per-block hook sees every breakpoint before it runs.
- Single step and watchpoints translate one instruction per block, so the
  block hook runs between any two instructions.
- Watchpoints see every data access: the TLB fast path is turned off and
  the slow load/store paths note accesses that overlap a watched range.
  The stop is reported *before* the accessing instruction, as a RISC-V
  trigger fires (GDB then steps over it, and so does QEMU's stub): a
  watched store is not done, and the hart's pc and registers go back to
  what they were before the instruction (saved before each one-instruction
  block while watchpoints exist).
Every change of these flushes the translated code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..system.runstate import RunState
from ..target.riscv.translate import EndBlock


class WatchKind(enum.Enum):
    """Z2, Z3, Z4 (GDB manual, "Packets": insert watchpoint)."""
    WRITE = 2
    READ = 3
    ACCESS = 4

    @property
    def stop_key(self) -> str:
        return {WatchKind.WRITE: "watch", WatchKind.READ: "rwatch",
                WatchKind.ACCESS: "awatch"}[self]


@dataclass(frozen=True)
class Watchpoint:
    addr: int
    length: int
    kind: WatchKind

    def hit(self, va: int, size: int, write: bool) -> bool:
        if self.kind is WatchKind.WRITE and not write:
            return False
        if self.kind is WatchKind.READ and write:
            return False
        return va < self.addr + self.length and self.addr < va + size


@dataclass
class StopReason:
    """Why the machine stopped, as a stop reply's pieces."""
    signal: int
    hart: int
    extra: str = ""        # e.g. "watch:80001000;"


SIGINT, SIGTRAP = 2, 5


class Debugger:
    """Breakpoints, watchpoints and stepping on one machine's harts."""

    def __init__(self, machine, on_stop):
        self.machine = machine
        self.runner = machine.runner
        self._on_stop = on_stop             # called with a StopReason (any thread)
        self.breakpoints: set[int] = set()
        self.watchpoints: set[Watchpoint] = set()
        self._step_hart = None
        self._step_ran = False
        self._watch_hit: tuple | None = None
        self._before_insn: tuple | None = None     # (hart, pc, registers) while watching
        self._attached = False
        self._saved: dict = {}
        self._held: list = []

    # -- attach / detach (call with the machine stopped or from any thread) -------------
    def attach(self) -> None:
        if self._attached:
            return
        self._attached = True
        self.runner.run_on_vcpu(self._install)

    def detach(self) -> None:
        if not self._attached:
            return
        self.breakpoints.clear()
        self.watchpoints.clear()
        self._step_hart = None
        self.runner.run_on_vcpu(self._release)
        self.runner.run_on_vcpu(self._uninstall)
        self._attached = False

    def _install(self) -> None:
        for h in self.machine.harts:
            self._saved[h] = (h.fetch_insn, h.load_slow, h.store_slow)
            h.fetch_insn = self._fetch_for(h, h.fetch_insn)
            h.load_slow = self._load_for(h, h.load_slow)
            h.store_slow = self._store_for(h, h.store_slow)
            h.flush_translations()
        self.runner.block_hooks.append(self._before_block)

    def _uninstall(self) -> None:
        if self._before_block in self.runner.block_hooks:
            self.runner.block_hooks.remove(self._before_block)
        for h, (fetch, load, store) in self._saved.items():
            h.fetch_insn, h.load_slow, h.store_slow = fetch, load, store
            h.__dict__.pop("_fill", None)       # the TLB fast path back
            h.flush_tlb()
            h.flush_translations()
        self._saved.clear()

    # -- the hooks (vCPU thread) ------------------------------------------------------
    def _one_insn_blocks(self) -> bool:
        return self._step_hart is not None or bool(self.watchpoints)

    def _fetch_for(self, h, fetch):
        def fetch_insn(pc, first):
            if not first and (pc in self.breakpoints or self._one_insn_blocks()):
                raise EndBlock()
            return fetch(pc, first)
        return fetch_insn

    def _load_for(self, h, load):
        def load_slow(va, size, signed):
            if self.watchpoints:
                self._check_watch(h, va, size, False)
            return load(va, size, signed)
        return load_slow

    def _store_for(self, h, store):
        def store_slow(va, size, value):
            if self.watchpoints and self._check_watch(h, va, size, True):
                return None         # undone: the instruction will run again
            return store(va, size, value)
        return store_slow

    def _check_watch(self, h, va, size, write) -> bool:
        if self._watch_hit is not None:
            return self._watch_hit[0] is h
        for w in self.watchpoints:
            if w.hit(va, size, write):
                self._watch_hit = (h, w, va)
                return True
        return False

    def _before_block(self, h, tb) -> None:
        if self._watch_hit is not None:
            hart, w, va = self._watch_hit
            self._watch_hit = None
            saved = self._before_insn
            if saved is not None and saved[0] is hart:
                hart.pc = saved[1]
                hart.r[:64] = saved[2]
            self._stop(hart, SIGTRAP, f"{w.kind.stop_key}:{va:x};")
            return
        if self.watchpoints:
            self._before_insn = (h, h.pc, h.r[:64])
        if self._step_hart is h:
            if not self._step_ran:
                self._step_ran = True
                return
            self._stop(h, SIGTRAP)
            return
        if h.pc in self.breakpoints:
            self._stop(h, SIGTRAP)

    def _stop(self, h, signal: int, extra: str = "") -> None:
        """On the vCPU thread: park the loop (the current block does not run)."""
        self._release()
        if self._step_hart is not None:
            self._step_hart = None
            self._flush_all()
        self.machine.runstate.vm_stop(RunState.DEBUG)
        self._on_stop(StopReason(signal, h.hart_id, extra))

    # -- requests from the stub (machine stopped) -------------------------------------
    def _flush_all(self) -> None:
        for h in self.machine.harts:
            h.flush_translations()

    def _changed(self) -> None:
        self.runner.run_on_vcpu(self._flush_all)

    def add_breakpoint(self, addr: int) -> None:
        self.breakpoints.add(addr)
        self._changed()

    def remove_breakpoint(self, addr: int) -> None:
        self.breakpoints.discard(addr)
        self._changed()

    def add_watchpoint(self, w: Watchpoint) -> None:
        first = not self.watchpoints
        self.watchpoints.add(w)
        if first:
            self.runner.run_on_vcpu(self._slow_memory)
        self._changed()

    def remove_watchpoint(self, w: Watchpoint) -> bool:
        if w not in self.watchpoints:
            return False
        self.watchpoints.discard(w)
        if not self.watchpoints:
            self.runner.run_on_vcpu(self._fast_memory)
        self._changed()
        return True

    def _slow_memory(self) -> None:
        # Every data access must take the slow path, where watchpoints are checked.
        for h in self.machine.harts:
            h._fill = lambda va, pa, access, priv: None
            h.flush_tlb()

    def _fast_memory(self) -> None:
        for h in self.machine.harts:
            h.__dict__.pop("_fill", None)
            h.flush_tlb()

    def resume(self, step_hart=None, held=()) -> None:
        """Run (or step hart `step_hart` one instruction) with the harts in
        `held` kept stopped (vCont threads without an action); the stop is
        reported through on_stop."""
        if step_hart is not None:
            self._step_hart = step_hart
            self._step_ran = False
            self._changed()
        if held:
            self.runner.run_on_vcpu(lambda: self._hold(held))
        self.machine.runstate.vm_start()

    @staticmethod
    def _idle_slice(max_tbs, events, before) -> None:
        """A held hart's turn in the runner's round robin: nothing runs."""

    def _hold(self, harts) -> None:
        for h in harts:
            h.run_observed = self._idle_slice
        self._held = list(harts)

    def _release(self) -> None:
        for h in getattr(self, "_held", ()):
            h.__dict__.pop("run_observed", None)
        self._held = []

    def interrupt(self) -> bool:
        """GDB's ^C: stop a running machine (state paused, as QEMU). False if
        it was not running."""
        rs = self.machine.runstate
        if rs.state is not RunState.RUNNING:
            return False
        rs.vm_stop(RunState.PAUSED)
        self.runner.run_on_vcpu(self._release)
        if self._step_hart is not None:
            self._step_hart = None
            self._changed()
        return True
