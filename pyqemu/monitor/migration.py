"""The monitor's migration and snapshot commands (QMP and HMP), on top of
pyqemu/migration. QMP names, arguments and messages follow
qapi/migration.json and qapi/job.json (QEMU 7.2)."""

from __future__ import annotations

import asyncio

from ..migration.migration import MigrationError, migration_of
from ..migration.savevm import (SnapshotError, delete_snapshot, format_info_snapshots,
                                load_snapshot, save_snapshot)
from ..migration.state import block_backends
from ..system.runstate import RunState
from .errors import QMPError


def declare(S) -> None:
    """Types, commands and events of this module in the QMP schema."""
    S.struct("MigrationInfo", {"*status": "str", "*total-time": "int", "*setup-time": "int",
                               "*downtime": "int", "*expected-downtime": "int", "*ram": "any",
                               "*error-desc": "str"}, open=True)
    S.struct("MigrationParameters", {"*max-bandwidth": "size", "*downtime-limit": "uint64"})
    S.struct("MigrateSetParameters", {"*max-bandwidth": "size", "*downtime-limit": "uint64"},
             open=True)
    S.enum("MigrationCapability", ["events", "late-block-activate"])
    S.struct("MigrationCapabilityStatus", {"capability": "MigrationCapability", "state": "bool"})
    S.struct("JobInfo", {"id": "str", "type": "str", "status": "str", "current-progress": "int",
                         "total-progress": "int", "*error": "str"})
    S.command("migrate", {"uri": "str", "*blk": "bool", "*inc": "bool", "*detach": "bool",
                          "*resume": "bool"})
    S.command("migrate-incoming", {"uri": "str"})
    S.command("migrate_cancel")
    S.command("query-migrate", returns="MigrationInfo")
    S.command("migrate-set-parameters", boxed="MigrateSetParameters")
    S.command("query-migrate-parameters", returns="MigrationParameters")
    S.command("migrate-set-capabilities", {"capabilities": "[MigrationCapabilityStatus]"})
    S.command("query-migrate-capabilities", returns="[MigrationCapabilityStatus]")
    S.command("snapshot-save", {"job-id": "str", "tag": "str", "vmstate": "str",
                                "devices": "[str]"})
    S.command("snapshot-load", {"job-id": "str", "tag": "str", "vmstate": "str",
                                "devices": "[str]"})
    S.command("snapshot-delete", {"job-id": "str", "tag": "str", "devices": "[str]"})
    S.command("query-jobs", returns="[JobInfo]")
    S.command("job-dismiss", {"id": "str"})
    S.event("MIGRATION", {"status": "str"})
    S.event("MIGRATION_PASS", {"pass": "int"})
    S.event("JOB_STATUS_CHANGE", {"id": "str", "status": "str"})


