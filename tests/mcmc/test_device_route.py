"""Routing the NumPyro backend's chains between the GPU and the CPU by problem size
(``mcmc.platform``, ``mcmc.gpu_min_values``): the rule, the chain method of routed chains,
and a run on this machine (no GPU: ``platform = "gpu"`` is an actionable error)."""

from __future__ import annotations

import json

import pytest

from homodyne.bayes.device_route import Route, route_platform
from homodyne.errors import ConfigError

from .conftest import HAVE_NUMPYRO, run_python

STATIC_BENCH = 4 * 80 * 79 // 2  # the static 4 x 80² benchmark: 12 640 values
LAMINAR_BENCH = 8 * 200 * 199 // 2  # the laminar 8 x 200² benchmark: 159 200 values
FULL_STACK = 23 * 1000 * 999 // 2  # the full 23 x 1000² stack: 11.5 million values


@pytest.mark.parametrize(
    ("requested", "n", "on_gpu", "platform", "routed"),
    [
        ("auto", STATIC_BENCH, True, "cpu", True),  # small: the CPU although a GPU is present
        ("auto", LAMINAR_BENCH, True, "gpu", False),
        (None, STATIC_BENCH, True, "cpu", True),  # unset counts as auto
        ("auto", 100_000, True, "gpu", False),  # the bound itself goes to the GPU
        ("auto", 99_999, True, "cpu", True),
        ("gpu", STATIC_BENCH, True, "gpu", False),  # explicit: kept whatever the size
        ("cpu", LAMINAR_BENCH, True, "cpu", True),
        ("auto", LAMINAR_BENCH, False, "cpu", False),  # no GPU: the CPU, nothing routed
        ("cpu", STATIC_BENCH, False, "cpu", False),
        ("AUTO", STATIC_BENCH, True, "cpu", True),
    ],
)
def test_route_by_size(requested, n, on_gpu, platform, routed) -> None:
    r = route_platform(requested, 100_000, n, on_gpu)
    assert (r.platform, r.routed) == (platform, routed)
    if routed and requested in (None, "auto", "AUTO"):
        assert f"{n:,} values < mcmc.gpu_min_values 100,000" in r.reason
    if not on_gpu:
        assert r == Route("cpu", False, "")


def test_a_bound_of_zero_sends_everything_to_the_gpu() -> None:
    assert route_platform("auto", 0, 1, True).platform == "gpu"


def test_gpu_requested_without_one_is_an_actionable_error() -> None:
    with pytest.raises(
        ConfigError, match=r"mcmc.platform is 'gpu' but JAX sees no GPU.*'auto' or 'cpu'"
    ):
        route_platform("gpu", 100_000, LAMINAR_BENCH, False)


@pytest.mark.parametrize(("requested", "bound"), [("tpu", 100_000), ("auto", -1)])
def test_bad_values_name_the_key(requested, bound) -> None:
    key = "platform" if requested == "tpu" else "gpu_min_values"
    with pytest.raises(ConfigError, match=f"mcmc.{key}"):
        route_platform(requested, bound, 10, True)


@pytest.mark.parametrize("method", ["auto", "processes", "vectorized", "parallel", "sequential"])
def test_routed_chains_run_in_worker_processes(method) -> None:
    """A process whose JAX holds the GPU runs CPU-routed chains in workers on the JAX CPU
    platform, whatever in-process method was asked for."""
    from homodyne.optimization.mcmc_gpu_backend import routed_chain_method

    assert routed_chain_method(method) == "processes"


def test_configuration_validates_the_keys(tmp_path) -> None:
    from homodyne.config import config_from_dict, template

    d = template("static_isotropic")
    d["mcmc"]["platform"] = "tpu"
    with pytest.raises(ConfigError, match=r"mcmc.platform.*auto.*gpu.*cpu"):
        config_from_dict(d, source="cfg.json")
    d["mcmc"]["platform"] = "cpu"
    d["mcmc"]["gpu_min_values"] = -5
    with pytest.raises(ConfigError, match=r"mcmc.gpu_min_values"):
        config_from_dict(d, source="cfg.json")
    assert template("laminar_flow")["mcmc"]["platform"] == "auto"


@pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro backend not installed")
def test_numpyro_run_honours_the_platform_here() -> None:
    """On this machine (JAX without a GPU unless the GPU tests run): ``cpu`` samples with
    nothing routed, ``gpu`` stops before sampling with the error that says what to do."""
    code = f"""
import json, sys
sys.path.insert(0, {__file__.rsplit("/", 1)[0]!r})
import simdata
from homodyne.errors import ConfigError
from homodyne.optimization.mcmc_gpu_backend import jax_device, run_gpu_mcmc_analysis
problem, _, _ = simdata.static_problem()
out = {{"gpu": jax_device()[1]}}
r = run_gpu_mcmc_analysis(analysis_core=problem, init=None, chains=2, tune=60, draws=40,
                          progress=False, platform="cpu")
out["cpu"] = {{k: r.summary.get(k) for k in ("on_gpu", "platform_route", "chain_method", "device")}}
try:
    run_gpu_mcmc_analysis(analysis_core=problem, init=None, chains=2, tune=60, draws=40,
                          progress=False, platform="gpu")
    out["gpu_error"] = None
except ConfigError as exc:
    out["gpu_error"] = str(exc)
print(json.dumps(out))
"""
    proc = run_python(code, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["gpu"]:
        pytest.skip("JAX sees a GPU here: the GPU tests cover the routes")
    assert out["cpu"]["on_gpu"] is False and out["cpu"]["platform_route"] is None
    assert out["cpu"]["device"].startswith("JAX CPU platform")
    assert "mcmc.platform is 'gpu' but JAX sees no GPU" in out["gpu_error"]


@pytest.mark.parametrize(
    ("mode", "n", "on_gpu", "method", "expected", "platform"),
    [
        # a GPU host: small problems go to CPU worker processes, large ones stay vectorised
        ("static_anisotropic", STATIC_BENCH, True, "auto", "processes", "cpu"),
        ("static_anisotropic", STATIC_BENCH, True, "vectorized", "processes", "cpu"),
        ("laminar_flow", LAMINAR_BENCH, True, "auto", "processes", "cpu"),
        ("laminar_flow", FULL_STACK, True, "auto", "vectorized", "gpu"),
        ("laminar_flow", FULL_STACK, True, "processes", "vectorized", "gpu"),
        # no GPU: the CPU rules as before (parallel below the processes bound)
        ("static_anisotropic", STATIC_BENCH, False, "auto", "parallel", "cpu"),
        ("static_anisotropic", LAMINAR_BENCH, False, "auto", "parallel", "cpu"),
    ],
)
def test_plan_of_the_chains(mode, n, on_gpu, method, expected, platform) -> None:
    from homodyne.bayes.settings import MCMCSettings
    from homodyne.optimization.mcmc_gpu_backend import plan_chains

    settings = MCMCSettings()
    assert settings.platform == "auto" and settings.gpu_min_values == 200_000
    route, chosen = plan_chains(method, settings, mode, n, on_gpu, 1 if on_gpu else 4, 16)
    assert (route.platform, chosen) == (platform, expected)


@pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro backend not installed")
def test_a_gpu_process_routes_a_small_problem_to_cpu_workers() -> None:
    """The sampler's wiring of the route, on this machine: its JAX device is reported as a
    GPU (the one stand-in here; JAX itself runs on the CPU). With the defaults the small
    problem's chains run in worker processes, reported as CPU chains with the reason; with
    a bound of 0 they stay on "the GPU", vectorised. The draws of both are real."""
    code = f"""
import json, sys
sys.path.insert(0, {__file__.rsplit("/", 1)[0]!r})
import simdata
from homodyne.optimization import mcmc_gpu_backend as gb
gb.jax_device = lambda: ("GPU: stand-in for this test", True)
problem, _, _ = simdata.static_problem()
out = {{}}
for name, bound in (("small", None), ("bound_0", 0)):
    kw = dict() if bound is None else dict(gpu_min_values=bound)
    r = gb.run_gpu_mcmc_analysis(analysis_core=problem, init=None, chains=2, tune=60, draws=40,
                                 progress=False, **kw)
    out[name] = {{k: r.summary.get(k) for k in
                 ("on_gpu", "platform_route", "chain_method", "device", "worker_processes")}}
    out[name]["draws"] = int(r.idata.posterior.sizes["draw"])
print(json.dumps(out))
"""
    proc = run_python(code, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    small, big = out["small"], out["bound_0"]
    assert small["on_gpu"] is False and small["chain_method"] == "processes"
    assert small["worker_processes"] >= 1 and small["draws"] == 40
    assert small["device"].startswith("JAX CPU platform") and "worker processes" in small["device"]
    assert "values < mcmc.gpu_min_values 200,000" in small["platform_route"]
    assert big["on_gpu"] is True and big["chain_method"] == "vectorized"
    assert big["device"] == "GPU: stand-in for this test" and big["draws"] == 40
    assert "values >= mcmc.gpu_min_values 0" in big["platform_route"]
