"""-cpu host: KVM's supported CPUID minus the hidden features, each vCPU's
APIC ID in leaves 1 and 0xB; the MSRs a firmware would have set."""

from __future__ import annotations

import pytest

from pyqemu.accel.kvm.cpuid import FEATURES, CpuModelError, guest_cpuid, parse_cpu_option
from pyqemu.accel.kvm.system import Kvm
from pyqemu.machine.x86.microvm import MicrovmConfig, MicrovmMachine


def _bit(table, name):
    leaf, sub, reg, bit = FEATURES[name]
    entry = next(e for e in table if e.function == leaf and e.index == sub)
    return getattr(entry, reg) >> bit & 1


def test_hidden_features_and_apic_ids():
    kvm = Kvm()
    supported = kvm.supported_cpuid()
    kvm.close()
    present = [n for n in ("avx2", "x2apic", "lm", "sse2") if _bit(supported, n)]
    assert "lm" in present and "sse2" in present
    _model, changes = parse_cpu_option("host," + ",".join(f"-{n}" for n in present if n != "lm"))
    table = guest_cpuid(supported, changes, apic_id=3, num_cpus=4)
    for n in present:
        assert _bit(table, n) == (1 if n == "lm" else 0)
    leaf1 = next(e for e in table if e.function == 1)
    assert leaf1.ebx >> 24 == 3 and (leaf1.ebx >> 16) & 0xFF == 4
    if not _bit(supported, "sse3"):
        # This host's KVM (PVM) offers no SSE3: asking for it is an error, as QEMU's enforce.
        with pytest.raises(CpuModelError, match="does not offer 'sse3'"):
            guest_cpuid(supported, {"sse3": True}, 0, 1)


def test_firmware_msrs(guest):
    m = MicrovmMachine(MicrovmConfig(ram_size=16 << 20, smp=2, kernel=guest("modes")))
    assert all(v.get_msr(0x1A0) & 1 for v in m.vcpus)     # IA32_MISC_ENABLE.FAST_STRING
