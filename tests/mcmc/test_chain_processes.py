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

from .simdata import static_problem

pytestmark = [
    pytest.mark.skipif(not is_gpu_mcmc_available(), reason="NumPyro/JAX not installed"),
    pytest.mark.skipif(
        len(usable_cores()) < 2, reason="needs two usable cores and CPU affinity (Linux)"
    ),
]


def test_worker_processes_give_the_draws_of_sequential_chains(monkeypatch) -> None:
    from homodyne.optimization.mcmc_gpu_backend import run_gpu_mcmc_analysis

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
