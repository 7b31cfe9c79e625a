"""``mcmc.sampler = "nutpie"``: nutpie's NUTS on the PyMC backend's model.

The option is validated like every ``mcmc`` key, reaches the sampler from the command line
and the environment, says how to install nutpie where it is missing, and samples a small
posterior that agrees with the truth without loading JAX (fresh interpreters). The tests
that need nutpie skip cleanly without it, except under ``CI=true`` (it is in the ``dev``
extra, so a CI machine must have it).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from homodyne.config import config_from_dict, template
from homodyne.errors import ConfigError

from .conftest import HAVE_PYMC, run_python

HERE = Path(__file__).parent
HAVE_NUTPIE = all(importlib.util.find_spec(m) is not None for m in ("nutpie", "numba"))
needs_nutpie = pytest.mark.skipif(
    not (HAVE_NUTPIE and HAVE_PYMC),
    reason="nutpie not installed (pip install 'homodyne-analysis[mcmc-nutpie]')",
)


def test_sampler_key_is_validated() -> None:
    raw = template("static_isotropic")
    raw["mcmc"]["sampler"] = "stan"
    with pytest.raises(ConfigError) as exc:
        config_from_dict(raw, source="cfg.json")
    msg = str(exc.value)
    assert "cfg.json" in msg and "mcmc.sampler" in msg and "'pymc', 'nutpie'" in msg, msg
    raw["mcmc"]["sampler"] = "nutpie"
    assert config_from_dict(raw, source="cfg.json").mcmc.sampler == "nutpie"
    assert config_from_dict(template("static_isotropic"), source="t").mcmc.sampler == "pymc"


def test_command_line_and_environment_set_the_sampler() -> None:
    from homodyne.run_homodyne import _MCMC_FLAGS, environment_overrides

    assert ("--sampler", "sampler") in [(f, k) for f, k, *_ in _MCMC_FLAGS]
    assert environment_overrides({"HOMODYNE_MCMC_SAMPLER": " nutpie "}) == {"sampler": "nutpie"}


_HIDDEN = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from _worker import Blocker
sys.meta_path[:] = [Blocker(("nutpie",), list(sys.meta_path))]
from simdata import static_problem
from homodyne.errors import BackendUnavailableError
from homodyne.optimization.mcmc_cpu_backend import run_cpu_mcmc_analysis
problem, _, _ = static_problem()
try:
    run_cpu_mcmc_analysis(problem, progress=False, sampler="nutpie", chains=2, tune=5, draws=5)
except BackendUnavailableError as exc:
    print("REFUSED", exc)
"""


@pytest.mark.skipif(not HAVE_PYMC, reason="PyMC backend not installed")
def test_missing_nutpie_is_refused_with_the_install_command() -> None:
    proc = run_python(_HIDDEN, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REFUSED" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert 'pip install "homodyne-analysis[mcmc-nutpie]"' in proc.stdout
    assert "mcmc.sampler = 'pymc'" in proc.stdout


_RUN = f"""
import json, sys
sys.path.insert(0, {str(HERE)!r})
from simdata import STATIC, static_problem
from homodyne.optimization.mcmc_cpu_backend import run_cpu_mcmc_analysis
from homodyne.runtime.stacks import imported
problem, _, _ = static_problem()
r = run_cpu_mcmc_analysis(
    problem, progress=False, sampler="nutpie", chains=2, tune=300, draws=300, seed=3
)
s = r.summary
print(json.dumps({{
    "extra": {{k: s.get(k) for k in ("sampler", "pytensor_mode", "gradient")}},
    "library": s["library"],
    "shape": list(r.idata.posterior["D0"].shape),
    "rows": {{k: s["parameters"][k] for k in STATIC}},
    "truth": STATIC,
    "divergences": s["divergences"],
    "jax": imported("jax") or imported("numpyro"),
}}))
"""


@pytest.mark.slow
@needs_nutpie
def test_nutpie_samples_the_posterior_without_jax() -> None:
    proc = run_python(_RUN, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rep["extra"] == {"sampler": "nutpie", "pytensor_mode": "numba", "gradient": "autodiff"}
    assert "nutpie" in rep["library"] and "pymc" in rep["library"]
    assert rep["shape"] == [2, 300]
    assert not rep["jax"], "the PyMC backend with nutpie loaded JAX or NumPyro"
    # nutpie's threads make the chains differ from run to run: statistical bounds only
    assert rep["divergences"] <= 6, rep  # < 1 % of 2 x 300 draws
    for name, row in rep["rows"].items():
        truth = rep["truth"][name]
        assert abs(row["mean"] - truth) <= 4 * row["sd"], (name, row, truth)
        assert row["r_hat"] < 1.1, (name, row)
