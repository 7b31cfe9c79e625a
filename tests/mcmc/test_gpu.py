"""GPU-only checks of the NumPyro backend (skipped cleanly where JAX sees no GPU)."""

from __future__ import annotations

import json

import pytest

from .conftest import HAVE_NUMPYRO, run_python

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro backend not installed"),
]


def test_numpyro_backend_runs_on_the_gpu() -> None:
    code = f"""
import json, os, sys
os.environ["HOMODYNE_GPU_INTENT"] = "true"
sys.path.insert(0, {__file__.rsplit("/", 1)[0]!r})
import simdata
from homodyne.optimization.backends import get_mcmc_backend
from homodyne.optimization.classical import fit
fn, name, has_gpu = get_mcmc_backend()
problem, _, _ = simdata.static_problem()
result = fn(analysis_core=problem, init=fit(problem, multistart=4), chains=2, tune=300, draws=300, progress=False,
            platform="gpu")
s = result.summary
print(json.dumps({{"has_gpu": has_gpu, "device": s["device"], "on_gpu": s["on_gpu"],
                  "hdi": {{k: [v["hdi_3%"], v["hdi_97%"]] for k, v in s["parameters"].items()}},
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("pymc", "pytensor"))}}))
"""
    proc = run_python(code, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["has_gpu"] is True and out["on_gpu"] is True
    assert out["device"].startswith("GPU")
    assert out["loaded"] == []
    from .simdata import STATIC

    for name, (lo, hi) in out["hdi"].items():
        assert lo <= STATIC[name] <= hi, name


def test_a_small_problem_is_routed_to_the_cpu_beside_the_gpu() -> None:
    """``mcmc.platform = "auto"`` (the default): a problem smaller than gpu_min_values
    runs its chains in worker processes on the JAX CPU platform although JAX holds the
    GPU, and the posterior is the same; the same process then samples a problem at the
    bound on the GPU (the route changed no process-wide JAX state)."""
    code = f"""
import json, os, sys
os.environ["HOMODYNE_GPU_INTENT"] = "true"
sys.path.insert(0, {__file__.rsplit("/", 1)[0]!r})
import simdata
from homodyne.optimization.backends import get_mcmc_backend
from homodyne.optimization.classical import fit
if __name__ == "__main__":
    fn, name, has_gpu = get_mcmc_backend()
    problem, _, _ = simdata.static_problem()
    init = fit(problem, multistart=4)
    small = fn(analysis_core=problem, init=init, chains=2, tune=300, draws=300, progress=False).summary
    big = fn(analysis_core=problem, init=init, chains=2, tune=100, draws=100, progress=False,
             gpu_min_values=problem.n_data).summary
    print(json.dumps({{"small": {{k: small[k] for k in ("on_gpu", "chain_method", "platform_route", "device")}},
                      "big": {{k: big[k] for k in ("on_gpu", "chain_method", "platform_route")}},
                      "hdi": {{k: [v["hdi_3%"], v["hdi_97%"]] for k, v in small["parameters"].items()}}}}))
"""
    proc = run_python(code, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["small"]["on_gpu"] is False and out["small"]["chain_method"] == "processes"
    assert "values < mcmc.gpu_min_values" in out["small"]["platform_route"]
    assert out["small"]["device"].startswith("JAX CPU platform")
    assert out["big"]["on_gpu"] is True and out["big"]["chain_method"] == "vectorized"
    from .simdata import STATIC

    for name, (lo, hi) in out["hdi"].items():
        assert lo <= STATIC[name] <= hi, name
