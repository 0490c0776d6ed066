#!/usr/bin/env bash
# Install kura with its test tools, then run the whole test suite. Extra args go to pytest.
# Test files run in KURA_TEST_WORKERS processes (default 2; 0 runs them in this one), a file's
# tests in one process, so module fixtures are made once. Each process holds the models
# (about 3 GB at peak).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
.venv/bin/python -m pytest -n "${KURA_TEST_WORKERS:-2}" --dist loadfile "$@"
