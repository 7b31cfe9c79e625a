#!/usr/bin/env bash
# GPU check and benchmark of the NumPyro backend, for a machine where JAX sees a GPU.
#
#   bash benchmarks/gpu_benchmark.sh OUTDIR [CASES]
#
# 1. prints the GPU and the JAX devices;
# 2. runs the tests marked ``gpu`` (they fail, not skip, if JAX sees no GPU here);
# 3. runs benchmarks/bench_mcmc.py with the NumPyro backend on the GPU
#    (--platform gpu: also the cases below mcmc.gpu_min_values) on CASES (default:
#    reduced,full,laminar,static; the 23 x 1000² cases first), writing OUTDIR/gpu.json
#    after every case and the logs to OUTDIR;
# 4. runs CROSSOVER_CASES (default static,laminar; empty skips the step) on the same
#    host's CPU (--platform cpu: worker processes on the JAX CPU platform beside the GPU,
#    the route of a problem below mcmc.gpu_min_values), writing OUTDIR/cpu_routed.json:
#    with step 3 the two sides of the crossover that mcmc.gpu_min_values encodes.
set -uo pipefail
out=${1:?usage: gpu_benchmark.sh OUTDIR [CASES]}
cases=${2:-reduced,full,laminar,static}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$py" -c "import jax, numpyro; print('jax', jax.__version__, 'numpyro', numpyro.__version__, jax.devices())"
} 2>&1 | tee "$out/environment.txt"
HOMODYNE_REQUIRE_GPU=1 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/mcmc/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log"
"$py" benchmarks/bench_mcmc.py --backends numpyro --platform gpu --cases "$cases" \
    --out "$out/gpu.json" 2>&1 | tee "$out/bench.log"
crossover=${CROSSOVER_CASES-static,laminar}
if [ -n "$crossover" ]; then
  "$py" benchmarks/bench_mcmc.py --backends numpyro --platform cpu --cases "$crossover" \
      --out "$out/cpu_routed.json" 2>&1 | tee "$out/bench_cpu_routed.log"
fi
