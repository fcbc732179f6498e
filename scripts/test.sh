#!/usr/bin/env bash
# The README's test command: set up a fresh machine (QGIS included), lint, run every test.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k grid`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --qgis
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
