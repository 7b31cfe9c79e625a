"""The covariance of the classical fit against linear algebra done here by hand.

For a linear least-squares problem y = X b + noise of variance s², the covariance of the
estimate is s² (XᵀX)⁻¹. The package computes it from the normal matrix H = JᵀJ with a
diagonal scaling and an eigenvalue floor; these tests check that this is the ordinary
inverse where it exists, keeps a degenerate direction unconstrained instead of returning
rounding noise, is scaled by the reduced χ² only when asked, and is carried to physical
units by the delta method.
"""

from __future__ import annotations

import numpy as np
import pytest

from homodyne.optimization.classical import (
    _inverse_normal_matrix,
    correlation_matrix,
    parameter_covariance,
)


def _design(seed: int, n: int = 40, scales=(1e-4, 1.0, 3e3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, len(scales))) * np.asarray(scales)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_well_conditioned_inverse_is_the_ordinary_inverse(seed: int) -> None:
    """Columns of very different scales (1e-4 .. 3e3): still the plain inverse of XᵀX."""
    X = _design(seed)
    H = X.T @ X
    want = np.linalg.inv(H)
    got = _inverse_normal_matrix(H)
    # compared in units of the standard errors (the tiny cross terms of badly scaled
    # columns carry the rounding of either inverse)
    s = np.sqrt(np.diag(want))
    np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=1e-9)
    np.testing.assert_allclose(got / np.outer(s, s), want / np.outer(s, s), atol=1e-9)


def test_monte_carlo_scatter_of_a_linear_fit_matches_the_covariance() -> None:
    """s² (XᵀX)⁻¹ is the covariance of least-squares estimates (2000 seeded data sets)."""
    X = _design(7, n=30, scales=(1.0, 0.5, 2.0))
    b, s = np.array([0.3, -1.2, 2.0]), 0.1
    rng = np.random.default_rng(11)
    est = np.array(
        [np.linalg.lstsq(X, X @ b + s * rng.normal(size=30), rcond=None)[0] for _ in range(2000)]
    )
    cov = parameter_covariance(X.T @ X, np.ones(3), chi2_red=s * s)
    # sample variances of 2000 draws scatter by ~sqrt(2/2000) = 3.2 % (1σ); 12 % is ~4σ
    np.testing.assert_allclose(np.var(est, axis=0, ddof=1), np.diag(cov), rtol=0.12)
    # the errors are not a factor √2 off either way
    ratio = np.std(est, axis=0, ddof=1) / np.sqrt(np.diag(cov))
    assert np.all(np.abs(ratio - 1.0) < 0.1)


def test_degenerate_direction_stays_unconstrained() -> None:
    """Two identical columns: their sum is fixed, their difference is not.

    A plain inverse of the singular matrix returns rounding noise; the floor gives the
    two parameters a huge variance, perfectly anti-correlated, and leaves the third one
    with the variance it has when the pair is replaced by a single column.
    """
    X = _design(5, scales=(1.0, 1.0, 1.0))
    X[:, 1] = X[:, 0]
    H = X.T @ X
    cov = _inverse_normal_matrix(H)
    assert np.all(np.diag(cov) > 0)
    assert cov[0, 0] > 1e9 and cov[1, 1] > 1e9
    corr = correlation_matrix(cov)
    assert corr[0, 1] == pytest.approx(-1.0, abs=1e-6)
    # the sum b0 + b1 is determined: var(b0 + b1) = [1 1] C [1 1]ᵀ as for one column
    reduced = np.linalg.inv(X[:, [0, 2]].T @ X[:, [0, 2]])
    e = np.array([1.0, 1.0, 0.0])
    assert e @ cov @ e == pytest.approx(reduced[0, 0], rel=1e-3)
    assert cov[2, 2] == pytest.approx(reduced[1, 1], rel=1e-6)


