"""The guest's CPUID: what KVM_GET_SUPPORTED_CPUID offers (`-cpu host`),
minus the features the command line hides (`-cpu host,-avx2`), with each
vCPU's APIC ID filled in (Intel SDM vol. 2A, CPUID leaves 01h and 0Bh)."""

from __future__ import annotations

from . import api

# name: (leaf, subleaf, register, bit), as /proc/cpuinfo and QEMU spell them.
FEATURES: dict[str, tuple[int, int, str, int]] = {
    # leaf 1 ECX
    "sse3": (1, 0, "ecx", 0), "pclmulqdq": (1, 0, "ecx", 1), "ssse3": (1, 0, "ecx", 9),
    "fma": (1, 0, "ecx", 12), "cx16": (1, 0, "ecx", 13), "pcid": (1, 0, "ecx", 17),
    "sse4.1": (1, 0, "ecx", 19), "sse4.2": (1, 0, "ecx", 20), "x2apic": (1, 0, "ecx", 21),
    "movbe": (1, 0, "ecx", 22), "popcnt": (1, 0, "ecx", 23), "tsc-deadline": (1, 0, "ecx", 24),
    "aes": (1, 0, "ecx", 25), "xsave": (1, 0, "ecx", 26), "avx": (1, 0, "ecx", 28),
    "f16c": (1, 0, "ecx", 29), "rdrand": (1, 0, "ecx", 30), "hypervisor": (1, 0, "ecx", 31),
    # leaf 1 EDX
    "fpu": (1, 0, "edx", 0), "vme": (1, 0, "edx", 1), "de": (1, 0, "edx", 2),
    "pse": (1, 0, "edx", 3), "tsc": (1, 0, "edx", 4), "msr": (1, 0, "edx", 5),
    "pae": (1, 0, "edx", 6), "mce": (1, 0, "edx", 7), "cx8": (1, 0, "edx", 8),
    "apic": (1, 0, "edx", 9), "sep": (1, 0, "edx", 11), "mtrr": (1, 0, "edx", 12),
    "pge": (1, 0, "edx", 13), "mca": (1, 0, "edx", 14), "cmov": (1, 0, "edx", 15),
    "pat": (1, 0, "edx", 16), "pse36": (1, 0, "edx", 17), "clflush": (1, 0, "edx", 19),
    "mmx": (1, 0, "edx", 23), "fxsr": (1, 0, "edx", 24), "sse": (1, 0, "edx", 25),
    "sse2": (1, 0, "edx", 26), "ss": (1, 0, "edx", 27), "ht": (1, 0, "edx", 28),
    # leaf 7.0 EBX/ECX/EDX
    "fsgsbase": (7, 0, "ebx", 0), "bmi1": (7, 0, "ebx", 3), "hle": (7, 0, "ebx", 4),
    "avx2": (7, 0, "ebx", 5), "smep": (7, 0, "ebx", 7), "bmi2": (7, 0, "ebx", 8),
    "erms": (7, 0, "ebx", 9), "invpcid": (7, 0, "ebx", 10), "rtm": (7, 0, "ebx", 11),
    "avx512f": (7, 0, "ebx", 16), "avx512dq": (7, 0, "ebx", 17), "rdseed": (7, 0, "ebx", 18),
    "adx": (7, 0, "ebx", 19), "smap": (7, 0, "ebx", 20), "clflushopt": (7, 0, "ebx", 23),
    "clwb": (7, 0, "ebx", 24), "avx512cd": (7, 0, "ebx", 28), "sha-ni": (7, 0, "ebx", 29),
    "avx512bw": (7, 0, "ebx", 30), "avx512vl": (7, 0, "ebx", 31),
    "umip": (7, 0, "ecx", 2), "pku": (7, 0, "ecx", 3), "vaes": (7, 0, "ecx", 9),
    "vpclmulqdq": (7, 0, "ecx", 10), "rdpid": (7, 0, "ecx", 22), "la57": (7, 0, "ecx", 16),
    "md-clear": (7, 0, "edx", 10), "spec-ctrl": (7, 0, "edx", 26), "stibp": (7, 0, "edx", 27),
    "arch-capabilities": (7, 0, "edx", 29), "ssbd": (7, 0, "edx", 31),
    # leaf 0x80000001 ECX/EDX
    "lahf-lm": (0x80000001, 0, "ecx", 0), "abm": (0x80000001, 0, "ecx", 5),
    "3dnowprefetch": (0x80000001, 0, "ecx", 8), "syscall": (0x80000001, 0, "edx", 11),
    "nx": (0x80000001, 0, "edx", 20), "pdpe1gb": (0x80000001, 0, "edx", 26),
    "rdtscp": (0x80000001, 0, "edx", 27), "lm": (0x80000001, 0, "edx", 29),
}


class CpuModelError(Exception):
    pass


def parse_cpu_option(text: str) -> tuple[str, dict[str, bool]]:
    """`host,-avx2,+x2apic,avx=off` -> ("host", {"avx2": False, ...})."""
    parts = text.split(",")
    model, changes = parts[0], {}
    if model not in ("host", "max"):
        raise CpuModelError(f"-cpu {text}: unable to find CPU model '{model}' "
                            "(with KVM: host or max)")
    for p in parts[1:]:
        if not p:
            continue
        if p[0] in "+-":
            name, on = p[1:], p[0] == "+"
        elif "=" in p:
            name, _, val = p.partition("=")
            if val not in ("on", "off", "true", "false"):
                raise CpuModelError(f"-cpu {text}: Parameter '{name}' expects 'on' or 'off'")
            on = val in ("on", "true")
        else:
            name, on = p, True
        if name not in FEATURES:
            raise CpuModelError(f"-cpu {text}: Property '{name}' not found")
        changes[name] = on
    return model, changes


def guest_cpuid(supported: list[api.CpuidEntry2], changes: dict[str, bool],
                apic_id: int, num_cpus: int) -> list[api.CpuidEntry2]:
    """The table handed to one vCPU's KVM_SET_CPUID2. Features can only be
    removed: KVM cannot run what the host lacks (`+feature` of a missing one
    is an error, as on QEMU with `enforce`)."""
    table = [api.CpuidEntry2.from_buffer_copy(e) for e in supported]
    by_key = {(e.function, e.index): e for e in table}
    for name, on in changes.items():
        leaf, sub, reg, bit = FEATURES[name]
        entry = by_key.get((leaf, sub))
        has = entry is not None and getattr(entry, reg) >> bit & 1
        if on and not has:
            raise CpuModelError(f"-cpu host,+{name}: the host's KVM does not offer '{name}'")
        if not on and entry is not None:
            setattr(entry, reg, getattr(entry, reg) & ~(1 << bit))
    for e in table:
        if e.function == 1:
            # EBX[31:24] initial APIC ID, [23:16] logical processors per package.
            e.ebx = (e.ebx & 0x0000FFFF) | (apic_id << 24) | (min(num_cpus, 255) << 16)
            if num_cpus > 1:
                e.edx |= 1 << 28                          # HTT: the count above is valid
        elif e.function in (0xB, 0x1F):
            e.edx = apic_id                               # x2APIC ID
    return table
