"""The run-state machine: the one place the vCPUs are started and stopped.

States and the transitions allowed between them follow QEMU's RunState
(qapi/run-state.json); `vm_start`/`vm_stop` move the machine and emit the
STOP/RESUME events, and shutdown/reset requests are turned into SHUTDOWN and
RESET events with QEMU's `reason` values (ShutdownCause). Listeners (devices,
the block layer, the monitor) register change notifiers.
"""

from __future__ import annotations

import enum
import threading
from typing import Callable


class RunState(enum.Enum):
    """qapi/run-state.json RunState (names as QMP spells them)."""
    DEBUG = "debug"
    INMIGRATE = "inmigrate"
    INTERNAL_ERROR = "internal-error"
    IO_ERROR = "io-error"
    PAUSED = "paused"
    POSTMIGRATE = "postmigrate"
    PRELAUNCH = "prelaunch"
    FINISH_MIGRATE = "finish-migrate"
    RESTORE_VM = "restore-vm"
    RUNNING = "running"
    SAVE_VM = "save-vm"
    SHUTDOWN = "shutdown"
    SUSPENDED = "suspended"
    WATCHDOG = "watchdog"
    GUEST_PANICKED = "guest-panicked"
    COLO = "colo"


class ShutdownCause(enum.Enum):
    """qapi/run-state.json ShutdownCause: the `reason` of SHUTDOWN and RESET."""
    NONE = "none"
    HOST_ERROR = "host-error"
    HOST_QMP_QUIT = "host-qmp-quit"
    HOST_QMP_SYSTEM_RESET = "host-qmp-system-reset"
    HOST_SIGNAL = "host-signal"
    HOST_UI = "host-ui"
    GUEST_SHUTDOWN = "guest-shutdown"
    GUEST_RESET = "guest-reset"
    GUEST_PANIC = "guest-panic"
    SUBSYSTEM_RESET = "subsystem-reset"

    @property
    def guest(self) -> bool:
        return self in (ShutdownCause.GUEST_SHUTDOWN, ShutdownCause.GUEST_RESET,
                        ShutdownCause.GUEST_PANIC)


_S = RunState
# From QEMU's runstate transition table (softmmu/runstate.c's list of
# allowed pairs, as documented behaviour): the states a state may move to.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    _S.PRELAUNCH: frozenset({_S.INMIGRATE, _S.RUNNING, _S.FINISH_MIGRATE, _S.PAUSED,
                             _S.SHUTDOWN, _S.DEBUG}),
    _S.DEBUG: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.INMIGRATE: frozenset({_S.INTERNAL_ERROR, _S.IO_ERROR, _S.PAUSED, _S.RUNNING,
                             _S.SHUTDOWN, _S.SUSPENDED, _S.WATCHDOG, _S.GUEST_PANICKED,
                             _S.PRELAUNCH, _S.FINISH_MIGRATE, _S.POSTMIGRATE, _S.COLO}),
    _S.INTERNAL_ERROR: frozenset({_S.PAUSED, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.IO_ERROR: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.POSTMIGRATE, _S.PRELAUNCH,
                          _S.COLO, _S.SHUTDOWN}),
    _S.POSTMIGRATE: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.FINISH_MIGRATE: frozenset({_S.RUNNING, _S.PAUSED, _S.POSTMIGRATE, _S.PRELAUNCH,
                                  _S.COLO, _S.SHUTDOWN}),
    _S.RESTORE_VM: frozenset({_S.RUNNING, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.COLO: frozenset({_S.RUNNING, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.RUNNING: frozenset({_S.DEBUG, _S.INTERNAL_ERROR, _S.IO_ERROR, _S.PAUSED,
                           _S.FINISH_MIGRATE, _S.RESTORE_VM, _S.SAVE_VM, _S.SHUTDOWN,
                           _S.WATCHDOG, _S.GUEST_PANICKED, _S.COLO, _S.SUSPENDED}),
    _S.SAVE_VM: frozenset({_S.RUNNING, _S.PRELAUNCH, _S.SHUTDOWN}),
    _S.SHUTDOWN: frozenset({_S.PAUSED, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.COLO,
                            _S.SHUTDOWN}),
    _S.SUSPENDED: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.COLO,
                             _S.SHUTDOWN}),
    _S.WATCHDOG: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.COLO,
                            _S.SHUTDOWN}),
    _S.GUEST_PANICKED: frozenset({_S.RUNNING, _S.FINISH_MIGRATE, _S.PRELAUNCH, _S.SHUTDOWN}),
}

