"""The derived-quantity helpers of the model (J(t), gdot(t), the local 1/e decorrelation
time) against values computed here: the rates by hand, τ_e by a root finder (brentq) on
its defining equation with the sine of the standard library."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from homodyne import model

THETA = [1000.0, -0.2, 5.0, 0.01, -0.5, 2e-3, 5.0]
Q, GAP = 0.0054, 2.0e6


def test_rates_by_hand() -> None:
    t = np.array([0.25, 1.0, 4.0])
    # 1000 t^-0.2 + 5 and 0.01 t^-0.5 + 0.002
    want_j = [1000.0 * 4**0.2 + 5.0, 1005.0, 1000.0 / 4**0.2 + 5.0]
    want_g = [0.022, 0.012, 0.007]
    np.testing.assert_allclose(model.transport_coefficient(THETA, t), want_j, rtol=1e-14)
    np.testing.assert_allclose(model.shear_rate(THETA, t), want_g, rtol=1e-14)


def _tau_reference(t: float, phi: float | None) -> float:
    j = THETA[0] * t ** THETA[1] + THETA[2]
    if phi is None:
        return 1.0 / (Q * Q * j)
    w = abs(0.5 * Q * GAP * math.cos(math.radians(THETA[6] - phi))) * (
        THETA[3] * t ** THETA[4] + THETA[5]
    )

    def f(tau: float) -> float:
        x = w * tau
        s2 = 1.0 if x == 0 else (math.sin(x) / x) ** 2
        return Q * Q * j * tau - math.log(s2) - 1.0

    hi = min(1.0 / (Q * Q * j), math.pi / w * (1 - 1e-12)) if w > 0 else 1.0 / (Q * Q * j)
    return brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-13)


@pytest.mark.parametrize("phi", [None, 10.0, 50.0, 95.0, 185.0])
def test_decorrelation_time_solves_its_equation(phi: float | None) -> None:
    t = np.array([0.3, 1.0, 2.5, 8.0, 30.0])
    got = model.decorrelation_time(THETA, t, Q, phi_deg=phi, gap=GAP)
    want = [_tau_reference(float(x), phi) for x in t]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_decorrelation_time_static_and_infinite_cases() -> None:
    t = np.array([1.0, 2.0])
    static = model.decorrelation_time(THETA[:3], t, Q, phi_deg=10.0, gap=GAP)
    np.testing.assert_allclose(static, [1.0 / (Q * Q * (1000.0 * x**-0.2 + 5.0)) for x in t])
    frozen = model.decorrelation_time([0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0], t, Q, phi_deg=0.0)
    assert np.all(np.isinf(frozen))  # J <= 0 and no shear: nothing decorrelates
    sheared = model.decorrelation_time(
        [0.0, 0.0, 0.0, 1e-3, 0.0, 0.0, 0.0], t, Q, phi_deg=0.0, gap=GAP
    )
    # J = 0: only sinc² decays; sinc²(x) = 1/e at x = 1.5553...
    x_e = brentq(lambda x: (math.sin(x) / x) ** 2 - math.exp(-1.0), 0.5, 3.0, xtol=1e-15)
    np.testing.assert_allclose(sheared, x_e / (0.5 * Q * GAP * 1e-3), rtol=1e-9)
