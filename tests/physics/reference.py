"""Independent reference implementation of the homodyne model, for tests only.

Nothing here imports :mod:`homodyne.model`: the integrals of J(t) and gdot(t) are taken by
adaptive quadrature (``scipy.integrate.quad``) of the rates as written in
docs/physics.rst, and g1² is evaluated pair by pair and angle by angle in plain Python
loops, with the shear phase built from the angle in degrees directly. A change of the
package's closed-form antiderivatives, angle grouping, factorisation or vectorisation
cannot change these numbers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad


def rate_j(t: float, d0: float, alpha: float, d_offset: float) -> float:
    """J(t) = D0 t^alpha + D_offset [Å²/s]."""
    return d0 * t**alpha + d_offset


def rate_gdot(t: float, g0: float, beta: float, g_offset: float) -> float:
    """gdot(t) = gamma_dot_t0 t^beta + gamma_dot_t_offset [1/s]."""
    return g0 * t**beta + g_offset


def rate_integral(a: float, b: float, amplitude: float, exponent: float, offset: float) -> float:
    """∫_a^b (amplitude t^exponent + offset) dt: the power term by quadrature, the constant
    term exactly (so that quadrature never has to resolve a cancellation between them)."""
    power = integral(lambda t: amplitude * t**exponent, a, b)
    return power + offset * (b - a)


def integral(f, a: float, b: float, *args: float) -> float:
    """∫_a^b f(t, *args) dt by adaptive Gauss-Kronrod quadrature (relative error < 1e-11)."""
    val, err = quad(f, a, b, args=args, epsabs=0.0, epsrel=1e-13, limit=200)
    assert err <= 1e-11 * abs(val), (a, b, val, err)
    return val


def sinc2(x: float) -> float:
    """(sin x / x)², with the x = 0 limit."""
    return 1.0 if x == 0.0 else (math.sin(x) / x) ** 2


def g1_squared(
    params: dict[str, float],
    t: np.ndarray,
    phi_deg: list[float],
    q: float,
    gap: float,
    pairs: list[tuple[int, int]],
    mode: str,
) -> np.ndarray:
    """g1² on the given pairs for every angle, shape (n_angles, n_pairs), by quadrature."""
    p = params
    out = np.empty((len(phi_deg), len(pairs)))
    for k, (i, j) in enumerate(pairs):
        t1, t2 = float(t[i]), float(t[j])
        ij = rate_integral(t1, t2, p["D0"], p["alpha"], p["D_offset"])
        decay = math.exp(-q * q * abs(ij))
        if mode != "laminar_flow":
            out[:, k] = decay
            continue
        strain = rate_integral(t1, t2, p["gamma_dot_t0"], p["beta"], p["gamma_dot_t_offset"])
        for a, phi in enumerate(phi_deg):
            x = q * gap * math.cos(math.radians(p["phi0"] - phi)) * strain / 2.0
            out[a, k] = decay * sinc2(x)
    return out


def upper_pairs(n: int, max_lag: int | None = None) -> list[tuple[int, int]]:
    """All (i, j) with i < j (and j - i <= max_lag), row by row."""
    return [
        (i, j) for i in range(n) for j in range(i + 1, n) if max_lag is None or j - i <= max_lag
    ]