# States from which `cont` is refused, with QMP's message (qmp_cont).
NEEDS_RESET = (RunState.INTERNAL_ERROR, RunState.SHUTDOWN, RunState.GUEST_PANICKED)


class RunStateError(Exception):
    pass


EventSink = Callable[[str, dict | None], None]
Notifier = Callable[[bool, RunState], None]


class RunStateMachine:
    """Owns the run state and drives the vCPU runner.

    `vcpus` needs `pause()` (returns once no hart runs), `resume()`; `emit` sends
    a QMP event. Methods may be called from any thread; one lock orders them.
    """

    def __init__(self, vcpus, emit: EventSink | None = None):
        self.state = RunState.PRELAUNCH
        self._vcpus = vcpus
        self._emit = emit or (lambda name, data: None)
        self._lock = threading.RLock()
        self._notifiers: list[Notifier] = []
        self.shutdown_cause: ShutdownCause | None = None

    def set_emitter(self, emit: EventSink) -> None:
        self._emit = emit

    def add_notifier(self, fn: Notifier) -> None:
        """`fn(running, state)` after every change of state."""
        self._notifiers.append(fn)

    @property
    def running(self) -> bool:
        return self.state is RunState.RUNNING

    def _set(self, new: RunState) -> None:
        if new is not self.state and new not in TRANSITIONS[self.state]:
            raise RunStateError(f"invalid runstate transition: '{self.state.value}' -> "
                                f"'{new.value}'")
        self.state = new
        for fn in list(self._notifiers):
            fn(new is RunState.RUNNING, new)

    def set_state(self, new: RunState) -> None:
        """Move to `new` without touching the vCPUs (they are not running):
        the migration states inmigrate, finish-migrate, postmigrate, and
        save-vm/restore-vm around a snapshot."""
        with self._lock:
            self._set(new)

    def vm_start(self) -> None:
        """Resume (or first start) the vCPUs: RESUME event, state running."""
        with self._lock:
            if self.state is RunState.RUNNING:
                return
            self._set(RunState.RUNNING)
            self._emit("RESUME", None)
            self._vcpus.resume()

    def vm_stop(self, state: RunState = RunState.PAUSED) -> None:
        """Stop the vCPUs (returns once stopped) and enter `state`; STOP event
        when they were running."""
        # Wait for the vCPUs outside the lock: the vCPU thread may itself be
        # on its way into this machine (a guest power-off) and needs the lock.
        # As QEMU's vm_stop: a machine that is not running stays as it is
        # (`stop` in prelaunch leaves prelaunch).
        if self.state is not RunState.RUNNING:
            return
        self._vcpus.pause()
        with self._lock:
            if self.state is not RunState.RUNNING:
                return
            self._set(state)
            self._emit("STOP", None)

    def shutdown(self, cause: ShutdownCause, stay: bool = False) -> None:
        """A power-off or quit: SHUTDOWN event, then the vCPUs stop in state
        shutdown. With `stay` (-no-shutdown) that is a STOP like any other;
        otherwise the process is about to exit and QEMU sends no STOP."""
        with self._lock:
            self.shutdown_cause = cause
            self._emit("SHUTDOWN", {"guest": cause.guest, "reason": cause.value})
        if stay:
            self.vm_stop(RunState.SHUTDOWN)
        else:
            self._vcpus.pause()
            with self._lock:
                self._set(RunState.SHUTDOWN)

    def reset_event(self, cause: ShutdownCause) -> None:
        self._emit("RESET", {"guest": cause.guest, "reason": cause.value})

    def after_reset(self) -> None:
        """After a reset a machine that was not running is in prelaunch, as in
        QEMU (so a shut down machine may `cont` again)."""
        with self._lock:
            if self.state not in (RunState.RUNNING, RunState.INMIGRATE,
                                  RunState.FINISH_MIGRATE):
                self._set(RunState.PRELAUNCH)
