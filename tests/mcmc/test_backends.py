"""Both MCMC backends in fresh interpreters with the other stack hidden: isolation,
routing, posterior recovery on simulated data, cross-validation, result files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from .conftest import HAVE_NUMPYRO, HAVE_PYMC, STACK_MODULES, run_python
from .simdata import LAMINAR, STATIC

TRUTH = {"static": STATIC, "laminar": LAMINAR}
BACKENDS = ("pymc", "numpyro")


@pytest.fixture(scope="session")
def runs(request: pytest.FixtureRequest) -> dict:
    return {
        "pymc": request.getfixturevalue("pymc_run"),
        "numpyro": request.getfixturevalue("numpyro_run"),
    }


def summary(runs: dict, backend: str, case: str) -> dict:
    _, out = runs[backend]
    return json.loads((out / case / "mcmc_summary.json").read_text())


# --------------------------------------------------------------------------- isolation
def test_importing_and_routing_loads_no_stack() -> None:
    """Importing every MCMC module, listing and choosing backends loads no stack (in a
    fresh interpreter; an intent whose backend is not installed gives its error)."""
    code = """
import os, sys, json
import homodyne
from homodyne.errors import BackendUnavailableError
from homodyne.optimization import backends, mcmc, mcmc_cpu_backend, mcmc_gpu_backend
from homodyne.bayes import diagnostics, idata, plots, posterior, prepare, priors, result, run, sampler, settings, space, start
from homodyne.runtime.gpu import gpu_wrapper
rows = backends.list_backends()
names = []
for intent in ("true", "false", "auto"):
    os.environ["HOMODYNE_GPU_INTENT"] = intent
    try:
        names.append(backends.get_mcmc_backend()[1])
    except BackendUnavailableError:
        names.append("unavailable")
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.split('.')[0] in STACKS), "names": names, "rows": [r["name"] for r in rows]}))
""".replace("STACKS", repr(STACK_MODULES))
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] == []
    expected = [
        "NumPyro_GPU_JAX" if HAVE_NUMPYRO else "unavailable",
        "PyMC_CPU" if HAVE_PYMC else "unavailable",
    ]
    assert out["names"][:2] == expected
    assert {"pymc", "numpyro"} <= set(out["rows"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampling_leaves_the_other_stack_unloaded(runs: dict, backend: str) -> None:
    report, _ = runs[backend]
    other = ("jax", "jaxlib", "numpyro") if backend == "pymc" else ("pymc", "pytensor")
    assert set(report["hidden"]) == set(other)
    assert report["loaded_before_sampling"] == []
    loaded_roots = {m.split(".")[0] for m in report["loaded_after_sampling"]}
    assert loaded_roots and not loaded_roots & set(other)
    assert set(report["runs"]) == {"static", "laminar"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_routing_with_the_other_stack_uninstalled(runs: dict, backend: str) -> None:
    report, _ = runs[backend]
    r = report["routing"]
    if backend == "pymc":
        assert report["available"] == {"pymc": True, "numpyro": False}
        assert report["listed"] == {"pymc": True, "numpyro": False}
        assert r["false"]["function"] == "run_cpu_mcmc_analysis"
        assert r["auto"]["function"] == "run_cpu_mcmc_analysis"  # no GPU, PyMC installed
        msg = r["true"]["error"]
        assert "homodyne-analysis[mcmc-gpu]" in msg and "homodyne-analysis-gpu" in msg
        assert "HOMODYNE_GPU_INTENT=true" in msg
    else:
        assert report["available"] == {"pymc": False, "numpyro": True}
        assert r["true"]["function"] == "run_gpu_mcmc_analysis"
        assert r["auto"]["function"] == "run_gpu_mcmc_analysis"  # no PyMC: NumPyro on the CPU
        assert r["auto"]["has_gpu"] is False
        msg = r["false"]["error"]
        assert "homodyne-analysis[mcmc]" in msg and "homodyne-analysis-cpu" in msg


# --------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("case", ["static", "laminar"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_truth_inside_94_percent_hdi(runs: dict, backend: str, case: str) -> None:
    s = summary(runs, backend, case)
    assert s["backend"] == backend
    for name, truth in TRUTH[case].items():
        row = s["parameters"][name]
        assert not row["fixed"]
        assert row["hdi_3%"] <= truth <= row["hdi_97%"], (name, truth, row)
    report, _ = runs[backend]
    con, off = report["runs"][case]["contrast"], report["runs"][case]["offset"]
    for kind, truth in (("contrast", con), ("offset", off)):  # nuisance parameters: within 4 sd
        for i, row in enumerate(s["scaling"][kind]):
            assert abs(row["mean"] - truth[i]) < 4 * row["sd"], (kind, i, truth[i], row)
    assert abs(s["sigma_scale"]["mean"] - 1.0) < 0.05  # the noise σ was estimated correctly


@pytest.mark.parametrize("case", ["static", "laminar"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_short_chains_mix(runs: dict, backend: str, case: str) -> None:
    s = summary(runs, backend, case)
    assert s["divergence_fraction"] < 0.01
    assert s["tree_depth"]["hits_max_treedepth"] == 0
    assert s["tree_depth"]["mean"] < 5.5  # the whitened geometry keeps trajectories short
    for name in TRUTH[case]:
        assert s["parameters"][name]["r_hat"] < 1.05, name
        assert s["parameters"][name]["ess_bulk"] > 100, name


# --------------------------------------------------------------------------- cross-validation
@pytest.mark.parametrize("case", ["static", "laminar"])
def test_backends_agree_on_posterior_means(runs: dict, case: str) -> None:
    a, b = summary(runs, "pymc", case), summary(runs, "numpyro", case)
    for name in TRUTH[case]:
        ra, rb = a["parameters"][name], b["parameters"][name]
        mcse = math.hypot(ra["mcse_mean"], rb["mcse_mean"])
        tol = 4.0 * mcse + 0.05 * max(ra["sd"], rb["sd"])
        assert abs(ra["mean"] - rb["mean"]) <= tol, (name, ra["mean"], rb["mean"], tol)
        assert ra["sd"] == pytest.approx(rb["sd"], rel=0.25), name


@pytest.mark.parametrize("case", ["static", "laminar"])
def test_backends_evaluate_the_same_log_density(runs: dict, case: str) -> None:
    """Both backends, with the gradient each selects (laminar: the hand-written kernel)
    and with automatic differentiation of the model, give one log density."""
    la = runs["pymc"][0]["runs"][case]["log_density"]
    lb = runs["numpyro"][0]["runs"][case]["log_density"]
    assert np.all(np.isfinite(la))
    np.testing.assert_allclose(la, lb, rtol=1e-10, atol=1e-6)
    for backend in BACKENDS:
        own = runs[backend][0]["runs"][case]
        np.testing.assert_allclose(own["log_density"][:2], own["log_density_autodiff"], rtol=1e-12)


def test_same_inferencedata_from_both_backends(runs: dict) -> None:
    from homodyne.results.inference_data import read_netcdf

    datasets = {b: read_netcdf(runs[b][1] / "laminar" / f"mcmc_{b}.nc") for b in BACKENDS}
    groups = {b: set(d.children) for b, d in datasets.items()}
    assert groups["pymc"] == groups["numpyro"]
    assert {"posterior", "sample_stats", "observed_data", "constant_data"} <= groups["pymc"]
    for group in ("posterior", "sample_stats", "observed_data", "constant_data"):
        va = {k: datasets["pymc"][group][k].dims for k in datasets["pymc"][group].data_vars}
        vb = {k: datasets["numpyro"][group][k].dims for k in datasets["numpyro"][group].data_vars}
        assert va == vb, group
    post = set(datasets["pymc"].posterior.data_vars)
    assert post == {*LAMINAR, "contrast", "offset", "sigma_scale"}
    assert datasets["pymc"].posterior["contrast"].dims == ("chain", "draw", "angle")
    assert "diverging" in datasets["numpyro"].sample_stats
    for tree in datasets.values():  # run attributes on the root, as before ArviZ 1
        assert tree.attrs["homodyne_mode"] == "laminar_flow"
    np.testing.assert_array_equal(
        datasets["pymc"].observed_data["c2_obs"], datasets["numpyro"].observed_data["c2_obs"]
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_result_files_and_summary(runs: dict, backend: str) -> None:
    report, out = runs[backend]
    files = report["runs"]["static"]["files"]
    assert files == [
        f"mcmc_{backend}.nc",
        "mcmc_summary.json",
        "mcmc_trace.png",
        "mcmc_corner.png",
        "mcmc_residuals.png",
    ]
    for f in files:
        assert (out / "static" / f).stat().st_size > 1000
    s = summary(runs, backend, "static")
    for key in (
        "backend",
        "backend_name",
        "device",
        "parameters",
        "divergences",
        "time",
        "data_reduction",
        "verdict",
        "settings",
    ):
        assert key in s
    row = s["parameters"]["D0"]
    for key in ("mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail", "mcse_mean"):
        assert isinstance(row[key], float)
    assert s["verdict"]["thresholds"] == {
        "rhat_max": 1.01,
        "ess_min": 400.0,
        "divergence_max_fraction": 0.01,
    }
    # _worker.py draws 800 per chain in the static case
    assert s["settings"]["chains"] == 2 and s["settings"]["draws"] == 800
    assert s["data_reduction"]["fraction_used"] == 1.0
    assert s["time"]["total_s"] > 0
    assert (out / "static" / "mcmc_summary.json").read_text().find("NaN") < 0