def test_floor_is_relative_to_the_largest_eigenvalue() -> None:
    """A direction 1e-10 of the largest (a poorly but truly determined one) is kept as is."""
    H = np.diag([1.0, 1e-10])
    np.testing.assert_allclose(_inverse_normal_matrix(H), np.diag([1.0, 1e10]), rtol=1e-12)
    # below the floor (1e-12 of the largest) it is raised to it, in the scaled basis
    V = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    H = V @ np.diag([2.0, 2e-16]) @ V.T
    got = _inverse_normal_matrix(H)
    want = V @ np.diag([1 / 2.0, 1 / 2e-12]) @ V.T
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_reduced_chi2_scales_the_covariance_only_when_given() -> None:
    X = _design(9)
    H = X.T @ X
    one = np.ones(3)
    plain = parameter_covariance(H, one)
    np.testing.assert_allclose(plain, np.linalg.inv(H), rtol=1e-9)
    np.testing.assert_allclose(parameter_covariance(H, one, chi2_red=2.5), 2.5 * plain, rtol=1e-15)
    np.testing.assert_allclose(parameter_covariance(H, one, chi2_red=1.0), plain, rtol=1e-15)


def test_delta_method_to_physical_units() -> None:
    """Internal z with physical p = exp(z): C_p = D C_z D with D = diag(dp/dz) = diag(p)."""
    X = _design(4, scales=(1.0, 2.0, 0.5))
    H = X.T @ X
    z = np.array([0.5, -2.0, 1.0])
    D = np.diag(np.exp(z))
    want = D @ np.linalg.inv(H) @ D
    got = parameter_covariance(H, np.exp(z), chi2_red=0.7)
    np.testing.assert_allclose(got, 0.7 * want, rtol=1e-9)
    # a negative derivative (p = -z) flips the sign of the cross terms, not of the variances
    flip = parameter_covariance(H, np.array([-1.0, 1.0, 1.0]))
    inv = np.linalg.inv(H)
    np.testing.assert_allclose(np.diag(flip), np.diag(inv), rtol=1e-9)
    np.testing.assert_allclose(flip[0, 1:], -inv[0, 1:], rtol=1e-9)


def test_correlation_by_hand() -> None:
    cov = np.array([[4.0, 2.0, 0.0], [2.0, 9.0, -3.0], [0.0, -3.0, 1.0]])
    want = np.array([[1.0, 1 / 3, 0.0], [1 / 3, 1.0, -1.0], [0.0, -1.0, 1.0]])
    np.testing.assert_allclose(correlation_matrix(cov), want, rtol=1e-15)
    # rounding can push |C_ij| a little above sqrt(C_ii C_jj): clipped to 1
    near = np.array([[1.0, 1.0 + 1e-9], [1.0 + 1e-9, 1.0]])
    assert correlation_matrix(near)[0, 1] == 1.0
    assert correlation_matrix(-near)[0, 0] == -1.0  # negative variances never reach the user
    # a zero variance (a parameter with no effect) gives 0, an infinite one too: no NaN
    # variances far below 1 (parameters in large units) are normalised the same way
    np.testing.assert_allclose(correlation_matrix(1e-8 * cov), want, rtol=1e-12)
    zero = np.array([[0.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(correlation_matrix(zero), [[0.0, 0.0], [0.0, 1.0]])
    inf = np.array([[np.inf, 1.0], [1.0, 4.0]])
    got = correlation_matrix(inf)
    assert np.all(np.isfinite(got)) and got[1, 1] == 1.0 and got[0, 1] == 0.0


def test_parameter_without_effect_is_unconstrained_not_nan() -> None:
    """A zero row and column of H (the parameter changes nothing): variance inf, no NaN."""
    H = np.array([[2.0, 0.0, 0.5], [0.0, 0.0, 0.0], [0.5, 0.0, 1.0]])
    with np.errstate(over="ignore"):  # 1 / (1e-150)² overflows to inf, as meant
        cov = _inverse_normal_matrix(H)
    assert not np.any(np.isnan(cov))
    assert cov[1, 1] > 1e100
    inv = np.linalg.inv(H[np.ix_([0, 2], [0, 2])])
    np.testing.assert_allclose(cov[np.ix_([0, 2], [0, 2])], inv, rtol=1e-9)
