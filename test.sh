#!/usr/bin/env bash
# Runs the whole test suite (sets up first if needed; the test guests are
# built by the tests themselves and cached under ~/.cache/pyqemu).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
# The suite starts hundreds of emulator processes; without bytecode files each
# one compiles pyqemu's modules again (~0.1 s of CPU). They go to __pycache__
# (ignored by git), whatever the environment says.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -q "$@"
