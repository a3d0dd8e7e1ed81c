#!/usr/bin/env bash
# Runs the whole test suite (sets up first if needed; the test guests are
# built by the tests themselves and cached under ~/.cache/pyqemu).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