class MigrationCommands:
    """Mixed into the Dispatcher: `self.machine`, `self.hub`, `self.blocking`."""

    def _migration(self):
        return migration_of(self.machine, self.hub.emit)

    async def qmp_migrate(self, uri, blk=False, inc=False, detach=True, resume=False):
        if blk or inc:
            raise QMPError("GenericError", "block migration is not supported: put the images "
                                           "on shared storage")
        if resume:
            raise QMPError("GenericError", "postcopy is not supported")
        try:
            self._migration().start(uri)
        except MigrationError as e:
            raise QMPError("GenericError", str(e)) from None
        return {}

    async def qmp_migrate_incoming(self, uri):
        mig = self._migration()
        if self.machine.runstate.state is not RunState.INMIGRATE:
            raise QMPError("GenericError", "'-incoming' was not specified on the command line")
        try:
            mig.listen(uri)
        except MigrationError as e:
            raise QMPError("GenericError", str(e)) from None
        return {}

    async def qmp_migrate_cancel(self):
        self._migration().cancel()
        return {}

    async def qmp_query_migrate(self):
        return self._migration().query()

    async def qmp_migrate_set_parameters(self, **params):
        mig = self._migration()
        params = {k.replace("_", "-"): v for k, v in params.items()}
        for key in params:
            if key not in ("max-bandwidth", "downtime-limit"):
                raise QMPError("GenericError", f"Parameter '{key}' is unexpected")
        if "downtime-limit" in params:
            v = params["downtime-limit"]
            if not isinstance(v, int) or not 0 <= v <= 2000000:
                raise QMPError("GenericError", "Parameter 'downtime_limit' expects an integer "
                                               "in the range of 0 to 2000000 milliseconds")
            mig.params.downtime_limit = v
        if "max-bandwidth" in params:
            v = params["max-bandwidth"]
            if not isinstance(v, int) or v < 0:
                raise QMPError("GenericError", "Parameter 'max_bandwidth' expects an integer "
                                               "in the range of 0 to 18446744073709551615 bytes/second")
            mig.params.max_bandwidth = v
        return {}

    async def qmp_query_migrate_parameters(self):
        return self._migration().params.as_qmp()

    async def qmp_migrate_set_capabilities(self, capabilities):
        mig = self._migration()
        if mig.busy:
            raise QMPError("GenericError", "There's a migration process in progress")
        for cap in capabilities:
            mig.capabilities[cap["capability"]] = bool(cap["state"])
        return {}

    async def qmp_query_migrate_capabilities(self):
        return [{"capability": k, "state": v} for k, v in self._migration().capabilities.items()]

    # -- snapshot jobs (qapi/job.json life cycle, concluded at once) -------------------
    def _jobs(self) -> dict:
        if not hasattr(self, "_job_table"):
            self._job_table = {}
        return self._job_table

    def _check_devices(self, devices) -> None:
        names = {b.filename for b in block_backends(self.machine)}
        names |= {getattr(b.root, "node_name", "") for b in block_backends(self.machine)}
        for dev in devices:
            if dev not in names:
                raise QMPError("GenericError", f"No block device node '{dev}'")

    async def _snapshot_job(self, job_id, kind, fn):
        jobs = self._jobs()
        if job_id in jobs:
            raise QMPError("GenericError", f"Job ID '{job_id}' already in use")
        job = {"id": job_id, "type": kind, "status": "created", "current-progress": 0,
               "total-progress": 1}
        jobs[job_id] = job

        def status(s):
            job["status"] = s
            self.hub.emit("JOB_STATUS_CHANGE", {"id": job_id, "status": s})

        async def run():
            status("created")
            status("running")
            try:
                await self.blocking(fn)
            except SnapshotError as e:
                job["error"] = str(e)
            job["current-progress"] = 1
            status("waiting")
            status("pending")
            status("concluded")

        asyncio.get_running_loop().create_task(run())
        return {}

    async def qmp_snapshot_save(self, job_id, tag, vmstate, devices):
        self._check_devices(devices + [vmstate])
        return await self._snapshot_job(job_id, "snapshot-save",
                                        lambda: save_snapshot(self.machine, tag))

    async def qmp_snapshot_load(self, job_id, tag, vmstate, devices):
        self._check_devices(devices + [vmstate])
        return await self._snapshot_job(job_id, "snapshot-load",
                                        lambda: load_snapshot(self.machine, tag))

    async def qmp_snapshot_delete(self, job_id, tag, devices):
        self._check_devices(devices)
        return await self._snapshot_job(job_id, "snapshot-delete",
                                        lambda: delete_snapshot(self.machine, tag))

    async def qmp_query_jobs(self):
        return [dict(j) for j in self._jobs().values()]

    async def qmp_job_dismiss(self, id):
        job = self._jobs().get(id)
        if job is None:
            raise QMPError("GenericError", f"Job not found: '{id}'")
        if job["status"] != "concluded":
            raise QMPError("GenericError", f"Job '{id}' in state '{job['status']}' cannot "
                                           "accept command verb 'dismiss'")
        self._jobs().pop(id)
        self.hub.emit("JOB_STATUS_CHANGE", {"id": id, "status": "null"})
        return {}

    def prepare_cont(self) -> None:
        """Before `cont`: a source whose images now belong to the destination
        must not run (it would write them behind the destination's back); a
        destination that kept its images inactive (-S with
        late-block-activate) takes them now."""
        backends = block_backends(self.machine)
        inactive = [b for b in backends if not b.active]
        if not inactive:
            return
        if self.machine.runstate.state is RunState.POSTMIGRATE:
            raise QMPError("GenericError",
                           "the migration completed and the disk images now belong to the "
                           "destination: resuming this machine would corrupt them")
        for b in inactive:
            try:
                b.activate()
            except Exception as e:      # the block layer's one-line reason
                raise QMPError("GenericError", f"Could not activate '{b.filename}': {e}") from None


