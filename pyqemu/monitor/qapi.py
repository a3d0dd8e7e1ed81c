"""pyqemu's QMP schema: the commands and events it implements, with the
names, arguments and return types of QEMU's qapi/*.json (QEMU 7.2)."""

from __future__ import annotations

from ..system.runstate import RunState, ShutdownCause
from .schema import Schema

SCHEMA = Schema()
S = SCHEMA

# -- types ---------------------------------------------------------------------------
S.enum("QMPCapability", ["oob"])                                      # control.json
S.struct("VersionTriple", {"major": "int", "minor": "int", "micro": "int"})
S.struct("VersionInfo", {"qemu": "VersionTriple", "package": "str"})
S.struct("CommandInfo", {"name": "str"})
S.enum("SchemaMetaType", ["builtin", "enum", "array", "object", "alternate", "command",
                          "event"])
S.struct("SchemaInfo", {"name": "str", "meta-type": "SchemaMetaType"}, open=True)
S.enum("RunState", [s.value for s in RunState])                       # run-state.json
S.enum("ShutdownCause", [c.value for c in ShutdownCause])
S.struct("StatusInfo", {"running": "bool", "singlestep": "bool", "status": "RunState"})
S.struct("NameInfo", {"*name": "str"})                                # misc.json
S.struct("UuidInfo", {"UUID": "str"})                                 # machine.json
S.enum("SysEmuTarget", ["riscv32", "riscv64"])
S.struct("TargetInfo", {"arch": "SysEmuTarget"})
S.struct("MachineInfo", {"name": "str", "*alias": "str", "*is-default": "bool",
                         "cpu-max": "int", "hotpluggable-cpus": "bool",
                         "numa-mem-supported": "bool", "deprecated": "bool",
                         "*default-cpu-type": "str", "*default-ram-id": "str"})
S.struct("CpuInfoFast", {"cpu-index": "int", "qom-path": "str", "thread-id": "int",
                         "target": "SysEmuTarget"})
S.struct("KvmInfo", {"enabled": "bool", "present": "bool"})
S.struct("ChardevInfo", {"label": "str", "filename": "str", "frontend-open": "bool"})
S.struct("BlockInfo", {"device": "str", "*qdev": "str", "type": "str", "removable": "bool",
                       "locked": "bool", "*inserted": "any"}, open=True)       # block-core.json
S.struct("BlockStats", {"*device": "str", "*node-name": "str", "stats": "any"}, open=True)
S.struct("BlockDeviceInfo", {"file": "str", "*node-name": "str", "ro": "bool", "drv": "str",
                             "image": "any"}, open=True)
S.struct("BlockdevOptions", {"driver": "str", "*node-name": "str"}, open=True)
S.enum("IoOperationType", ["read", "write"])
S.enum("BlockErrorAction", ["ignore", "report", "stop"])
S.struct("ObjectPropertyInfo", {"name": "str", "type": "str", "*description": "str",
                                "*default-value": "any"})                # qom.json

# -- commands ------------------------------------------------------------------------
S.command("qmp_capabilities", {"*enable": "[QMPCapability]"}, allow_oob=True)
S.command("query-version", returns="VersionInfo")
S.command("query-commands", returns="[CommandInfo]")
S.command("query-qmp-schema", returns="[SchemaInfo]")
S.command("query-status", returns="StatusInfo")
S.command("query-name", returns="NameInfo")
S.command("query-uuid", returns="UuidInfo")
S.command("query-target", returns="TargetInfo")
S.command("query-machines", returns="[MachineInfo]")
S.command("query-cpus-fast", returns="[CpuInfoFast]")
S.command("query-kvm", returns="KvmInfo")
S.command("query-chardev", returns="[ChardevInfo]")
S.command("query-block", returns="[BlockInfo]")
S.command("query-blockstats", {"*query-nodes": "bool"}, returns="[BlockStats]")
S.command("query-named-block-nodes", {"*flat": "bool"}, returns="[BlockDeviceInfo]")
S.command("blockdev-add", boxed="BlockdevOptions")
S.command("blockdev-del", {"node-name": "str"})
S.command("block_resize", {"*device": "str", "*node-name": "str", "size": "int"})
S.command("stop")
S.command("cont")
S.command("system_reset")
S.command("system_powerdown")
S.command("quit")
S.command("human-monitor-command", {"command-line": "str", "*cpu-index": "int"}, returns="str")
S.command("memsave", {"val": "int", "size": "int", "filename": "str", "*cpu-index": "int"})
S.command("pmemsave", {"val": "int", "size": "int", "filename": "str"})
S.command("qom-list", {"path": "str"}, returns="[ObjectPropertyInfo]")
S.command("qom-get", {"path": "str", "property": "str"}, returns="any")
S.command("inject-nmi")
S.enum("DataFormat", ["utf8", "base64"])                              # char.json
S.command("ringbuf-write", {"device": "str", "data": "str", "*format": "DataFormat"})
S.command("ringbuf-read", {"device": "str", "size": "int", "*format": "DataFormat"},
          returns="str")

# -- events --------------------------------------------------------------------------
S.event("SHUTDOWN", {"guest": "bool", "reason": "ShutdownCause"})
S.event("POWERDOWN")
S.event("RESET", {"guest": "bool", "reason": "ShutdownCause"})
S.event("STOP")
S.event("RESUME")
S.event("BLOCK_IO_ERROR", {"device": "str", "*node-name": "str", "operation": "IoOperationType",
                           "action": "BlockErrorAction", "*nospace": "bool", "reason": "str"})

# -- migration and snapshots (monitor/migration.py) ---------------------------------
from .migration import declare as _declare_migration  # noqa: E402
_declare_migration(S)
