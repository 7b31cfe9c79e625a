"""The ``processes`` chain method of the NumPyro backend on the JAX CPU platform.

Chains split over worker processes, one per core, must give exactly the draws that the
same chains give one after another in this process: each chain has its own key and start
point whatever runs it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from homodyne.optimization.mcmc_gpu_backend import is_gpu_mcmc_available, usable_cores

from ..conftest import JAX_ENVIRONMENT, keep_environment
from .simdata import large_laminar_problem, static_problem

pytestmark = [
    pytest.mark.skipif(not is_gpu_mcmc_available(), reason="NumPyro/JAX not installed"),
    pytest.mark.skipif(
        len(usable_cores()) < 2, reason="needs two usable cores and CPU affinity (Linux)"
    ),
]


@pytest.mark.slow
def test_worker_processes_give_the_draws_of_sequential_chains(monkeypatch) -> None:
    from homodyne.optimization.mcmc_gpu_backend import run_gpu_mcmc_analysis

    keep_environment(monkeypatch, *JAX_ENVIRONMENT)  # the backend sets them for JAX
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    problem, _, _ = static_problem()
    runs = {}
    for method in ("processes", "sequential"):
        runs[method] = run_gpu_mcmc_analysis(
            analysis_core=problem,
            chains=3,  # more chains than the two workers
            tune=15,
            draws=15,
            seed=5,
            progress=False,
            chain_method=method,
        )
    proc, seq = runs["processes"], runs["sequential"]
    assert proc.extra["chain_method"] == "processes"
    assert proc.extra["worker_processes"] == 2
    assert seq.extra["chain_method"] == "sequential"
    for group in ("posterior", "sample_stats"):
        a, b = proc.idata[group], seq.idata[group]
        assert set(a.data_vars) == set(b.data_vars)
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert os.environ["JAX_PLATFORMS"] == "cpu"  # the workers changed nothing here


def test_chains_run_here_when_the_workers_cannot_start(monkeypatch, caplog) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from homodyne.optimization import mcmc_gpu_backend as gb

    def broken(*args, **kwargs):
        raise BrokenProcessPool("a worker could not import the main module")

    monkeypatch.setattr(gb, "_sample_in_processes", broken)
    keep_environment(monkeypatch, *JAX_ENVIRONMENT)  # the backend sets them for JAX
    problem, _, _ = static_problem()
    with caplog.at_level("WARNING", logger=gb.__name__):
        result = gb.run_gpu_mcmc_analysis(
            analysis_core=problem,
            chains=2,
            tune=10,
            draws=10,
            seed=5,
            progress=False,
            chain_method="processes",
        )
    assert result.extra["chain_method"] in ("parallel", "sequential")
    assert "worker_processes" not in result.extra
    assert result.idata.posterior.sizes["chain"] == 2
    assert any("could not run" in r.getMessage() for r in caplog.records)


def test_auto_asks_for_worker_processes_for_large_laminar_problems() -> None:
    """The CPU plan of ``chain_method = "auto"``: processes (each chain with the Numba
    kernel) for laminar problems from PROCESSES_MIN_VALUES values on whose gradient may be
    the Numba kernel; chains in threads with the XLA kernel otherwise."""
    from homodyne.bayes.gradient import kernel_available
    from homodyne.bayes.gradient_xla import numpyro_gradient
    from homodyne.optimization.mcmc_gpu_backend import (
        PROCESSES_MIN_VALUES,
        auto_cpu_chain_method,
    )

    big = PROCESSES_MIN_VALUES
    plan = "processes" if kernel_available() else "parallel"
    assert auto_cpu_chain_method("laminar_flow", None, None, big) == plan
    assert auto_cpu_chain_method("laminar_flow", "numba", "float64", big) == plan
    assert auto_cpu_chain_method("laminar_flow", "auto", None, big - 1) == "parallel"
    assert auto_cpu_chain_method("laminar_flow", "kernel", None, big) == "parallel"
    assert auto_cpu_chain_method("laminar_flow", "autodiff", None, big) == "parallel"
    assert auto_cpu_chain_method("laminar_flow", "auto", "float32", big) == "parallel"
    assert auto_cpu_chain_method("static_anisotropic", "auto", None, 10**7) == "parallel"
    # and the gradient that auto gives each chain method on the CPU (and on a GPU)
    numba = "numba" if kernel_available() else "xla"
    for method in ("processes", "sequential", "vectorized"):
        assert numpyro_gradient("laminar_flow", "auto", False, None, method) == numba
    assert numpyro_gradient("laminar_flow", "auto", False, None, "parallel") == "xla"
    assert numpyro_gradient("laminar_flow", "auto", False, None, None) == "xla"
    assert numpyro_gradient("laminar_flow", "auto", False, "float32", "processes") == "xla"
    assert numpyro_gradient("laminar_flow", "kernel", False, None, "processes") == "xla"
    assert numpyro_gradient("laminar_flow", "auto", True, None, "vectorized") == "autodiff"


@pytest.mark.slow
def test_auto_samples_a_large_laminar_problem_in_worker_processes(monkeypatch) -> None:
    """With every setting at its default, a laminar problem of 50 880 values runs its
    chains in two worker processes with the Numba kernel, and gives exactly the draws
    of the same chains one after another with that kernel in this process."""
    from homodyne.bayes.gradient import kernel_available
    from homodyne.optimization.mcmc_gpu_backend import run_gpu_mcmc_analysis

    if not kernel_available():
        pytest.skip("Numba not installed")
    keep_environment(monkeypatch, *JAX_ENVIRONMENT)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    problem, _, _ = large_laminar_problem()
    common = dict(analysis_core=problem, chains=2, tune=10, draws=10, seed=5, progress=False)
    auto = run_gpu_mcmc_analysis(**common)
    assert auto.extra["chain_method"] == "processes"
    assert auto.extra["worker_processes"] == 2
    assert auto.extra["gradient"] == "numba"
    seq = run_gpu_mcmc_analysis(**common, chain_method="sequential", gradient="numba")
    assert seq.extra["gradient"] == "numba"
    a, b = auto.idata.posterior, seq.idata.posterior
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_a_failed_worker_start_falls_back_to_threads_with_the_xla_kernel(
    monkeypatch, caplog
) -> None:
    """When auto's worker processes cannot start, the chains run in threads here, and
    then with the XLA kernel (auto's choice for chains in threads)."""
    from concurrent.futures.process import BrokenProcessPool

    from homodyne.bayes.gradient import kernel_available
    from homodyne.optimization import mcmc_gpu_backend as gb

    if not kernel_available():
        pytest.skip("Numba not installed")

    def broken(*args, **kwargs):
        raise BrokenProcessPool("a worker could not import the main module")

    monkeypatch.setattr(gb, "_sample_in_processes", broken)
    keep_environment(monkeypatch, *JAX_ENVIRONMENT)
    problem, _, _ = large_laminar_problem()
    with caplog.at_level("WARNING", logger=gb.__name__):
        result = gb.run_gpu_mcmc_analysis(
            analysis_core=problem, chains=2, tune=5, draws=5, seed=5, progress=False
        )
    assert result.extra["chain_method"] in ("parallel", "sequential")
    assert result.extra["gradient"] == (
        "xla" if result.extra["chain_method"] == "parallel" else "numba"
    )
    assert any("could not run" in r.getMessage() for r in caplog.records)
