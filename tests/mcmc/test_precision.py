"""``mcmc.precision``: float32 per-pair terms with float64 sums (NumPyro backend, XLA
kernel) give the float64 posterior within Monte-Carlo error; the key is validated and
refused where it cannot apply."""

from __future__ import annotations

import json

import numpy as np
import pytest

from homodyne.bayes.gradient_xla import numpyro_gradient
from homodyne.config import config_from_dict, template
from homodyne.errors import ConfigError

from .conftest import HAVE_NUMPYRO, HAVE_PYMC, run_python

_SAMPLE = r"""
import json, logging
import numpy as np
from homodyne.model import c2_matrix
from homodyne.parameters import default_parameters
from homodyne.problem import Problem
from homodyne.optimization.mcmc_gpu_backend import run_gpu_mcmc_analysis

logging.disable(logging.WARNING)
p = [1324.1, -0.014, -0.674, 0.003, -0.909, 0.0, 0.0]
phi = np.array([-8.5, 1.9, 176.8])
n = 40
t = 0.1 * np.arange(1, n + 1)
contrast, offset = np.linspace(0.25, 0.35, 3), np.linspace(0.98, 1.02, 3)
c2 = c2_matrix(p, t, phi, 0.0054, 2.0e6, contrast, offset, "laminar_flow")
rng = np.random.default_rng(3)
iu, ju = np.triu_indices(n)
for a in range(3):
    c2[a, iu, ju] += rng.normal(0.0, 0.01, iu.size)
    c2[a, ju, iu] = c2[a, iu, ju]
problem = Problem.from_arrays(c2, t, phi, 0.0054, default_parameters("laminar_flow"), gap=2.0e6)
out = {}
for precision in ("float64", "float32"):
    res = run_gpu_mcmc_analysis(
        analysis_core=problem, init=None, progress=False, chains=2, tune=300, draws=400,
        seed=1, precision=precision, chain_method="sequential", gradient="kernel",
    )
    s = res.summary
    rows = {k: v for k, v in s["parameters"].items() if not v.get("fixed")}
    out[precision] = {
        "gradient": s.get("gradient"),
        "precision": s.get("precision"),
        "divergences": s["divergences"],
        "params": {k: [v["mean"], v["sd"], v["mcse_mean"]] for k, v in rows.items()},
    }
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_NUMPYRO, reason="JAX/NumPyro missing")
def test_float32_posterior_agrees_with_float64() -> None:
    """Same data, same seed, both precisions: every posterior mean within 4 combined
    Monte-Carlo standard errors (and 0.25 posterior sd) of the other; both runs used the
    XLA kernel and recorded their precision."""
    proc = run_python(_SAMPLE, env={"JAX_PLATFORMS": "cpu"}, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    a, b = out["float64"], out["float32"]
    assert a["precision"] == "float64" and b["precision"] == "float32"
    assert a["gradient"] == b["gradient"] == "xla"
    # no more divergent draws than the verdict allows (1 % of 2 x 400)
    assert a["divergences"] < 8 and b["divergences"] < 8, (a["divergences"], b["divergences"])
    assert a["params"].keys() == b["params"].keys() and a["params"]
    for name, (m64, sd64, se64) in a["params"].items():
        m32, sd32, se32 = b["params"][name]
        tol = 4.0 * float(np.hypot(se64, se32))
        assert abs(m32 - m64) <= tol, (name, m64, m32, tol)
        assert abs(m32 - m64) <= 0.25 * sd64, (name, m64, m32, sd64)
        assert sd32 == pytest.approx(sd64, rel=0.2), name


def test_precision_key_is_validated() -> None:
    raw = template("laminar_flow")
    raw["mcmc"]["precision"] = "float16"
    with pytest.raises(ConfigError, match=r"mcmc\.precision"):
        config_from_dict(raw, source="x.json")
    raw["mcmc"]["precision"] = "float32"
    assert config_from_dict(raw, source="x.json").mcmc.precision == "float32"


def test_gradient_selection_of_the_numpyro_backend() -> None:
    assert numpyro_gradient("laminar_flow", "kernel", False) == "xla"
    assert numpyro_gradient("laminar_flow", "kernel", True) == "xla"  # no host callback
    assert numpyro_gradient("laminar_flow", "autodiff", False) == "autodiff"
    assert numpyro_gradient("static_anisotropic", None, False) == "autodiff"
    assert numpyro_gradient("laminar_flow", "auto", True) == "autodiff"  # GPU: as measured
    assert numpyro_gradient("laminar_flow", "auto", True, "float32") == "xla"
    with pytest.raises(ConfigError, match=r"float32.*laminar_flow likelihood only"):
        numpyro_gradient("static_isotropic", None, False, "float32")
    with pytest.raises(ConfigError, match=r"float32.*not by mcmc\.gradient = 'autodiff'"):
        numpyro_gradient("laminar_flow", "autodiff", False, "float32")
    with pytest.raises(ConfigError, match=r"'kernel' cannot be used here: .*laminar_flow"):
        numpyro_gradient("static_isotropic", "kernel", False)
    with pytest.raises(ConfigError, match=r"'numba' cannot be used here: .*CPU platform only"):
        numpyro_gradient("laminar_flow", "numba", True)
    with pytest.raises(ConfigError, match=r"mcmc\.precision must be one of"):
        numpyro_gradient("laminar_flow", None, False, "half")


@pytest.mark.skipif(not HAVE_PYMC, reason="PyMC missing")
def test_pymc_backend_refuses_float32() -> None:
    code = r"""
import numpy as np
from homodyne.errors import ConfigError
from homodyne.model import c2_matrix
from homodyne.parameters import default_parameters
from homodyne.problem import Problem
from homodyne.optimization.mcmc_cpu_backend import run_cpu_mcmc_analysis
t = 0.1 * np.arange(1, 21)
phi = np.array([0.0])
c2 = c2_matrix([1324.1, -0.014, -0.674, 0.003, -0.909, 0.0, 0.0], t, phi, 0.0054, 2e6, 0.3, 1.0, "laminar_flow")
pr = Problem.from_arrays(c2, t, phi, 0.0054, default_parameters("laminar_flow"), gap=2e6)
try:
    run_cpu_mcmc_analysis(analysis_core=pr, init=None, progress=False, chains=1, tune=5, draws=5, precision="float32")
except ConfigError as exc:
    print("REFUSED", exc)
"""
    proc = run_python(code)
    assert (
        "REFUSED mcmc.precision = 'float32' is a setting of the NumPyro backend" in proc.stdout
    ), proc.stdout[-2000:] + proc.stderr[-3000:]
