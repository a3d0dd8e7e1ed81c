"""tests/kvm_migration: savevm/loadvm and live migration of the x86_64
microvm board under KVM (docs/migration.md, docs/kvm.md). Every test skips,
saying why, where /dev/kvm cannot be used."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kmhelpers import KVM_PROBLEM  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if KVM_PROBLEM is None:
        return
    skip = pytest.mark.skip(reason=f"/dev/kvm is not usable here: {KVM_PROBLEM}")
    for item in items:
        if "tests/kvm_migration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
