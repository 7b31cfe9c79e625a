"""The Gaussian log-likelihood of the Bayesian layer against scipy's normal density.

Both MCMC backends add ``gaussian_log_likelihood`` to their log density; here it is
compared, term by term, with ``scipy.stats.norm.logpdf`` summed over every value (the
independent reference), on shapes where the number of angles and of pairs differ.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from homodyne.bayes.posterior import gaussian_log_likelihood


@pytest.mark.parametrize(("n_angles", "m"), [(1, 7), (3, 11), (5, 2)])
def test_equals_the_sum_of_normal_log_densities(n_angles: int, m: int) -> None:
    rng = np.random.default_rng(n_angles * 100 + m)
    sigma = rng.uniform(0.001, 0.05, n_angles)
    mu = rng.uniform(1.0, 1.3, (n_angles, m))
    for sigma_scale in (1.0, 0.37, 2.9):
        data = mu + rng.normal(0.0, 1.0, mu.shape) * (sigma_scale * sigma)[:, None]
        data[0, 0] += 5 * sigma[0]  # one outlier: the quadratic term matters
        want = stats.norm.logpdf(data, mu, (sigma_scale * sigma)[:, None]).sum()
        got = gaussian_log_likelihood(data, mu, sigma, sigma_scale, np)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_each_term_scales_as_it_should() -> None:
    """The residual term ∝ 1/σ², the normalisation ∝ -m·A·log σ: doubling σ changes the
    log-likelihood by exactly -m·A·log 2 + (3/8)·Σr²/σ²."""
    rng = np.random.default_rng(3)
    sigma = np.array([0.01, 0.02])
    mu = np.ones((2, 9))
    data = mu + rng.normal(0, 0.015, mu.shape)
    base = gaussian_log_likelihood(data, mu, sigma, 1.0, np)
    doubled = gaussian_log_likelihood(data, mu, sigma, 2.0, np)
    chi2 = float(np.sum(((data - mu) / sigma[:, None]) ** 2))
    assert doubled - base == pytest.approx(-18 * np.log(2.0) + 0.375 * chi2, rel=1e-12)
    exact = gaussian_log_likelihood(mu, mu, sigma, 1.0, np)
    assert exact == pytest.approx(-9 * np.sum(np.log(sigma)) - 9 * np.log(2 * np.pi), rel=1e-14)