class MigrationHMP:
    """Mixed into HMP: migrate, migrate_cancel, info migrate, savevm, loadvm,
    delvm, info snapshots."""

    async def migrate(self, arg: str) -> str:
        from .hmp import HMPError
        words = arg.split()
        if not words:
            raise HMPError("migrate: missing uri")
        try:
            await self.d.qmp_migrate(words[-1])
        except QMPError as e:
            return f"Error: {e.desc}\n"
        if "-d" not in words:
            mig = migration_of(self.machine)
            while mig.busy:
                await asyncio.sleep(0.05)
            if mig.status.value == "failed":
                return f"Error: {mig.error}\n"
        return ""

    async def migrate_cancel(self, arg: str) -> str:
        await self.d.qmp_migrate_cancel()
        return ""

    async def info_migrate(self) -> str:
        mig = migration_of(self.machine)
        lines = ["globals:", "store-global-state: on", "only-migratable: off",
                 "send-configuration: on", "send-section-footer: on",
                 "decompress-error-check: on", "clear-bitmap-shift: 18",
                 "capabilities: " + " ".join(f"{k}: {'on' if v else 'off'}"
                                             for k, v in mig.capabilities.items())]
        info = mig.query()
        if info:
            lines.append(f"Migration status: {info['status']}")
            if "total-time" in info:
                lines.append(f"total time: {info['total-time']} ms")
            if "expected-downtime" in info:
                lines.append(f"expected downtime: {info['expected-downtime']} ms")
            if "downtime" in info:
                lines.append(f"downtime: {info['downtime']} ms")
            if "setup-time" in info:
                lines.append(f"setup: {info['setup-time']} ms")
            ram = info.get("ram")
            if ram:
                lines += [f"transferred ram: {ram['transferred'] >> 10} kbytes",
                          f"throughput: {ram['mbps']:.2f} mbps",
                          f"remaining ram: {ram['remaining'] >> 10} kbytes",
                          f"total ram: {ram['total'] >> 10} kbytes",
                          f"duplicate: {ram['duplicate']} pages",
                          f"skipped: 0 pages",
                          f"normal: {ram['normal']} pages",
                          f"normal bytes: {ram['normal-bytes'] >> 10} kbytes",
                          f"dirty sync count: {ram['dirty-sync-count']}",
                          f"page size: 4 kbytes",
                          f"dirty pages rate: {ram['dirty-pages-rate']} pages"]
            if "error-desc" in info:
                lines.append(f"error description: {info['error-desc']}")
        return "\n".join(lines) + "\n"

    async def _snapshot(self, fn, name: str) -> str:
        try:
            await self.d.blocking(fn, self.machine, name)
        except SnapshotError as e:
            return f"Error: {e}\n"
        return ""

    async def savevm(self, arg: str) -> str:
        import time as _time
        name = arg.strip() or _time.strftime("vm-%Y%m%d%H%M%S")
        return await self._snapshot(save_snapshot, name)

    async def loadvm(self, arg: str) -> str:
        from .hmp import HMPError
        if not arg.strip():
            raise HMPError("loadvm: missing snapshot name")
        return await self._snapshot(load_snapshot, arg.strip())

    async def delvm(self, arg: str) -> str:
        from .hmp import HMPError
        if not arg.strip():
            raise HMPError("delvm: missing snapshot name")
        return await self._snapshot(delete_snapshot, arg.strip())

    async def info_snapshots(self) -> str:
        try:
            return await self.d.blocking(format_info_snapshots, self.machine)
        except SnapshotError as e:
            return f"{e}\n"

