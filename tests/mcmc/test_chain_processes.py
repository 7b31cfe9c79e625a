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
from .simdata import static_problem

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
