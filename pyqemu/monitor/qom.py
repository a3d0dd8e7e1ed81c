"""A read-only view of the machine as QOM paths, for qom-list/qom-get and
`info qtree`: /machine (the board), /machine/soc0/harts[N], /machine/<device>.
Property and type names follow QEMU's riscv virt where they exist."""

from __future__ import annotations


class QOMError(Exception):
    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


_DEVICE_TYPES = {"test": "riscv.sifive.test", "rtc": "goldfish_rtc", "clint": "riscv.aclint.swi",
                 "plic": "riscv.sifive.plic", "uart": "serial-mm"}


def device_list(machine) -> list[tuple[str, int, int]]:
    """(type, base, size) of each memory-mapped device."""
    out = []
    for mp in machine.bus.mappings:
        region = mp.region
        if hasattr(region, "device"):
            out.append((region.name, mp.base, mp.end - mp.base))
    return out


def _objects(machine) -> dict[str, dict[str, tuple[str, object]]]:
    """path -> {property: (type, value)}; child<...> values are paths."""
    cfg = machine.cfg
    xlen = cfg.xlen
    objs: dict[str, dict[str, tuple[str, object]]] = {}
    objs["/"] = {"type": ("string", "container"), "machine": ("child<virt-machine>", "/machine")}
    m = {"type": ("string", "virt-machine"),
         "soc0": ("child<riscv.hart_array>", "/machine/soc0")}
    if cfg.name is not None:
        m["name"] = ("string", cfg.name)
    objs["/machine"] = m
    soc = {"type": ("string", "riscv.hart_array"), "num-harts": ("uint32", cfg.smp)}
    for h in machine.harts:
        path = f"/machine/soc0/harts[{h.hart_id}]"
        soc[f"harts[{h.hart_id}]"] = (f"child<rv{xlen}-riscv-cpu>", path)
        objs[path] = {"type": ("string", f"rv{xlen}-riscv-cpu"), "hartid": ("uint32", h.hart_id),
                      "pc": ("uint64", None)}
    objs["/machine/soc0"] = soc
    for name, base, size in device_list(machine):
        path = f"/machine/{name}"
        m[name] = (f"child<{name}>", path)
        objs[path] = {"type": ("string", name), "mmio-base": ("uint64", base),
                      "mmio-size": ("uint64", size)}
    m["ram-size"] = ("size", cfg.ram_size)
    return objs


def _find(machine, path: str):
    objs = _objects(machine)
    if path not in objs:
        raise QOMError("DeviceNotFound", f"Device '{path}' not found")
    return objs[path]


def qom_list(machine, path: str) -> list[dict]:
    return [{"name": k, "type": t} for k, (t, _) in _find(machine, path).items()]


def qom_get(machine, path: str, prop: str):
    props = _find(machine, path)
    if prop not in props:
        raise QOMError("GenericError", f"Property '{prop}' not found")
    t, value = props[prop]
    if prop == "pc" and path.startswith("/machine/soc0/harts["):
        index = int(path[len("/machine/soc0/harts["):-1])
        return machine.harts[index].pc
    if t.startswith("child<"):
        return value
    return value
