#!/usr/bin/env bash
# Install kura with its test tools, then run the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
.venv/bin/python -m pytest "$@"
