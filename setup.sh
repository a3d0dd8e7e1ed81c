#!/usr/bin/env bash
# Sets up everything (Debian packages, .venv) and boots the default guest:
# Debian's OpenSBI on the RISC-V virt board, on this terminal.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
echo "setup: booting the default guest (Ctrl-A x quits)"
exec .venv/bin/pyqemu-system-riscv64 -M virt -nographic "$@"
