#!/usr/bin/env bash
# CI stage "mutation": mutation testing (mutmut 3) of the physics and the statistics.
#
#   bash .ci/mutation.sh           # what .ci/run calls
#   MUTATION_TARGETS=full bash .ci/mutation.sh   # every function of the five files
#
# Targets (pyproject.toml [tool.mutmut] lists the files; mutmut runs, for each mutant,
# only the tests that reach the mutated function, from the fast reference tests):
#   homodyne/model.py (every function), the Gaussian log-likelihood of homodyne/bayes,
#   the scaling (profile_scaling, Engine.initial_scaling, Engine.profiled_chi2), the
#   normal equations and the covariance (_inverse_normal_matrix, parameter_covariance,
#   correlation_matrix) of the classical fit, Problem.from_arrays and isotropic_average.
# The stage fails when the kill rate of model.py or of the likelihood is below 90 %
# (tools/mutation_report.py); the reviewed survivors are listed in docs/testing.rst.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv="${HOMODYNE_VENV:-.venv}"
[ -x "$venv/bin/python" ] || bash scripts/dev.sh test --co -q >/dev/null
py="$venv/bin/python"
# mutmut pinned: another version generates other mutants, and the report in
# docs/testing.rst would no longer compare. A failed install fails the stage (set -e),
# with CI=true or not: there is nothing to skip to.
"$py" -m pip install --quiet "mutmut==3.8.1" \
    || { echo "mutation: cannot install mutmut 3.8.1; the stage fails" >&2; exit 1; }
mkdir -p _work
export MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1
export PYTENSOR_FLAGS="${PYTENSOR_FLAGS:-base_compiledir=$PWD/_work/pytensor}"
rm -rf mutants
if [ "${MUTATION_TARGETS:-ci}" = full ]; then
    targets=("homodyne.*")
else
    targets=(
        "homodyne.model.*"
        "homodyne.bayes.posterior.x_gaussian_log_likelihood*"
        "homodyne.optimization.engine.x_profile_scaling*"
        "homodyne.optimization.engine.xǁEngineǁnormal_equations*"
        "homodyne.optimization.engine.xǁEngineǁinitial_scaling*"
        "homodyne.optimization.engine.xǁEngineǁprofiled_chi2*"
        "homodyne.optimization.classical.x__inverse_normal_matrix*"
        "homodyne.optimization.classical.x_parameter_covariance*"
        "homodyne.optimization.classical.x_correlation_matrix*"
        "homodyne.problem.xǁProblemǁfrom_arrays*"
        "homodyne.problem.x_isotropic_average*"
    )
fi
"$venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" "${targets[@]}" > _work/mutation.log 2>&1 \
    || { tail -40 _work/mutation.log; exit 1; }
"$venv/bin/mutmut" results --all true > _work/mutation-results.txt
"$py" tools/mutation_report.py _work/mutation-results.txt --min-rate 90 \
    --enforce homodyne.model. --enforce homodyne.bayes.posterior.x_gaussian_log_likelihood \
    | tee _work/mutation-report.txt
# the five hand-made physics mutants of issue 16 (mutmut does not generate them)
"$py" tools/named_mutants.py
echo "-- mutation stage finished in $(( $(date +%s) - start )) s"
