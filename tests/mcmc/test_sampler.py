"""The sampler protocol and the one orchestration (homodyne.bayes.run) with a toy sampler:
no MCMC stack, the real problem preparation, start, posterior, InferenceData and result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from homodyne.bayes.idata import SAMPLE_STATS
from homodyne.bayes.run import run_function
from homodyne.bayes.sampler import BackendRecord, Draws, MCMCBackend
from homodyne.bayes.start import initial_points
from homodyne.config import config_from_dict, template
from homodyne.errors import ConfigError
from homodyne.optimization import backends

from .simdata import static_problem

pytest.importorskip("arviz")


class ToySampler:
    """Draws around the start (not a posterior sampler): exercises the orchestration."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def draw(self, spec, settings, start, *, progress, options):
        self.calls.append(
            {"spec": spec, "settings": settings, "start": start, "progress": progress, **options}
        )
        rng = np.random.default_rng(settings.seed)
        shape = (settings.chains, settings.draws)
        z = start[:, None, :] + 0.01 * rng.normal(size=(*shape, spec.k))
        stats = {
            "diverging": np.zeros(shape, dtype=bool),
            "n_steps": np.full(shape, 7, dtype=np.int64),
            "tree_depth": np.full(shape, 3, dtype=np.int64),
            "step_size": np.full(shape, 0.5),
            "acceptance_rate": np.full(shape, 0.9),
            "energy": rng.normal(size=shape),
            "lp": rng.normal(size=shape),
        }
        return Draws(z, stats, "toy device", {"toy": "1.0"}, 2.5, 0.25, {"toy_option": 1})


def test_orchestration_builds_the_shared_result_from_a_samplers_draws(tmp_path) -> None:
    sampler = ToySampler()
    run = run_function(sampler, "toy", "Toy_CPU")
    problem, _, _ = static_problem()
    cfg = config_from_dict({**template("static_anisotropic"), "mcmc": {"init": "config"}})
    result = run(analysis_core=problem, config=cfg, progress=False, chains=3, draws=40, seed=5)
    (call,) = sampler.calls
    # the sampler gets the reduced problem's spec, the resolved settings and the chains' starts
    assert call["settings"].chains == 3 and call["settings"].draws == 40
    assert call["progress"] is False
    np.testing.assert_array_equal(call["start"], initial_points(call["spec"], 3, 5))
    assert result.spec is call["spec"] and result.backend == "toy"
    assert result.backend_name == "Toy_CPU" and result.device == "toy device"
    post = result.idata.posterior
    assert post["D0"].shape == (3, 40) and post["contrast"].shape == (3, 40, problem.n_angles)
    assert set(result.idata.sample_stats.data_vars) == set(SAMPLE_STATS) - {"reached_max_treedepth"}
    # timing: the orchestration's setup plus the sampler's preparation, and the sampling
    t = result.timing
    assert t["sampling_s"] == 0.25 and t["setup_s"] >= 2.5 and t["total_s"] >= 0
    s = result.summary
    assert s["toy_option"] == 1 and s["library"] == {"toy": "1.0"}
    assert s["start"]["source"] == "configuration initial values"
    json.dumps(s, allow_nan=False)
    files = result.save(tmp_path, plots=False)
    assert {f.name for f in files} == {"mcmc_toy.nc", "mcmc_summary.json"}


def test_options_reach_the_sampler_and_bad_settings_do_not() -> None:
    from homodyne.bayes.run import run_mcmc

    sampler = ToySampler()
    problem, _, _ = static_problem()
    run_mcmc(
        sampler,
        backend="toy",
        backend_name="Toy_CPU",
        analysis_core=problem,
        progress=False,
        options={"cores": 3},
        overrides={"chains": 2, "draws": 10, "init": "config"},
    )
    assert sampler.calls[-1]["cores"] == 3
    with pytest.raises(ConfigError, match="target_accept"):
        run_mcmc(
            sampler,
            backend="toy",
            backend_name="Toy_CPU",
            analysis_core=problem,
            overrides={"target_accept": 2.0},
        )
    assert len(sampler.calls) == 1


def test_built_in_backends_are_typed_records() -> None:
    for name in ("pymc", "numpyro"):
        b = backends.load_backend(name)
        assert isinstance(b, MCMCBackend) and isinstance(b, BackendRecord)
    toy = MCMCBackend("toy", "Toy_CPU", "toy", run_function(ToySampler(), "toy", "T"), ("json",))
    assert isinstance(toy, BackendRecord) and toy.is_available()


def test_an_entry_point_that_is_not_a_backend_record_is_refused(monkeypatch) -> None:
    monkeypatch.setitem(backends.BUILTIN, "not_a_backend", "json:loads")
    with pytest.raises(ConfigError, match=r"not a backend record.*'name'"):
        backends.load_backend("not_a_backend")
