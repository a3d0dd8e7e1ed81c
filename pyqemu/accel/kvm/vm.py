"""A KVM virtual machine (api.rst 4.x, VM ioctls): memory slots over the
memory layer's RAM, the in-kernel irqchip (PIC + IOAPIC + LAPICs) and PIT,
interrupt lines, ioeventfd/irqfd and the dirty-page log."""

from __future__ import annotations

import ctypes
import os

from ...memory.region import RamRegion
from . import api
from .ioctl import ioctl
from .system import Kvm

PAGE_SIZE = 4096
IOAPIC_PINS = 24                # KVM's in-kernel IOAPIC
# The TSS and identity-map pages Intel's real-mode emulation needs (api.rst
# 4.36/4.37): three pages and one page just below the 4 GiB MMIO hole's
# top reserved area, where no RAM or device of ours lives.
TSS_ADDR = 0xFFFBD000
IDENTITY_MAP_ADDR = 0xFFFBC000


class MemorySlot:
    __slots__ = ("slot", "base", "region", "host_addr", "flags")

    def __init__(self, slot: int, base: int, region: RamRegion, host_addr: int, flags: int):
        self.slot, self.base, self.region, self.host_addr, self.flags = slot, base, region, host_addr, flags


def region_host_address(region: RamRegion) -> int:
    """The host virtual address of a RAM region's mapping (KVM maps it into the guest)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(region.mem))


class KvmVm:
    def __init__(self, kvm: Kvm):
        self.kvm = kvm
        self.fd = kvm.create_vm_fd()
        self.slots: list[MemorySlot] = []
        self._eventfds: list[int] = []
        try:
            ioctl(self.fd, api.KVM_SET_TSS_ADDR, TSS_ADDR)
            ident = ctypes.c_uint64(IDENTITY_MAP_ADDR)
            ioctl(self.fd, api.KVM_SET_IDENTITY_MAP_ADDR, ident)
        except OSError as e:
            raise api.KvmError(f"kvm: setting the TSS/identity map address failed: {e.strerror}") from None

    # -- memory (4.35 KVM_SET_USER_MEMORY_REGION) -------------------------------------------
    def add_ram(self, base: int, region: RamRegion, log_dirty: bool = False) -> MemorySlot:
        if base % PAGE_SIZE or region.size % PAGE_SIZE:
            raise api.KvmError(f"kvm: RAM region {region.name} at {base:#x} is not page aligned")
        slot = MemorySlot(len(self.slots), base, region, region_host_address(region),
                          api.KVM_MEM_LOG_DIRTY_PAGES if log_dirty else 0)
        self._set_slot(slot)
        self.slots.append(slot)
        return slot

    def _set_slot(self, slot: MemorySlot) -> None:
        desc = api.UserspaceMemoryRegion(slot=slot.slot, flags=slot.flags, guest_phys_addr=slot.base,
                                         memory_size=slot.region.size, userspace_addr=slot.host_addr)
        try:
            ioctl(self.fd, api.KVM_SET_USER_MEMORY_REGION, desc)
        except OSError as e:
            raise api.KvmError(f"kvm: mapping {slot.region.name} ({slot.region.size} bytes at "
                               f"{slot.base:#x}) failed: {e.strerror}") from None

    def set_dirty_logging(self, enabled: bool) -> None:
        """Start or stop dirty-page logging on every RAM slot (live migration)."""
        for slot in self.slots:
            flags = api.KVM_MEM_LOG_DIRTY_PAGES if enabled else 0
            if slot.flags != flags:
                slot.flags = flags
                self._set_slot(slot)

    def get_dirty_log(self, slot: MemorySlot) -> list[int]:
        """Guest-physical addresses of the pages written since the last call
        (4.8 KVM_GET_DIRTY_LOG: one bit per page, cleared by the call)."""
        pages = slot.region.size // PAGE_SIZE
        bitmap = (ctypes.c_uint64 * ((pages + 63) // 64))()
        ioctl(self.fd, api.KVM_GET_DIRTY_LOG,
              api.DirtyLog(slot=slot.slot, dirty_bitmap=ctypes.addressof(bitmap)))
        dirty = []
        for word_index, word in enumerate(bitmap):
            while word:
                bit = (word & -word).bit_length() - 1
                dirty.append(slot.base + (word_index * 64 + bit) * PAGE_SIZE)
                word &= word - 1
        return dirty

    # -- interrupts (4.24 KVM_CREATE_IRQCHIP, 4.71 KVM_CREATE_PIT2, 4.25 KVM_IRQ_LINE) ------
    def create_irqchip(self) -> None:
        try:
            ioctl(self.fd, api.KVM_CREATE_IRQCHIP)
            self._route_isa_irq0_to_pin2()
            ioctl(self.fd, api.KVM_CREATE_PIT2, api.PitConfig(flags=0))
        except OSError as e:
            raise api.KvmError(f"kvm: creating the in-kernel irqchip/PIT failed: {e.strerror}") from None

    def _route_isa_irq0_to_pin2(self) -> None:
        """GSI routing as a PC wires it and as our MADT's interrupt source
        override says: ISA IRQ 0 (the PIT, which KVM injects on GSI 0) on
        IOAPIC pin 2; KVM's default table puts it on pin 0. GSIs 0-15 also
        reach the PICs (IRQ 2 is the cascade); GSIs 1, 3-23 pin for pin."""
        routes = []                                   # (gsi, irqchip, pin)
        for gsi in range(16):
            if gsi != 2:
                routes.append((gsi, api.IrqchipId.PIC_MASTER if gsi < 8 else api.IrqchipId.PIC_SLAVE,
                               gsi % 8))
        for gsi in range(IOAPIC_PINS):
            if gsi != 2:
                routes.append((gsi, api.IrqchipId.IOAPIC, 2 if gsi == 0 else gsi))
        table = api.irq_routing_type(len(routes))(nr=len(routes))
        for i, (gsi, chip, pin) in enumerate(routes):
            e = table.entries[i]
            e.gsi, e.type = gsi, api.KVM_IRQ_ROUTING_IRQCHIP
            e.u.irqchip.irqchip, e.u.irqchip.pin = chip, pin
        ioctl(self.fd, api.KVM_SET_GSI_ROUTING, table)

    def set_irq_line(self, gsi: int, level: int) -> None:
        ioctl(self.fd, api.KVM_IRQ_LINE, api.IrqLevel(irq=gsi, level=level))

    # -- eventfds (4.59 KVM_IOEVENTFD, 4.75 KVM_IRQFD) ---------------------------------------
    def ioeventfd(self, addr: int, length: int, datamatch: int | None = None, pio: bool = False) -> int:
        """An eventfd KVM signals (without leaving the kernel) when the guest
        writes `addr`; returns the fd."""
        fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        flags = (api.KVM_IOEVENTFD_FLAG_PIO if pio else 0)
        if datamatch is not None:
            flags |= api.KVM_IOEVENTFD_FLAG_DATAMATCH
        try:
            ioctl(self.fd, api.KVM_IOEVENTFD, api.Ioeventfd(
                datamatch=datamatch or 0, addr=addr, len=length, fd=fd, flags=flags))
        except OSError as e:
            os.close(fd)
            raise api.KvmError(f"kvm: KVM_IOEVENTFD at {addr:#x} failed: {e.strerror}") from None
        self._eventfds.append(fd)
        return fd

    def irqfd(self, gsi: int) -> int:
        """An eventfd whose every write raises (edge) interrupt `gsi` in the kernel."""
        fd = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            ioctl(self.fd, api.KVM_IRQFD, api.Irqfd(fd=fd, gsi=gsi))
        except OSError as e:
            os.close(fd)
            raise api.KvmError(f"kvm: KVM_IRQFD for GSI {gsi} failed: {e.strerror}") from None
        self._eventfds.append(fd)
        return fd

    def close(self) -> None:
        for fd in self._eventfds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._eventfds.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
