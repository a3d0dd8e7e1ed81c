"""Live migration of a machine: the source's pre-copy and hand-over, the
destination's load, their figures (query-migrate) and events.

The hand-over of disk images (docs/migration.md):
 1. the destination opens its images inactive (no write permission, no
    write lock) and waits in run state inmigrate;
 2. the source, when the rest of RAM fits the downtime limit, stops the
    vCPUs (finish-migrate), sends the rest and the device state, flushes
    and inactivates every image, and ends the stream;
 3. the destination loads it, activates its images (re-reading their
    metadata, taking the write lock) and says so on the return path; only
    then is the source's migration completed (postmigrate, images
    inactive). Any failure before that answer re-activates the source's
    images and lets the source run on.
"""

from __future__ import annotations

import enum
import os
import sys
import threading
import time
from dataclasses import dataclass

from ..system.runstate import RunState
from .channels import Channel, ChannelError, Listener, connect
from .ram import RamSender
from .state import block_backends, load_stream, ram_blocks, save_devices
from .stream import StreamError, StreamReader, StreamWriter

ANSWER_OK = b"PYQM-OK"
ANSWER_ERR = b"PYQM-ERR "
ANSWER_TIMEOUT = 30.0
MAX_PASSES = 30
MIGRATION_SWITCH_INTERVAL = 0.0005


class MigrationStatus(enum.Enum):
    """qapi/migration.json MigrationStatus (the values pyqemu reaches)."""
    NONE = "none"
    SETUP = "setup"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    DEVICE = "device"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass
class MigrationParameters:
    """qapi/migration.json MigrationParameters, QEMU's defaults."""
    max_bandwidth: int = 128 << 20          # bytes per second
    downtime_limit: int = 300               # milliseconds

    def as_qmp(self) -> dict:
        return {"max-bandwidth": self.max_bandwidth, "downtime-limit": self.downtime_limit}


class MigrationError(Exception):
    """Why a migration failed (one line)."""


