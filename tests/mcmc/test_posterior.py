"""The backend-neutral posterior pieces (NumPy only): priors, the reparameterisation and
its Jacobian, the start, data reduction, settings and the verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from homodyne.bayes.diagnostics import verdict
from homodyne.bayes.posterior import build_posterior_spec
from homodyne.bayes.prepare import prepare_problem
from homodyne.bayes.priors import prior_for
from homodyne.bayes.run import setup_run
from homodyne.bayes.settings import MCMCSettings
from homodyne.config import config_from_dict, template
from homodyne.errors import ConfigError
from homodyne.optimization.classical import fit
from homodyne.parameters import Parameter, Prior

from .simdata import LAMINAR, STATIC, laminar_problem, static_problem


@pytest.fixture(scope="module")
def specs():
    out = {}
    for name, make in (("static", static_problem), ("laminar", laminar_problem)):
        problem, _, _ = make()
        out[name] = build_posterior_spec(problem, fit(problem, multistart=4))
    return out


@pytest.mark.parametrize(
    ("prior", "lo", "hi", "reference"),
    [
        (
            Prior("Normal", 1.0, 2.0),
            -1.0,
            4.0,
            stats.truncnorm((-1 - 1) / 2, (4 - 1) / 2, loc=1, scale=2),
        ),
        (
            Prior("TruncatedNormal", 50.0, 1.0),
            0.0,
            48.0,
            stats.truncnorm(-50, -2, loc=50, scale=1),
        ),  # far tail
        (Prior("LogNormal", math.log(1000), 0.5), 1.0, 1e6, None),
        (Prior("Uniform"), -2.0, 2.0, stats.uniform(-2, 4)),
    ],
)
def test_priors_are_truncated_to_the_bounds(prior, lo, hi, reference) -> None:
    p = Parameter("x", min(max(0.5 * (lo + hi), lo), hi), lo, hi, prior=prior)
    spec = prior_for("x", p)
    xs = np.linspace(lo, hi, 7)[1:-1]
    if spec.dist == "Normal":
        ours = stats.norm(spec.mu, spec.sigma).logpdf(xs) + spec.log_norm
    elif spec.dist == "LogNormal":
        base = stats.lognorm(s=spec.sigma, scale=math.exp(spec.mu))
        ours = base.logpdf(xs) + spec.log_norm
        reference = None
        mass = base.cdf(hi) - base.cdf(lo)
        np.testing.assert_allclose(ours, base.logpdf(xs) - math.log(mass), rtol=1e-10)
    else:
        ours = np.full(xs.shape, -math.log(spec.upper - spec.lower))
    if reference is not None:
        np.testing.assert_allclose(ours, reference.logpdf(xs), rtol=1e-9)


def test_far_tail_prior_keeps_a_finite_normaliser() -> None:
    p = Parameter("x", 0.5, 0.0, 1.0, prior=Prior("Normal", 1e3, 1.0))
    spec = prior_for("x", p)
    assert math.isfinite(spec.log_norm) and spec.log_norm > 4e5  # mass ~ exp(-5e5), in log space
    # the truncated density integrates to 1 over the bounds
    xs = np.linspace(0.0, 1.0, 20001)
    dens = np.exp(stats.norm(1e3, 1.0).logpdf(xs) + spec.log_norm)
    assert np.trapezoid(dens, xs) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("case", ["static", "laminar"])
def test_reparameterisation_round_trip_and_jacobian(specs, case) -> None:
    spec = specs[case]
    space = spec.space
    rng = np.random.default_rng(0)
    for z in rng.normal(0.0, 0.7, size=(5, spec.k)):
        theta, logjac = space.transform(z, np)
        assert np.isfinite(logjac)
        np.testing.assert_allclose(space.to_z(theta), z, atol=1e-6)
        jac = np.empty((spec.k, spec.k))  # dθ/dz by central differences
        for i in range(spec.k):
            h = 1e-6
            e = np.zeros(spec.k)
            e[i] = h
            jac[:, i] = (space.to_theta(z + e) - space.to_theta(z - e)) / (2 * h)
        sign, logdet = np.linalg.slogdet(jac)
        assert sign != 0
        assert logjac == pytest.approx(logdet, abs=1e-4)


@pytest.mark.parametrize("case", ["static", "laminar"])
def test_samples_stay_inside_the_bounds(specs, case) -> None:
    spec = specs[case]
    theta = spec.space.to_theta(np.random.default_rng(1).normal(0.0, 3.0, size=(2000, spec.k)))
    params = spec.problem.parameters
    ok = np.isfinite(spec.space.transform(np.zeros(spec.k), np)[1])
    assert ok
    for j, name in enumerate(spec.free_names):
        lo, hi = params[name].min, params[name].max
        inside = (theta[:, j] >= lo) & (theta[:, j] <= hi)
        # D0/alpha (and the shear amplitude/exponent) come from the unbounded value/slope
        # coordinates: points outside their bounds get zero density, the rest are inside.
        if name in ("D_offset", "gamma_dot_t_offset", "phi0"):
            assert inside.all(), name
    S = spec.n_scaling
    cs = theta[:, spec.n_free : spec.n_free + S]
    assert (cs >= spec.problem.contrast_bounds[0]).all() and (
        cs <= spec.problem.contrast_bounds[1]
    ).all()
    assert (theta[:, -1] > 0).all()


def test_power_law_amplitudes_are_sampled_through_their_value(specs) -> None:
    spec = specs["laminar"]
    names = spec.space.names
    assert names[:7] == (
        "J_ref",
        "alpha",
        "D_offset",
        "gdot_ref",
        "beta",
        "gamma_dot_t_offset",
        "phi0",
    )
    assert not spec.space.bounded[0] and spec.space.bounded[1]
    pl = spec.space.power_laws[0]
    theta = spec.start["theta"]
    y = spec.space.to_y(theta)
    tref = math.exp(pl.log_tref)
    d0, alpha, doff = theta[:3]
    assert y[0] == pytest.approx(d0 * tref**alpha + doff)  # J(t_ref)


def test_power_law_kept_only_far_from_its_zero_density_wall(monkeypatch, specs) -> None:
    """auto: a power-law map whose wall f(t_ref) - c = 0 is within POWER_LAW_WALL_SD
    posterior sd of the start is dropped (that amplitude keeps its logit coordinate)."""
    from homodyne.bayes import space as mcmc_space

    spec = specs["static"]
    (pl,) = spec.space.power_laws
    dist = mcmc_space._wall_distance_sd(spec.space, pl)
    # the distance in sd of value - c, from the whitening's covariance
    theta = spec.start["theta"]
    value = spec.space.to_y(theta)[pl.amp]
    assert dist > mcmc_space.POWER_LAW_WALL_SD
    assert value - theta[pl.off] > 0
    problem, _, _ = static_problem()
    start = fit(problem, multistart=4)
    monkeypatch.setattr(mcmc_space, "POWER_LAW_WALL_SD", 1.01 * dist)
    near = build_posterior_spec(problem, start)
    assert near.space.power_laws == () and near.space.names[0] == "D0"
    forced = build_posterior_spec(problem, start, "power_law")  # forced: kept regardless
    assert forced.space.names[0] == "J_ref"
    monkeypatch.setattr(mcmc_space, "POWER_LAW_WALL_SD", 0.99 * dist)
    assert build_posterior_spec(problem, start, "auto").space.names[0] == "J_ref"


def test_loose_exponent_turns_every_power_law_map_off(monkeypatch, specs) -> None:
    """auto: when the data leave any exponent loosely determined (sd above
    POWER_LAW_EXPONENT_SPREAD of its bound width), no amplitude uses the value coordinate."""
    from homodyne.bayes import space as mcmc_space

    spec = specs["laminar"]
    spreads = [mcmc_space._exponent_spread(spec.space, pl) for pl in spec.space.power_laws]
    assert len(spreads) == 2 and max(spreads) < mcmc_space.POWER_LAW_EXPONENT_SPREAD
    problem, _, _ = laminar_problem()
    start = fit(problem, multistart=4)
    # a threshold between the two spreads: one exponent counts as loose, and both maps go
    assert spreads[0] != spreads[1]
    monkeypatch.setattr(mcmc_space, "POWER_LAW_EXPONENT_SPREAD", 0.5 * (spreads[0] + spreads[1]))
    loose = build_posterior_spec(problem, start)
    assert loose.space.power_laws == ()
    assert loose.space.names[0] == "D0" and loose.space.names[3] == "gamma_dot_t0"


def test_start_from_fit_or_configuration(specs) -> None:
    problem, contrast, _ = static_problem()
    from_config = build_posterior_spec(problem, None)
    assert from_config.start["source"] == "configuration initial values"
    np.testing.assert_allclose(from_config.start["values"], problem.parameters.values())
    assert specs["static"].start["source"].startswith("classical fit")
    assert specs["static"].start["values"][0] == pytest.approx(STATIC["D0"], rel=0.05)
    np.testing.assert_allclose(specs["static"].start["contrast"], contrast, rtol=0.05)


def test_whitening_matches_the_classical_covariance(specs) -> None:
    """Near the optimum the whitened coordinates have unit scale: cov(θ) ≈ the classical one."""
    spec = specs["laminar"]
    problem, _, _ = laminar_problem()
    res = fit(problem, multistart=4)
    z = np.random.default_rng(2).normal(size=(4000, spec.k)) * 1e-3  # linear regime
    theta = spec.space.to_theta(z)
    cov = np.cov(theta[:, :7].T) * 1e6
    for j, name in enumerate(spec.free_names):
        if name in ("gamma_dot_t0", "beta", "gamma_dot_t_offset", "phi0"):  # well determined
            assert math.sqrt(cov[j, j]) == pytest.approx(res.parameters[name].stderr, rel=0.5), name


def test_data_reduction_is_applied_and_reported() -> None:
    problem, _, _ = laminar_problem()
    full, spec, settings, _ = setup_run(
        problem, None, None, None, True, None, {"frame_stride": 2, "max_lag": 5, "init": "config"}
    )
    red = __import__("homodyne.bayes.prepare", fromlist=["reduction_report"]).reduction_report(
        full, spec.problem
    )
    assert settings.frame_stride == 2 and settings.max_lag == 5
    assert red["n_frames_full"] == 50 and red["n_frames_used"] == 25
    assert red["n_pairs_used"] == sum(min(5, 24 - i) for i in range(25)) == spec.problem.n_pairs
    assert red["fraction_used"] == pytest.approx(spec.problem.n_data / full.n_data)
    np.testing.assert_array_equal(spec.problem.sigma, full.sigma)  # noise from all frames
    assert (spec.problem.ju - spec.problem.iu).max() == 5


def test_settings_come_from_config_and_overrides() -> None:
    cfg = config_from_dict(
        {
            **template("static_isotropic"),
            "mcmc": {**template("static_isotropic")["mcmc"], "draws": 123},
        }
    )
    problem, _, _ = static_problem()
    _, _, settings, _ = setup_run(
        problem, cfg, None, None, True, None, {"tune": 7, "init": "config"}
    )
    assert settings.draws == 123 and settings.tune == 7 and settings.chains == 2
    with pytest.raises(ConfigError, match="unknown MCMC option"):
        setup_run(problem, cfg, None, None, True, None, {"drawz": 5})
    with pytest.raises(ConfigError, match="target_accept"):
        setup_run(problem, cfg, None, None, True, None, {"target_accept": 1.5})


def test_classical_start_uses_the_configured_classical_fit(monkeypatch) -> None:
    """mcmc.init = classical without a given fit: the start is the configured classical fit
    (homodyne.optimization.classical.fit_configured, all classical.* settings), as under
    --method classical."""
    from homodyne.optimization import classical

    problem, _, _ = static_problem()
    cfg = config_from_dict({**template("static_anisotropic"), "classical": {"ftol": 1e-6}})
    seen = {}
    real = classical.fit_configured

    def spy(config, prob, progress=None):
        seen["ftol"] = config.classical["ftol"]
        return real(config, prob, progress)

    monkeypatch.setattr(classical, "fit_configured", spy)
    _, spec, _, _ = setup_run(problem, cfg, None, None, True, None, {"init": "classical"})
    assert seen == {"ftol": 1e-6}
    assert spec.start["source"].startswith("classical fit")


def test_seed_api_builds_the_problem_from_arrays() -> None:
    problem, _, _ = laminar_problem()
    c2 = problem.full_matrix(problem.data, 1.3)
    raw = template("laminar_flow")
    raw["data"]["dt"] = 0.2
    raw["angle_filter"].update(enabled=True, ranges=[[-10.0, 10.0], [80.0, 100.0]])
    cfg = config_from_dict(raw)
    built = prepare_problem(None, cfg, c2, problem.phi, filter_angles_for_optimization=True)
    np.testing.assert_allclose(built.phi, [-4.0, 90.0])  # angle filter applied
    np.testing.assert_allclose(built.t, problem.t)
    np.testing.assert_allclose(built.data, problem.data[[0, 3]])
    unfiltered = prepare_problem(None, cfg, c2, problem.phi, filter_angles_for_optimization=False)
    assert unfiltered.n_angles == 4
    assert prepare_problem(problem, cfg) is problem


def test_verdict_thresholds() -> None:
    s = MCMCSettings(chains=4, draws=1000)
    good = {
        "a": {"r_hat": 1.002, "ess_bulk": 900.0, "ess_tail": 800.0},
        "b": {"r_hat": 1.005, "ess_bulk": 1200.0, "ess_tail": 700.0},
    }
    v = verdict(good, 0, 4000, 4, s)
    assert v["passed"] and v["text"].startswith("converged")
    bad = {**good, "c": {"r_hat": 1.02, "ess_bulk": 350.0, "ess_tail": 900.0}}
    v = verdict(bad, 50, 4000, 4, s)
    assert not v["passed"]
    assert v["checks"]["r_hat"]["worst"] == "c" and not v["checks"]["r_hat"]["ok"]
    assert v["checks"]["ess_bulk"]["value"] == 350.0 and not v["checks"]["ess_bulk"]["ok"]
    assert v["checks"]["divergences"]["count"] == 50 and not v["checks"]["divergences"]["ok"]
    assert "1.02" in v["text"] and "350" in v["text"] and "50 divergent" in v["text"]
    one_chain = verdict({"a": {"r_hat": None, "ess_bulk": 900.0, "ess_tail": 900.0}}, 0, 1000, 1, s)
    assert not one_chain["passed"] and "2 chains" in one_chain["text"]
    loose = MCMCSettings(rhat_max=1.05, ess_min=300, divergence_max_fraction=0.02)
    assert verdict(bad, 50, 4000, 4, loose)["passed"]


def test_laminar_truth_is_a_point_of_the_support(specs) -> None:
    spec = specs["laminar"]
    theta = spec.start["theta"].copy()
    theta[: spec.n_free] = [LAMINAR[n] for n in spec.free_names]
    z = spec.space.to_z(theta)
    back, lj = spec.space.transform(z, np)
    assert np.isfinite(lj)
    np.testing.assert_allclose(back[: spec.n_free], theta[: spec.n_free], rtol=1e-8)


def test_result_from_draws_shared_scaling(tmp_path) -> None:
    """The shared result type without a sampler: summary, verdict, files, plots."""
    pytest.importorskip("arviz")
    import json as _json
    from dataclasses import replace

    from homodyne.bayes.result import build_result
    from homodyne.bayes.settings import MCMCSettings

    problem, _, _ = static_problem()
    problem = replace(problem, scaling_mode="shared")
    spec = build_posterior_spec(problem, fit(problem, multistart=2))
    assert spec.n_scaling == 1
    rng = np.random.default_rng(4)
    chains, draws = 2, 200
    z = rng.normal(size=(chains, draws, spec.k))
    stats = {
        "diverging": np.zeros((chains, draws), bool),
        "n_steps": np.full((chains, draws), 7),
        "tree_depth": np.full((chains, draws), 3),
        "step_size": np.full((chains, draws), 0.5),
        "lp": rng.normal(size=(chains, draws)),
    }
    settings = MCMCSettings(chains=chains, draws=draws, tune=10)
    res = build_result(
        spec=spec,
        full_problem=problem,
        z=z,
        stats=stats,
        backend="test",
        backend_name="Test",
        device="CPU",
        settings=settings,
        timing={"total_s": 1.0, "sampling_s": 0.5},
        library={},
    )
    s = res.summary
    assert len(s["scaling"]["contrast"]) == 1 and "mean" in s["scaling"]["contrast"][0]
    assert res.idata.posterior["contrast"].dims == ("chain", "draw", "scaling")
    assert s["verdict"]["passed"] in (True, False) and s["divergences"] == 0
    # independent standard-normal z: R-hat ≈ 1 and the means are the start values
    assert s["parameters"]["alpha"]["r_hat"] < 1.02
    assert s["parameters"]["D0"]["fixed"] is False and s["tree_depth"]["mean"] == 3
    files = res.save(tmp_path)
    assert sorted(f.name for f in files) == sorted(
        [
            "mcmc_test.nc",
            "mcmc_summary.json",
            "mcmc_trace.png",
            "mcmc_corner.png",
            "mcmc_residuals.png",
        ]
    )
    loaded = _json.loads((tmp_path / "mcmc_summary.json").read_text())
    assert loaded["backend"] == "test" and loaded["data_reduction"]["fraction_used"] == 1.0
    assert "D0" in res.report() and "verdict" in res.report()
    assert res["posterior_means"].keys() == {"D0", "alpha", "D_offset"}


def test_start_on_a_bound_is_moved_inside_before_whitening() -> None:
    """A classical optimum on a bound (here the offset on its lower bound, a replicate of
    the simulation-based calibration) is a poor centre for the logit whitening: there the
    data's information in the logit coordinate is ~s(1 - s) smaller, and its whitening
    scale came out 7 (logit units) against about 1 in the posterior bulk. The centre is
    kept one Gauss-Newton sd inside the bounds; an interior start is left where it is."""
    from tests.calibration._sbc_worker import problem_and_truth

    problem, _ = problem_and_truth(np.random.default_rng([20250101, 0]))
    res = fit(problem)
    assert res.offset[0] == pytest.approx(problem.offset_bounds[0], abs=1e-9)  # the case
    spec = build_posterior_spec(problem, res)
    i = spec.space.names.index("offset[0]")
    lo, hi = problem.offset_bounds
    frac = (spec.start["theta"][i] - lo) / (hi - lo)
    assert 0.05 < frac < 0.5  # one sd (about 0.0095, of a width of 0.1) inside, not 1 % (_EDGE)
    sd_y = np.sqrt(np.diag(spec.space.root @ spec.space.root.T))
    assert sd_y[i] < 3.0

    problem, _ = problem_and_truth(np.random.default_rng([20250101, 1]))
    res = fit(problem)
    spec = build_posterior_spec(problem, res)
    theta0 = np.concatenate(
        [[res.parameters["D0"].value, res.parameters["alpha"].value], res.contrast, res.offset]
    )
    np.testing.assert_allclose(spec.start["theta"][1:4], theta0[1:4], rtol=1e-9)
