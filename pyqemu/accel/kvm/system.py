"""/dev/kvm, the system descriptor (api.rst 4.1-4.4): API version,
capabilities, the vCPU mapping size and the CPUID the host supports."""

from __future__ import annotations

import errno
import os

from . import api
from .ioctl import ioctl

DEFAULT_DEVICE = "/dev/kvm"
MAX_CPUID_ENTRIES = 256


def device_path() -> str:
    # PYQEMU_KVM_DEVICE lets a test (or a user with an odd setup) name another node.
    return os.environ.get("PYQEMU_KVM_DEVICE", DEFAULT_DEVICE)


class Kvm:
    """An open /dev/kvm. Construction fails with a KvmError that says why KVM
    cannot be used here (missing module, no permission, wrong API)."""

    def __init__(self, path: str | None = None):
        path = path or device_path()
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            hint = ""
            if e.errno == errno.ENOENT:
                hint = " (is the kvm module loaded? is this host virtualizable?)"
            elif e.errno in (errno.EACCES, errno.EPERM):
                hint = " (add your user to the 'kvm' group)"
            raise api.KvmError(f"Could not access KVM kernel module {path}: "
                               f"{e.strerror}{hint}") from None
        try:
            version = ioctl(self.fd, api.KVM_GET_API_VERSION)
        except OSError as e:
            os.close(self.fd)
            raise api.KvmError(f"{path} is not a KVM device: {e.strerror}") from None
        if version != api.KVM_API_VERSION:
            os.close(self.fd)
            raise api.KvmError(f"{path}: KVM API version {version}, expected "
                               f"{api.KVM_API_VERSION}")
        self.path = path
        for cap in (api.Cap.USER_MEMORY, api.Cap.IRQCHIP, api.Cap.EXT_CPUID,
                    api.Cap.SET_TSS_ADDR, api.Cap.IMMEDIATE_EXIT):
            if not self.check_extension(cap):
                os.close(self.fd)
                raise api.KvmError(f"kvm: the host's KVM lacks the required capability "
                                   f"KVM_CAP_{cap.name}")
        self.vcpu_mmap_size = ioctl(self.fd, api.KVM_GET_VCPU_MMAP_SIZE)

    def check_extension(self, cap: int) -> int:
        try:
            return ioctl(self.fd, api.KVM_CHECK_EXTENSION, int(cap))
        except OSError:
            return 0

    def max_vcpus(self) -> int:
        return self.check_extension(api.Cap.MAX_VCPUS) or self.check_extension(api.Cap.NR_VCPUS) or 4

    def supported_cpuid(self) -> list[api.CpuidEntry2]:
        cls = api.cpuid2_type(MAX_CPUID_ENTRIES)
        buf = cls(nent=MAX_CPUID_ENTRIES)
        ioctl(self.fd, api.KVM_GET_SUPPORTED_CPUID, buf)
        return [api.CpuidEntry2.from_buffer_copy(buf.entries[i]) for i in range(buf.nent)]

    def create_vm_fd(self) -> int:
        try:
            return ioctl(self.fd, api.KVM_CREATE_VM, 0)
        except OSError as e:
            raise api.KvmError(f"kvm: KVM_CREATE_VM failed: {e.strerror}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def probe() -> str | None:
    """None if KVM is usable here, else the reason (for tests to skip on)."""
    try:
        Kvm().close()
    except api.KvmError as e:
        return str(e)
    return None
