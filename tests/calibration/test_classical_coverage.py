"""Calibration of the classical standard errors: do they mean what they say?

Many data sets are simulated from one truth with independent Gaussian noise (fixed seeds),
each is fitted, and the fraction of fits whose interval estimate ± k·stderr holds the
truth is compared with its nominal value (68.27 % for k = 1, 95.45 % for k = 2). The
acceptance band is the two-sided 99.9 % binomial interval for that number of sets, so
the test fails for errors that are √2 too small or too large (its power is checked on
the same fits).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from homodyne import model
from homodyne.optimization.classical import fit
from homodyne.parameters import default_parameters
from homodyne.problem import Problem

NOMINAL = {1.0: math.erf(1 / math.sqrt(2)), 2.0: math.erf(2 / math.sqrt(2))}
TRUTH = {"D0": 1000.0, "alpha": -0.5, "D_offset": 10.0}
CONTRAST, OFFSET = 0.2, 1.0
Q, SIGMA, N_FRAMES = 0.02, 0.003, 50


def binomial_band(p: float, n: int, level: float = 0.999) -> tuple[float, float]:
    lo = stats.binom.ppf((1 - level) / 2, n, p) / n
    hi = stats.binom.ppf(1 - (1 - level) / 2, n, p) / n
    return float(lo), float(hi)


def _z_scores(n_sets: int, noise_model: str, seed: int) -> dict[str, np.ndarray]:
    t = 0.1 * np.arange(1, N_FRAMES + 1)
    truth = [TRUTH[k] for k in model.MODES["static_isotropic"]]
    clean = model.c2_matrix(truth, t, np.array([0.0]), Q, 2e6, CONTRAST, OFFSET, "static_isotropic")
    iu, ju = np.triu_indices(N_FRAMES, 1)
    params = default_parameters("static_isotropic")
    rng = np.random.default_rng(seed)
    z: dict[str, list[float]] = {k: [] for k in (*TRUTH, "contrast", "offset")}
    for _ in range(n_sets):
        c2 = clean.copy()
        e = rng.normal(0.0, SIGMA, iu.size)  # one draw per distinct matrix element
        c2[0, iu, ju] += e
        c2[0, ju, iu] += e
        prob = Problem.from_arrays(c2, t, [0.0], Q, params, noise_model=noise_model, sigma=SIGMA)
        r = fit(prob)
        assert r.success, r.message
        for k, v in TRUTH.items():
            z[k].append((r.parameters[k].value - v) / r.parameters[k].stderr)
        z["contrast"].append((r.contrast[0] - CONTRAST) / r.contrast_stderr[0])
        z["offset"].append((r.offset[0] - OFFSET) / r.offset_stderr[0])
    return {k: np.asarray(v) for k, v in z.items()}


def _check(z: dict[str, np.ndarray], n_sets: int) -> None:
    bad = []
    for k_sigma, p in NOMINAL.items():
        lo, hi = binomial_band(p, n_sets)
        for name, zs in z.items():
            frac = float(np.mean(np.abs(zs) < k_sigma))
            if not lo <= frac <= hi:
                bad.append(f"{name}: {frac:.3f} within {k_sigma:g}σ, expected [{lo:.3f}, {hi:.3f}]")
    assert not bad, "; ".join(bad)
    # power: the same fits with errors √2 too small or too large fall outside the band
    lo, hi = binomial_band(NOMINAL[1.0], n_sets)
    for name, zs in z.items():
        assert np.mean(np.abs(zs) < 1 / math.sqrt(2)) < lo, name
        assert np.mean(np.abs(zs) < math.sqrt(2)) > hi, name


def test_absolute_noise_errors_have_nominal_coverage() -> None:
    """noise.model 'fixed' (σ known): cov = (JᵀJ)⁻¹, not rescaled."""
    n_sets = 800
    _check(_z_scores(n_sets, "fixed", seed=2024), n_sets)


def test_estimated_noise_errors_have_nominal_coverage() -> None:
    """noise.model 'estimate' (σ from the data, errors scaled by the reduced χ²)."""
    n_sets = 400
    _check(_z_scores(n_sets, "estimate", seed=7), n_sets)


def test_binomial_band_is_tight_enough() -> None:
    """For 400 sets the 1σ band excludes both the √2-small (52 %) and √2-large (84 %) rates."""
    lo, hi = binomial_band(NOMINAL[1.0], 400)
    assert math.erf(0.5) < lo and math.erf(1.0) > hi
    assert hi - lo < 0.17
