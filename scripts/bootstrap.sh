#!/usr/bin/env bash
# Idempotent machine set-up: Debian packages, the .venv with pyqemu installed
# in editable mode, and the pip packages pinned in pyproject.toml.
# Fast when everything is already there (it checks before it installs).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the project and its tests need:
#  - cross compilers to build the test guests (bare-metal and Linux),
#  - opensbi: the default firmware of the virt board,
#  - qemu-system-misc / qemu-utils / qemu-user: the real peers the tests compare against,
#  - swig + device-tree-compiler: pylibfdt builds from source with swig,
#  - strace: the block crash test injects kills at exact write calls,
#  - qemu-system-x86: the peer of the KVM microvm board,
#  - gdb-multiarch: the real client the gdbstub tests drive,
#  - acpica-tools: iasl disassembles the microvm board's ACPI tables in its test.
APT_PACKAGES=(gcc-riscv64-unknown-elf gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu
              opensbi qemu-system-misc qemu-utils qemu-user swig device-tree-compiler
              gcc libc6-dev strace qemu-system-x86 gdb-multiarch acpica-tools)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.pyqemu-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing Python packages"
    mkdir -p "${HOME}/.cache/pyqemu/pip"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q --cache-dir "${HOME}/.cache/pyqemu/pip" -e '.[test]'
    touch "$stamp"
fi
