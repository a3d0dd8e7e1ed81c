"""The KVM accelerator: the guest's CPU runs on the host through Linux KVM;
Python models only the machine around it (see docs/kvm.md)."""
