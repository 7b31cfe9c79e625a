#!/usr/bin/env bash
# The quality gates a release must pass (also: `pixi run -e dev lint`).
#   bash scripts/quality.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-python3}"
# Core modules: the physics, parameters, configuration, problem and classical fitting.
core="homodyne/model.py homodyne/parameters.py homodyne/config homodyne/problem.py homodyne/optimization/classical.py homodyne/optimization/engine.py homodyne/errors.py"

echo "-- ruff check";          "$py" -m ruff check .
echo "-- ruff format --check"; "$py" -m ruff format --check .
echo "-- mypy (package)";      "$py" -m mypy homodyne
echo "-- mypy --strict (core)"; "$py" -m mypy --strict $core
echo "-- import layers";     "$(dirname "$py")/lint-imports" --no-cache --no-logo
echo "-- bandit";              "$py" -m bandit -q -r homodyne -c pyproject.toml
echo "-- pip-audit"
if ! "$py" -m pip_audit --version >/dev/null 2>&1; then
    echo "notice: pip-audit is not installed; vulnerability audit skipped"
    exit 0
fi
report=$(mktemp)
set +e
"$py" -m pip_audit -r requirements.txt --progress-spinner off --format json -o "$report" 2>/dev/null
rc=$?
set -e
"$py" - "$report" "$rc" <<'PY'
import json, sys
path, rc = sys.argv[1], int(sys.argv[2])
try:
    deps = json.load(open(path)).get("dependencies", [])
except (OSError, ValueError):
    print("notice: pip-audit produced no report (vulnerability data unreachable?); audit skipped")
    sys.exit(0)
audited = [d for d in deps if "skip_reason" not in d]
vulns = [(d["name"], v["id"]) for d in audited for v in d.get("vulns", [])]
if not audited:
    print(f"notice: pip-audit could not reach vulnerability data for any of the {len(deps)} "
          "requirements (offline or mirror-only index); audit skipped, run it where PyPI's JSON API is reachable")
    sys.exit(0)
for name, vid in vulns:
    print(f"vulnerable: {name} ({vid})")
print(f"pip-audit: {len(audited)} audited, {len(deps) - len(audited)} not found, {len(vulns)} known vulnerabilities")
sys.exit(1 if vulns else 0)
PY
