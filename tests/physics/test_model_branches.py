"""Branches of homodyne.model that the other references do not reach, against exact values.

The Taylor branches near u = exponent + 1 = 0 and near x = 0 (Jacobian of sinc²) against
high-precision arithmetic (mpmath), the factorised exp(-q²|F_j - F_i|) against the direct
per-pair formula for every shape of F it must handle or refuse, and the angle grouping
at the 180° wrap.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from homodyne import model

mpmath = pytest.importorskip("mpmath")


@pytest.mark.parametrize("u", [9.9e-7, -9.9e-7, 5e-7])
def test_power_law_series_branch_matches_mpmath(u: float) -> None:
    """|u| < 1e-6: the series in z = u ln t equals expm1(u ln t)/u to round-off."""
    t = np.array([2.0, 1e2, 1e4, 1e5])
    got = model.power_law_antiderivative(np.log(t), u - 1.0)
    with mpmath.workdps(50):
        uu = mpmath.mpf(u)
        want = [float(mpmath.expm1(uu * mpmath.log(mpmath.mpf(x))) / uu) for x in t]
    # the z²/6 term is ~1e-11 relative here; the series is good to ~1e-16
    np.testing.assert_allclose(got, want, rtol=2e-15)


@pytest.mark.parametrize("u", [9.9e-7, -9.9e-7])
def test_antiderivative_du_series_branch_matches_mpmath(u: float) -> None:
    """d/du of expm1(u L)/u near u = 0, where the series in u replaces the ratio."""
    for t in (10.0, 1e3, 1e5):
        got = float(model._antiderivative_du(math.log(t), u - 1.0))
        with mpmath.workdps(50):
            uu, L = mpmath.mpf(u), mpmath.log(mpmath.mpf(t))
            want = float((L * mpmath.exp(uu * L) * uu - mpmath.expm1(uu * L)) / uu**2)
        # the u² L⁴/8 term is ~2e-11 relative at t = 1e5
        assert got == pytest.approx(want, rel=1e-14)


def _direct(F: np.ndarray, iu: np.ndarray, ju: np.ndarray, q: float) -> np.ndarray:
    return np.array([math.exp(-q * q * abs(F[j] - F[i])) for i, j in zip(iu, ju, strict=True)])


@pytest.mark.parametrize(
    "F",
    [
        [0.0, 0.5, 1.5, 1.5, 3.0],  # increasing with a flat step
        [3.0, 3.0, 2.0, 0.5],  # decreasing, flat first step
        [3.0, 2.0, 0.5, 0.5],  # decreasing, flat last step
        [2.0, 1.0],  # two frames, decreasing
        [0.0, 0.5, 0.2, 0.7, 0.4],  # not monotone, every step below 1
        [0.0, -0.5, 0.3, -0.2],  # not monotone, starting downwards
        [0.0, 400.0, 900.0],  # span q²ΔF beyond the factorisation limit
        [-500.0, 300.0, 340.0],  # beyond it too, around 0 (factorised: exp(800) overflows)
    ],
)
def test_diffusion_pairs_equal_the_direct_formula(F: list[float]) -> None:
    F_arr = np.array(F)
    iu, ju = model.triangle_indices(F_arr.size)
    for q in (1.0, 0.3):
        got = model._diffusion_pairs(F_arr, iu, ju, q, np)
        np.testing.assert_allclose(got, _direct(F_arr, iu, ju, q), rtol=1e-13, atol=1e-300)


def test_angle_groups_wrap_at_180() -> None:
    """An angle a hair below 180° (or 360°) rounds to 180 and shares the group of 0°."""
    phi = np.array([0.0, 180.0 - 1e-11, 360.0 - 1e-11, 90.0, -1e-11])
    unique, group = model.angle_groups(phi)
    assert group.tolist() == [0, 0, 0, 1, 0]
    np.testing.assert_array_equal(unique, [0.0, 90.0])


def test_sinc_squared_derivative_series_branch_matches_mpmath() -> None:
    """x < 1e-2: d sinc²/dx from the series, via dg1²/dγ_offset = sinc²'(x) x / γ_offset.

    With D ≈ 1 (D0 = 1e-30) and γ0 ≈ 0 the phase is x = (q L / 2) cos φ · γ_offset Δt,
    linear in γ_offset. q L / 2 = 50, γ_offset = 1e-4: x = 5e-3 Δt, below 1e-2 for Δt < 2.
    """
    q, gap, gdot = 0.01, 1.0e4, 1e-4
    t = np.array([1.0, 1.5, 2.2, 2.9])
    iu, ju = model.triangle_indices(t.size)
    params = [1e-30, 0.0, 0.0, 1e-30, 0.0, gdot, 0.0]
    g1sq, jac = model.g1_squared_pairs_and_jacobian(
        params, t, np.array([0.0]), q, gap, iu, ju, "laminar_flow"
    )
    x = 50.0 * gdot * (t[ju] - t[iu])
    assert np.all(x < 1e-2)
    with mpmath.workdps(40):
        want_g = []
        want_d = []
        for xv in x:
            xm = mpmath.mpf(float(xv))
            s = mpmath.sin(xm) / xm
            want_g.append(float(s * s))
            ds = (xm * mpmath.cos(xm) - mpmath.sin(xm)) / xm**2
            want_d.append(float(2 * s * ds * xm / mpmath.mpf(gdot)))
    np.testing.assert_allclose(g1sq[0], want_g, rtol=1e-14)
    # the 8x³/45 term is ~3e-5 relative at x = 1e-2; the next one ~2e-10
    np.testing.assert_allclose(jac[5, 0], want_d, rtol=1e-8)


def test_decorrelation_time_zero_rate_and_slow_shear() -> None:
    """J = 0 exactly: no diffusive decorrelation (τ = inf without shear); with only a slow
    shear (|θ gdot| = w < 1 per s) τ solves sinc(w τ) = e^{-1/2} (mpmath root)."""
    t = np.array([1.0, 2.0, 5.0])
    q, gap = 0.01, 100.0  # θ at φ = φ0: q L / 2 = 0.5
    zero_j = [0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0]  # gdot = 0.4: w = 0.2
    np.testing.assert_array_equal(model.decorrelation_time(zero_j[:3], t, q), np.inf)
    got = model.decorrelation_time(zero_j, t, q, phi_deg=0.0, gap=gap)
    with mpmath.workdps(30):
        x0 = mpmath.findroot(lambda x: mpmath.sin(x) / x - mpmath.exp(-0.5), 1.0)
    np.testing.assert_allclose(got, float(x0) / 0.2, rtol=1e-12)
    # without a gap (its default 0) the shear has no phase: only diffusion, here none
    np.testing.assert_array_equal(model.decorrelation_time(zero_j, t, q, phi_deg=0.0), np.inf)
