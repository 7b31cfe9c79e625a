"""The joint posterior across q, sampled by both backends in fresh interpreters (the other
stack hidden): its log density is the sum of the single-q terms, both backends agree,
and it recovers a multi-q truth better than any single q."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import HAVE_NUMPYRO, HAVE_PYMC, run_worker_script

sys.path.insert(0, str(Path(__file__).parent))
from _joint_worker import QS, TRUTH, write_case_file

pytestmark = [pytest.mark.mcmc, pytest.mark.slow]
BACKENDS = [
    pytest.param("pymc", marks=pytest.mark.skipif(not HAVE_PYMC, reason="PyMC not installed")),
    pytest.param(
        "numpyro", marks=pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro not installed")
    ),
]


@pytest.fixture(scope="module")
def joint_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_case_file(tmp_path_factory.mktemp("joint_mcmc") / "three_q.h5")


_REPORTS: dict[str, dict] = {}


def report(backend: str, joint_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if backend not in _REPORTS:
        out = tmp_path_factory.mktemp(f"joint_{backend}")
        _REPORTS[backend] = run_worker_script(
            "_joint_worker.py", backend, str(joint_file), str(out), outdir=out
        )
    return _REPORTS[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_joint_log_density_is_the_sum_of_the_ring_terms(backend, joint_file, tmp_path_factory):
    r = report(backend, joint_file, tmp_path_factory)
    np.testing.assert_allclose(r["log_density"], r["reference_log_density"], rtol=1e-11)
    assert len(set(np.round(r["log_density"], 6))) == 3  # three different points


@pytest.mark.parametrize("backend", BACKENDS)
def test_joint_sampling_loads_only_its_own_stack(backend, joint_file, tmp_path_factory):
    r = report(backend, joint_file, tmp_path_factory)
    other = {"jax", "jaxlib", "numpyro"} if backend == "pymc" else {"pymc", "pytensor"}
    assert set(r["hidden"]) == other
    assert r["loaded_before_sampling"] == []
    roots = {m.split(".")[0] for m in r["loaded_after_sampling"]}
    assert roots and not roots & other
    assert r["files"] == [f"mcmc_joint_{backend}.nc", "mcmc_joint_summary.json"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_joint_posterior_recovers_the_truth_better_than_any_single_q(
    backend, joint_file, tmp_path_factory
):
    r = report(backend, joint_file, tmp_path_factory)
    assert r["rings"] == len(QS)
    for name, truth in TRUTH.items():
        p = r["parameters"][name]
        assert abs(p["mean"] - truth) < 3 * p["sd"], (name, p)
        assert p["r_hat"] < 1.05 and p["ess_bulk"] > 400, (name, p)
        best_single = min(s[name][1] for s in r["classical_separate"])
        assert p["sd"] < best_single, (name, p["sd"], best_single)
    # alpha is set by the spread of decay times over the q rings: far better jointly
    alpha_single = min(s["alpha"][1] for s in r["classical_separate"])
    assert r["parameters"]["alpha"]["sd"] < 0.85 * alpha_single
    # the classical joint fit (the start) and the posterior agree
    cj = r["classical_joint"]["D0"]
    assert abs(r["parameters"]["D0"]["mean"] - cj[0]) < 0.5 * cj[1]
    assert abs(r["parameters"]["D0"]["sd"] / cj[1] - 1) < 0.25
    assert r["assessment"]["level"] in ("good", "not-converged")


@pytest.mark.skipif(not (HAVE_PYMC and HAVE_NUMPYRO), reason="needs both backends")
def test_both_backends_agree_on_the_joint_posterior(joint_file, tmp_path_factory) -> None:
    a = report("pymc", joint_file, tmp_path_factory)
    b = report("numpyro", joint_file, tmp_path_factory)
    for name in TRUTH:
        pa, pb = a["parameters"][name], b["parameters"][name]
        mc = np.hypot(pa["mcse_mean"], pb["mcse_mean"])
        assert abs(pa["mean"] - pb["mean"]) < 4 * mc, (name, pa, pb)
        assert 0.8 < pa["sd"] / pb["sd"] < 1.25, (name, pa["sd"], pb["sd"])
    np.testing.assert_allclose(a["log_density"], b["log_density"], rtol=1e-11)
