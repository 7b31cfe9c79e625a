#!/usr/bin/env bash
# Print the path of a Python interpreter that meets pyproject.toml's requires-python floor.
#
#   bash scripts/find_python.sh              # the interpreter to build venvs with
#   bash scripts/find_python.sh --check PY   # exit 0 when PY runs and meets the floor
#
# Order: $PYTHON if set (it must fit, else an error); python3, python3.13, python3.14, ...
# on PATH; then pyenv's installations, /usr/local/bin and /opt/python. The first fitting one
# wins, so a machine whose python3 is too old (3.11 here) still finds pyenv's 3.13.
# Used by scripts/dev.sh and the CI stages (.ci/*.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
floor="$(sed -n 's/^requires-python *= *">= *\([0-9][0-9.]*\)".*/\1/p' "$root/pyproject.toml")"
[ -n "$floor" ] || { echo "find_python.sh: no requires-python floor in pyproject.toml" >&2; exit 2; }

fits() {
    "$1" -c "import sys, venv, ensurepip
f = tuple(map(int, '$floor'.split('.')))
sys.exit(sys.version_info[:len(f)] < f)" 2>/dev/null
}

if [ "${1:-}" = "--check" ]; then
    fits "$2"
    exit
fi
if [ -n "${PYTHON:-}" ]; then
    if fits "$PYTHON"; then
        command -v "$PYTHON"
        exit 0
    fi
    echo "find_python.sh: PYTHON=$PYTHON does not run, lacks venv/ensurepip, or is older than $floor" >&2
    exit 1
fi
shopt -s nullglob
for c in python3 python3.13 python3.14 python3.15 python3.16 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3 \
    /usr/local/bin/python3.* /opt/python/3.*/bin/python3; do
    if p="$(command -v "$c" 2>/dev/null)" && fits "$p"; then
        echo "$p"
        exit 0
    fi
done
echo "find_python.sh: no Python >= $floor with venv found (tried \$PYTHON, python3, python3.13+," \
    "pyenv, /usr/local/bin, /opt/python); install one or set PYTHON=/path/to/python3" >&2
exit 1
