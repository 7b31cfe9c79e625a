#!/usr/bin/env bash
# CI stage "calibration": simulation-based calibration (SBC) of both MCMC backends.
#
#   bash .ci/calibration.sh        # what .ci/run calls, after the test stage
#
# The SBC test (tests/calibration/test_sbc.py) runs one worker interpreter per backend,
# both at once (two cores), each sampling HOMODYNE_SBC_REPLICATES small posteriors
# (default 30), prints a line per replicate and writes the summary that docs/testing.rst
# records to _work/sbc_report.json. Duration (docs/testing.rst): about 6 min of CPU for
# PyMC and under 2 for NumPyro at R = 30, so 6-8 minutes on two free cores. The coverage tests of the classical errors run in the normal test stage.
# Uses the virtual environment the test stage made (scripts/dev.sh); with CI=true a
# backend that is not installed fails the stage instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv="${HOMODYNE_VENV:-.venv}"
[ -x "$venv/bin/python" ] || bash scripts/dev.sh test --co -q >/dev/null
export HOMODYNE_SBC=1 MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1
export HOMODYNE_SBC_REPLICATES="${HOMODYNE_SBC_REPLICATES:-30}"
export PYTENSOR_FLAGS="${PYTENSOR_FLAGS:-base_compiledir=$PWD/_work/pytensor}"
"$venv/bin/python" -m pytest tests/calibration/test_sbc.py -p no:randomly -p no:cacheprovider \
    -n 0 -rs -s -q
echo "-- calibration stage finished in $(( $(date +%s) - start )) s"
