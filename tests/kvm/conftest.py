"""tests/kvm: the KVM accelerator and the x86_64 microvm board, checked
against the real qemu-system-x86_64 -enable-kvm -M microvm where it can be.
Every test here skips, saying why, where /dev/kvm cannot be used."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kvmhelpers import KVM_PROBLEM, guest_build  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if KVM_PROBLEM is None:
        return
    skip = pytest.mark.skip(reason=f"/dev/kvm is not usable here: {KVM_PROBLEM}")
    for item in items:
        if "tests/kvm/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def guest():
    """guest(name) -> path of the built test guest (cached by source hash)."""
    def get(name: str) -> str:
        try:
            return str(guest_build.build(name))
        except guest_build.BuildError as e:
            pytest.skip(f"cannot build x86 test guest {name}: {e}")
    return get


