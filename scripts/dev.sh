#!/usr/bin/env bash
# One-command set-up and run for a fresh machine (a Python that meets pyproject.toml's
# requires-python, with venv and pip; scripts/find_python.sh finds it by itself).
#
#   bash scripts/dev.sh demo    # install into .venv, then run a complete example fit
#   bash scripts/dev.sh test    # install into .venv, then run the test suite
#
# The virtual environment is created on first use (HOMODYNE_VENV overrides its place)
# and reused afterwards; installation is skipped when the project is already installed
# at the current version of pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HOMODYNE_VENV:-.venv}"

# A venv made with an interpreter older than requires-python (an earlier checkout) is rebuilt.
if [ -x "$venv/bin/python" ] && ! bash scripts/find_python.sh --check "$venv/bin/python"; then
    echo "dev.sh: $venv has an interpreter older than requires-python: recreating it" >&2
    rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    python="$(bash scripts/find_python.sh)"
    echo "dev.sh: creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi
stamp="$venv/.homodyne-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e ".[dev,docs]"
    echo "$want" > "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"

case "${1:-}" in
    demo)
        shift
        exec homodyne demo "$@"
        ;;
    test)
        shift
        exec python -m pytest -n 2 "$@"
        ;;
    *)
        echo "usage: bash scripts/dev.sh demo|test [extra arguments]" >&2
        exit 2
        ;;
esac
