#!/usr/bin/env bash
# Release quality gates: ruff (lint + format), mypy (strict on the core modules),
# bandit, pip-audit. Uses the virtual environment that scripts/dev.sh made.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HOMODYNE_VENV:-.venv}"
[ -x "$venv/bin/python" ] || bash scripts/dev.sh test --co -q >/dev/null
py="$venv/bin/python"
"$py" -m pip install --quiet "pip-audit>=2.7" 2>/dev/null || echo "notice: pip-audit could not be installed"
bash scripts/quality.sh "$py"