class _Cancelled(Exception):
    pass


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class Migration:
    """The migration state of one machine (one per process, as QEMU's)."""

    def __init__(self, machine, emit=None):
        self.machine = machine
        self.emit = emit or (lambda name, data: None)
        self.params = MigrationParameters()
        self.capabilities = {"events": False, "late-block-activate": False}
        self.status = MigrationStatus.NONE
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._channel: Channel | None = None
        self._reset_figures()
        self.incoming_listener: Listener | None = None
        self.autostart = True

    # -- figures -------------------------------------------------------------------
    def _reset_figures(self) -> None:
        self.start_ms = self.end_ms = 0
        self.setup_ms = 0
        self.downtime_ms = None
        self.expected_downtime_ms = None
        self.transferred = 0
        self.duplicate = 0
        self.normal = 0
        self.remaining = 0
        self.dirty_sync_count = 0
        self.dirty_pages_rate = 0
        self.mbps = 0.0
        self.passes = 0

    def _set_status(self, status: MigrationStatus) -> None:
        self.status = status
        if self.capabilities.get("events"):
            self.emit("MIGRATION", {"status": status.value})

    def query(self) -> dict:
        """query-migrate's MigrationInfo."""
        if self.status is MigrationStatus.NONE:
            return {}
        info: dict = {"status": self.status.value}
        if self.status in (MigrationStatus.SETUP,):
            return info
        done = self.status in (MigrationStatus.COMPLETED, MigrationStatus.FAILED,
                               MigrationStatus.CANCELLED)
        end = self.end_ms if done and self.end_ms else _now_ms()
        if self.start_ms:
            info["total-time"] = end - self.start_ms
            info["setup-time"] = self.setup_ms
        if self.downtime_ms is not None:
            info["downtime"] = self.downtime_ms
        elif self.expected_downtime_ms is not None:
            info["expected-downtime"] = self.expected_downtime_ms
        total = sum(r.size for _, r in ram_blocks(self.machine))
        info["ram"] = {
            "transferred": self.transferred, "remaining": self.remaining, "total": total,
            "duplicate": self.duplicate, "skipped": 0, "normal": self.normal,
            "normal-bytes": self.normal * 4096, "dirty-sync-count": self.dirty_sync_count,
            "page-size": 4096, "dirty-pages-rate": self.dirty_pages_rate,
            "mbps": round(self.mbps, 3), "postcopy-requests": 0, "multifd-bytes": 0,
            "pages-per-second": 0, "precopy-bytes": self.transferred,
            "downtime-bytes": 0, "postcopy-bytes": 0, "dirty-sync-missed-zero-copy": 0,
        }
        if self.status is MigrationStatus.FAILED and self.error:
            info["error-desc"] = self.error
        return info

    @property
    def busy(self) -> bool:
        return self.status in (MigrationStatus.SETUP, MigrationStatus.ACTIVE,
                               MigrationStatus.DEVICE, MigrationStatus.CANCELLING)

    # -- outgoing -----------------------------------------------------------------
    def start(self, uri: str) -> None:
        """`migrate`: checks the URI at once, runs in its own thread."""
        if self.busy:
            raise MigrationError("There's a migration process in progress")
        rs = self.machine.runstate.state
        if rs is RunState.INMIGRATE:
            raise MigrationError("Guest is waiting for an incoming migration")
        if rs is RunState.POSTMIGRATE:
            raise MigrationError("the machine has already migrated; its images belong to "
                                 "the destination")
        try:
            from .channels import _split
            _split(uri)
        except ChannelError as e:
            raise MigrationError(str(e)) from None
        self._reset_figures()
        self.error = None
        self._cancel.clear()
        self._set_status(MigrationStatus.SETUP)
        self._thread = threading.Thread(target=self._outgoing, args=(uri,), name="migration",
                                        daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """`migrate_cancel`: the source continues as before."""
        if not self.busy:
            return
        self._cancel.set()
        self._set_status(MigrationStatus.CANCELLING)
        ch = self._channel
        if ch is not None:
            ch.shutdown()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled()

    def _throttle(self, start: float):
        bw = self.params.max_bandwidth

        def throttle(sent: int) -> None:
            if bw <= 0:
                return
            due = start + sent / bw
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 1.0))
            self._check_cancel()
        return throttle

    def _outgoing(self, uri: str) -> None:
        # The vCPU thread holds the interpreter lock between switch
        # intervals; every system call of this thread gives it back and waits
        # up to one interval to retake it. Shorter intervals while migrating.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(MIGRATION_SWITCH_INTERVAL)
        try:
            self._outgoing_locked(uri)
        finally:
            sys.setswitchinterval(interval)

    def _outgoing_locked(self, uri: str) -> None:
        m = self.machine
        rs = m.runstate
        stopped = False
        sender = None
        inactivated: list = []
        was_running = rs.running
        self.start_ms = _now_ms()
        try:
            try:
                ch = connect(uri)
            except (OSError, ChannelError) as e:
                raise MigrationError(f"Failed to connect to '{uri}': "
                                     f"{getattr(e, 'strerror', None) or e}") from None
            self._channel = ch
            w = StreamWriter(ch.write)
            w.header()
            blocks = ram_blocks(m)
            w.ram_setup([(n, r.size) for n, r in blocks])
            # A board with its own dirty tracking (KVM's dirty log) sends the
            # passes itself; the default compares contents.
            sender = getattr(m, "ram_sender", RamSender)(blocks)
            self.setup_ms = _now_ms() - self.start_ms
            self._check_cancel()
            limit_s = self.params.downtime_limit / 1000
            # Pre-copy passes while the guest runs. Events in QEMU's order
            # (FACTS.md): setup, MIGRATION_PASS 1, active, ..., STOP, the
            # last pass, completed.
            while True:
                self.passes += 1
                if self.capabilities.get("events"):
                    self.emit("MIGRATION_PASS", {"pass": self.passes})
                if self.passes == 1:
                    self._set_status(MigrationStatus.ACTIVE)
                res = sender.send_pass(w, self._throttle(time.monotonic()), self._check_cancel)
                self._account(res, w)
                bw = self._bandwidth(res)
                if self.passes == 1 and res.pages and rs.running:
                    continue          # the first pass sends everything; measure what it dirtied
                self.expected_downtime_ms = int(1000 * self.remaining / bw) if bw else 0
                if (not rs.running or self.remaining / bw <= limit_s
                        or self.passes >= MAX_PASSES):
                    break
            # Stop, send the rest and the devices, hand the images over.
            t_stop = time.monotonic()
            if was_running and rs.running:
                rs.vm_stop(RunState.FINISH_MIGRATE)
            else:
                rs.set_state(RunState.FINISH_MIGRATE)
            stopped = True
            self.passes += 1
            if self.capabilities.get("events"):
                self.emit("MIGRATION_PASS", {"pass": self.passes})
            m.migration_runstate = "running" if was_running else "paused"

            def last_pass_and_devices():
                # On the vCPU thread, in one go: work posted by other threads
                # (host input a device writes into guest RAM) cannot slip in
                # between the last RAM pass and the device state.
                result = sender.send_pass(w, None, self._check_cancel)
                save_devices(w, m)
                return result

            res = m.runner.run_on_vcpu(last_pass_and_devices)
            self._account(res, w)
            self.remaining = 0
            for backend in block_backends(m):
                backend.flush()
                backend.inactivate()
                inactivated.append(backend)
            w.eof()
            self.transferred = w.bytes_sent
            if ch.has_return_path:
                try:
                    answer = ch.read_line(ANSWER_TIMEOUT)
                except OSError as e:
                    raise MigrationError(f"no answer from the destination: {e}") from None
                if not answer.startswith(ANSWER_OK):
                    why = answer[len(ANSWER_ERR):].decode(errors="replace") if \
                        answer.startswith(ANSWER_ERR) else "the destination closed the connection"
                    raise MigrationError(f"the destination failed to load the state: {why}")
            self.downtime_ms = int((time.monotonic() - t_stop) * 1000)
            self.end_ms = _now_ms()
            ch.close()
            rs.set_state(RunState.POSTMIGRATE)
            self._set_status(MigrationStatus.COMPLETED)
        except _Cancelled:
            self._recover(stopped, inactivated, was_running)
            self.end_ms = _now_ms()
            self._set_status(MigrationStatus.CANCELLED)
        except (OSError, MigrationError, StreamError) as e:
            if self._cancel.is_set():
                self._recover(stopped, inactivated, was_running)
                self.end_ms = _now_ms()
                self._set_status(MigrationStatus.CANCELLED)
                return
            self.error = str(e) if isinstance(e, (MigrationError, StreamError)) else \
                (self._peer_error() or f"migration stream failed: {e.strerror or e}")
            self._recover(stopped, inactivated, was_running)
            self.end_ms = _now_ms()
            self._set_status(MigrationStatus.FAILED)
        finally:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
            if sender is not None and hasattr(sender, "close"):
                sender.close()

    def _peer_error(self) -> str | None:
        """The destination's reason, when it refused the stream and closed
        (the source then sees only a broken pipe)."""
        ch = self._channel
        if ch is None or not ch.has_return_path:
            return None
        try:
            answer = ch.read_line(1.0)
        except OSError:
            return None
        if answer.startswith(ANSWER_ERR):
            why = answer[len(ANSWER_ERR):].decode(errors="replace")
            return f"the destination failed to load the state: {why}"
        return None

    def _recover(self, stopped: bool, inactivated: list, was_running: bool) -> None:
        """The source keeps the machine: images active again, vCPUs as before."""
        for backend in inactivated:
            try:
                backend.activate()
            except Exception as e:       # reported; the others still come back
                sys.stderr.write(f"re-activating {backend.filename}: {e}\n")
        if stopped:
            rs = self.machine.runstate
            if was_running:
                rs.vm_start()
            else:
                rs.set_state(RunState.PAUSED)

    def _account(self, res, w: StreamWriter) -> None:
        self.dirty_sync_count += 1
        self.duplicate += res.duplicate
        self.normal += res.normal
        self.transferred = w.bytes_sent
        self.remaining = res.pages * 4096
        if res.seconds > 0:
            self.dirty_pages_rate = int(res.pages / res.seconds)
        elapsed = max(1e-3, (_now_ms() - self.start_ms) / 1000)
        self.mbps = self.transferred * 8 / 1e6 / elapsed

    def _bandwidth(self, res) -> float:
        """Bytes per second: measured on the pass, bounded by max-bandwidth."""
        measured = res.bytes_sent / res.seconds if res.seconds > 0 and res.bytes_sent else 0
        cap = self.params.max_bandwidth or float("inf")
        return min(measured, cap) if measured else cap

    # -- incoming -----------------------------------------------------------------
    def listen(self, uri: str) -> Listener:
        """Bind the incoming URI (-incoming or migrate-incoming)."""
        if self.incoming_listener is not None:
            raise MigrationError("The incoming migration has already been started")
        try:
            self.incoming_listener = Listener(uri)
        except ChannelError as e:
            raise MigrationError(str(e)) from None
        threading.Thread(target=self._incoming, name="migration-incoming", daemon=True).start()
        return self.incoming_listener

    def _incoming(self) -> None:
        m = self.machine
        ch = None
        try:
            ch = self.incoming_listener.accept()
            self.start_ms = _now_ms()
            self._set_status(MigrationStatus.ACTIVE)
            reader = StreamReader(ch.read_exactly)
            load_stream(reader, m)
            self.transferred = reader.bytes_received
            # With -S and late-block-activate the images stay inactive until
            # `cont` (both sides inactive: hand-over step 2 can be seen).
            if (self.autostart and getattr(m, "migration_runstate", "running") == "running") \
                    or not self.capabilities.get("late-block-activate"):
                for backend in block_backends(m):
                    backend.activate()
            if ch.has_return_path:
                ch.write(ANSWER_OK + b"\n")
            self.end_ms = _now_ms()
            source_ran = getattr(m, "migration_runstate", "running") == "running"
            if self.autostart and source_ran:
                m.runstate.vm_start()
            else:
                m.runstate.set_state(RunState.PAUSED)
            self._set_status(MigrationStatus.COMPLETED)
        except (OSError, StreamError, MigrationError, Exception) as e:
            why = str(e) if not isinstance(e, OSError) else (e.strerror or str(e))
            self.error = why
            if ch is not None and ch.has_return_path:
                try:
                    ch.write(ANSWER_ERR + why.encode()[:500] + b"\n")
                except OSError:
                    pass
            self._set_status(MigrationStatus.FAILED)
            # As QEMU: the destination cannot run a half-loaded machine.
            prog = os.path.basename(sys.argv[0]) or "pyqemu-system-riscv64"
            sys.stderr.write(f"{prog}: load of migration failed: {why}\n")
            sys.stderr.flush()
            m.quit(1)
        finally:
            if ch is not None:
                ch.close()


def migration_of(machine, emit=None) -> Migration:
    """The machine's one Migration (created on first use)."""
    mig = getattr(machine, "migration", None)
    if mig is None:
        mig = Migration(machine, emit)
        machine.migration = mig
    elif emit is not None:
        mig.emit = emit
    return mig
