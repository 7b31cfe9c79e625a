"""The homodyne model of nonequilibrium XPCS: the physics of the package, in one file.

Everything here is a pure function of parameters, frame times, angles and geometry. No
I/O, no configuration objects, no imports of an MCMC stack: the array namespace ``xp``
(``numpy``, ``jax.numpy`` or ``pytensor.tensor``) is passed in, so that classical
fitting, the PyMC backend and the NumPyro backend evaluate the same equations.

Model (see ``docs/physics.rst`` for the derivation and conventions)::

    J(t)    = D0 * t**alpha + D_offset                      transport coefficient [Å²/s]
    gdot(t) = gamma_dot_t0 * t**beta + gamma_dot_t_offset   shear rate [1/s]
    c2(φ, t_i, t_j) = offset_φ + contrast_φ * g1²
    g1² = exp(-q² |∫_{t_i}^{t_j} J dt|) * sinc²(q L cos(φ0 - φ) ∫_{t_i}^{t_j} gdot dt / 2)

with sinc(x) = sin(x)/x (unnormalised), exact (closed-form) integrals, frame f at time
t = f * dt (1-based frames), and the strict upper triangle i < j as the data.

How the structure is exploited
------------------------------
* The integrals are differences of per-frame antiderivatives F(t) and G(t): n
  transcendental evaluations per call, not n².
* The diffusion factor does not depend on the angle. When F is monotonic over the window
  (J keeps one sign) and q²·span(F) stays below ``_FACTORISE_MAX_EXPONENT``, it factorises
  exactly: exp(-q²|F_j - F_i|) = exp(-q²s(F_j - F_0)) · exp(q²s(F_i - F_0)), s = sign.
  Otherwise (negative rates in the window, or a window over which the sample fully
  decorrelates) it falls back to one exponential per pair. Traced backends (JAX,
  PyTensor) always use the per-pair form, which has no data-dependent branch.
* For each angle the shear phase enters only through θ_φ = q L cos(φ0 - φ) / 2. The
  traced path takes one sine per pair of x = θ_φ (G_j - G_i); the NumPy Jacobian path of
  classical fitting uses sin(θ(G_j - G_i)) = S_j C_i - C_j S_i with per-frame S = sin(θG),
  C = cos(θG) (one BLAS product per angle), which is faster in NumPy but, under automatic
  differentiation, turns into scatter-adds. Near x = 0 sinc² is taken from its Taylor
  series.

Negative rates: the integrals are evaluated exactly as written, including any stretch of
the window where J(t) or gdot(t) is negative (no clipping, so the model stays smooth and
differentiable); the modulus |∫J| keeps the decay factor ≤ 1. The fit report warns when a
parameter point makes J or gdot negative inside the frame window (see
:func:`negative_rate_warnings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MODES",
    "angle_groups",
    "c2_matrix",
    "c2_pairs",
    "decorrelation_time",
    "g1_squared_pairs",
    "g1_squared_pairs_and_jacobian",
    "negative_rate_warnings",
    "power_law_antiderivative",
    "shear_phase_scale",
    "shear_rate",
    "sinc_squared",
    "transport_coefficient",
    "triangle_indices",
]

#: Parameter names of each analysis mode, in the order every parameter vector uses.
MODES: dict[str, tuple[str, ...]] = {
    "static_isotropic": ("D0", "alpha", "D_offset"),
    "static_anisotropic": ("D0", "alpha", "D_offset"),
    "laminar_flow": (
        "D0",
        "alpha",
        "D_offset",
        "gamma_dot_t0",
        "beta",
        "gamma_dot_t_offset",
        "phi0",
    ),
}

#: A parameter vector in mode order: a sequence of scalars (or 0-d tensors) or an array.
ParamsLike = Sequence[Any] | np.ndarray

_DEG = math.pi / 180.0
#: Below this |u| = |exponent + 1| the antiderivative uses its Taylor series in u.
_SERIES_U = 1e-6
#: Below this |x| the sinc² factor uses its Taylor series: through x⁶ in sinc_squared (error
#: < 1e-15, tested against mpmath), through x⁴ in the NumPy Jacobian path (< 3.2e-15).
_SERIES_X = 1e-2
#: The factorised diffusion term is used while q²·span(F) stays below this.
_FACTORISE_MAX_EXPONENT = 600.0


def _is_numpy(xp: Any) -> bool:
    return xp is np


# --------------------------------------------------------------------------- per frame
def power_law_antiderivative(log_t: Any, exponent: Any, xp: Any = np) -> Any:
    """Antiderivative of t**exponent, taken from t = 1 s: ∫_1^t s**exponent ds.

    Written as expm1(u ln t)/u with u = exponent + 1, which is exact, continuous through
    u = 0 (where it becomes ln t) and accurate for small u; within ``_SERIES_U`` of
    u = 0 the Taylor series in u is used. Only differences of this function enter the
    model, so the reference time drops out.
    """
    u = exponent + 1.0
    small = xp.abs(u) < _SERIES_U
    u_safe = xp.where(small, 1.0, u)
    exact = xp.expm1(u_safe * log_t) / u_safe
    z = u * log_t
    series = log_t * (1.0 + z / 2.0 + z * z / 6.0)
    return xp.where(small, series, exact)


def _antiderivative_du(log_t: Any, exponent: Any, xp: Any = np) -> Any:
    """d/d(exponent) of :func:`power_law_antiderivative` (numpy only, for Jacobians)."""
    u = exponent + 1.0
    if abs(u) < _SERIES_U:
        return log_t**2 / 2.0 + u * log_t**3 / 3.0 + u * u * log_t**4 / 8.0
    h = np.expm1(u * log_t) / u
    return (log_t * np.exp(u * log_t) - h) / u


def _transport_integral(params: ParamsLike, t: Any, log_t: Any, xp: Any) -> Any:
    """F(t): antiderivative of J(t) = D0 t^alpha + D_offset, per frame."""
    d0, alpha, d_offset = params[0], params[1], params[2]
    return d0 * power_law_antiderivative(log_t, alpha, xp) + d_offset * t


def _strain_integral(params: ParamsLike, t: Any, log_t: Any, xp: Any) -> Any:
    """G(t): antiderivative of gdot(t) = gamma_dot_t0 t^beta + gamma_dot_t_offset."""
    g0, beta, g_offset = params[3], params[4], params[5]
    return g0 * power_law_antiderivative(log_t, beta, xp) + g_offset * t


def shear_phase_scale(phi0: Any, phi_deg: Any, q: float, gap: float, xp: Any = np) -> Any:
    """θ_φ = q L cos(φ0 - φ) / 2 for each angle (degrees in, 1/strain out)."""
    return 0.5 * q * gap * xp.cos((phi0 - phi_deg) * _DEG)


def sinc_squared(x: Any, xp: Any = np) -> Any:
    """sinc²(x) = (sin x / x)², unnormalised, safe (and differentiable) at x = 0."""
    small = xp.abs(x) < _SERIES_X
    x_safe = xp.where(small, 1.0, x)
    ratio = xp.sin(x_safe) / x_safe  # the namespace's sine (the JAX backend brings its own)
    # square() and the nested form keep PyTensor's gradient of the series one pass over
    # the pairs; written as x*x - x2*x2 terms its rewrites split it into one pass per
    # factor (2.7 times slower per gradient of the laminar model).
    x2 = xp.square(x)
    # Through x⁶: the x⁸ remainder (2/14175 x⁸) is below 1.5e-20 for |x| < 1e-2; stopping
    # at x⁴ would leave x⁶/315 = 3.2e-15 at the branch edge.
    series = 1.0 + x2 * (x2 * (2.0 / 45.0 - x2 * (1.0 / 315.0)) - 1.0 / 3.0)
    return xp.where(small, series, ratio * ratio)


# --------------------------------------------------------------------------- pairs
def triangle_indices(n: int, max_lag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (i < j) of the strict upper triangle of an n x n matrix.

    With ``max_lag`` only pairs with j - i <= max_lag are kept. Order is row-major, the
    same as ``numpy.triu_indices(n, 1)``.
    """
    iu, ju = np.triu_indices(n, 1)
    if max_lag is not None:
        keep = (ju - iu) <= max_lag
        iu, ju = iu[keep], ju[keep]
    return iu.astype(np.intp), ju.astype(np.intp)


def _diffusion_pairs(F: Any, iu: Any, ju: Any, q: float, xp: Any) -> Any:
    """exp(-q² |F_j - F_i|) on the pairs, factorised where that is exact and safe."""
    q2 = q * q
    if _is_numpy(xp):
        F = np.asarray(F, dtype=float)
        steps = np.diff(F)
        span = q2 * (F.max() - F.min()) if F.size else 0.0
        if span < _FACTORISE_MAX_EXPONENT and (np.all(steps >= 0) or np.all(steps <= 0)):
            sign = 1.0 if F[-1] >= F[0] else -1.0
            rel = q2 * sign * (F - F[0])  # non-decreasing, in [0, span]
            decay = np.exp(-rel)
            grow = np.exp(rel)
            # iu < ju on every pair, so |F_j - F_i| = sign * (F_j - F_i).
            out = np.take(decay, ju)
            out *= np.take(grow, iu)
            return out
    return xp.exp(-q2 * xp.abs(F[ju] - F[iu]))


def g1_squared_pairs(
    params: ParamsLike,
    t: Any,
    phi_deg: Any,
    q: float,
    gap: float,
    iu: Any,
    ju: Any,
    mode: str,
    xp: Any = np,
) -> Any:
    """g1² on the pairs (iu[k], ju[k]) for every angle: shape (n_angles, n_pairs).

    ``params`` holds the mode's parameters in :data:`MODES` order (scalars or 0-d arrays
    or tensors of the namespace); ``t`` the frame times (s, > 0); ``phi_deg`` the angles.
    Static modes return a (1, n_pairs) array that broadcasts over angles.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(MODES)}")
    log_t = xp.log(t)
    F = _transport_integral(params, t, log_t, xp)
    diffusion = _diffusion_pairs(F, iu, ju, q, xp)
    if mode != "laminar_flow":
        return diffusion[None, :]
    G = _strain_integral(params, t, log_t, xp)
    unique_phi, group = angle_groups(phi_deg)
    theta = shear_phase_scale(params[6], unique_phi, q, gap, xp)[:, None]
    # One sine per pair and angle of the pair's own strain increment: under automatic
    # differentiation this was measured 1.15 times (PyTensor) and 1.25 times (JAX) as fast
    # per gradient as the angle-addition form of the NumPy Jacobian path, whose gathers
    # of per-frame sines and cosines turn into scatter-adds in the gradient.
    sinc2 = sinc_squared(theta * (G[ju] - G[iu])[None, :], xp)
    g1sq = diffusion[None, :] * sinc2
    if np.array_equal(group, np.arange(group.shape[0])):
        return g1sq
    return g1sq[group]


def angle_groups(phi_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Angles that share one sinc² factor: φ and φ + 180° (mod 360) give the same |θ_φ|.

    sinc² is even and cos(φ0 - φ - 180°) = -cos(φ0 - φ) for every φ0, so angles that agree
    modulo 180° need one evaluation. Returns the representative angles and, for each input
    angle, the index of its group. ``phi_deg`` is data (NumPy), never a traced tensor.
    """
    phi = np.atleast_1d(np.asarray(phi_deg, dtype=float))
    key = np.round(np.mod(phi, 180.0), 9)
    key[key == 180.0] = 0.0
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    # Number the groups in order of first appearance, so that distinct angles keep their
    # order (then g1² needs no reindexing).
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return phi[first[order]], rank[group.reshape(-1)]


def c2_pairs(
    params: ParamsLike,
    t: Any,
    phi_deg: Any,
    q: float,
    gap: float,
    iu: Any,
    ju: Any,
    contrast: Any,
    offset: Any,
    mode: str,
    xp: Any = np,
) -> Any:
    """c2 = offset + contrast · g1² on the pairs: shape (n_angles, n_pairs).

    ``contrast`` and ``offset`` are per-angle vectors (or scalars for shared scaling).
    """
    g1sq = g1_squared_pairs(params, t, phi_deg, q, gap, iu, ju, mode, xp)
    contrast = xp.reshape(xp.asarray(contrast) if _is_numpy(xp) else contrast, (-1, 1))
    offset = xp.reshape(xp.asarray(offset) if _is_numpy(xp) else offset, (-1, 1))
    return offset + contrast * g1sq


def c2_matrix(
    params: ParamsLike,
    t: np.ndarray,
    phi_deg: np.ndarray,
    q: float,
    gap: float,
    contrast: Any,
    offset: Any,
    mode: str,
) -> np.ndarray:
    """Full symmetric c2 matrices, shape (n_angles, n, n), diagonal = offset + contrast.

    A NumPy convenience for simulation and plotting, built from :func:`c2_pairs`.
    """
    t = np.asarray(t, dtype=float)
    phi_deg = np.atleast_1d(np.asarray(phi_deg, dtype=float))
    n = t.shape[0]
    iu, ju = triangle_indices(n)
    upper = c2_pairs(params, t, phi_deg, q, gap, iu, ju, contrast, offset, mode)
    upper = np.broadcast_to(upper, (phi_deg.shape[0], iu.shape[0]))
    out = np.empty((phi_deg.shape[0], n, n))
    contrast_v = np.broadcast_to(np.asarray(contrast, dtype=float), phi_deg.shape)
    offset_v = np.broadcast_to(np.asarray(offset, dtype=float), phi_deg.shape)
    for a in range(phi_deg.shape[0]):
        m = out[a]
        m[iu, ju] = upper[a]
        m[ju, iu] = upper[a]
        np.fill_diagonal(m, offset_v[a] + contrast_v[a])
    return out


# --------------------------------------------------------------------------- Jacobian
def g1_squared_pairs_and_jacobian(
    params: ParamsLike,
    t: np.ndarray,
    phi_deg: np.ndarray,
    q: float,
    gap: float,
    iu: np.ndarray,
    ju: np.ndarray,
    mode: str,
    jacobian: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """g1² on the pairs and its analytic derivatives with respect to the parameters.

    The NumPy evaluation used by classical fitting: the same equations as
    :func:`g1_squared_pairs` (tests hold the two equal to 1e-12), with the derivatives
    that the traced backends obtain by automatic differentiation, and NumPy-specific
    speed-ups (complex per-frame phases, the Taylor branch only where needed).
    Returns ``(g1sq, dg1sq)`` with shapes (A, m) and (P, A, m), P = len(MODES[mode]);
    static modes have A = 1. With ``jacobian=False`` only g1² is computed (dg1sq is None).
    """
    t = np.asarray(t, dtype=float)
    phi_deg = np.atleast_1d(np.asarray(phi_deg, dtype=float))
    p = [float(v) for v in params]
    log_t = np.log(t)
    q2 = q * q
    F = _transport_integral(p, t, log_t, np)
    diffusion = _diffusion_pairs(F, iu, ju, q, np)
    n_par = len(MODES[mode])
    if jacobian:
        sgn = np.where(np.take(F, ju) >= np.take(F, iu), 1.0, -1.0)
        # d|ΔF|/dθ for θ = D0, alpha, D_offset, via per-frame derivatives of F.
        dF_frames = (
            power_law_antiderivative(log_t, p[1], np),
            p[0] * _antiderivative_du(log_t, p[1]),
            t,
        )
    if mode != "laminar_flow":
        g1sq = diffusion[None, :]
        if not jacobian:
            return g1sq, None
        jac = np.empty((n_par, 1, iu.shape[0]))
        for k, d in enumerate(dF_frames):
            jac[k, 0] = -q2 * sgn * (d[ju] - d[iu]) * diffusion
        return g1sq, jac

    G = _strain_integral(p, t, log_t, np)
    G = G - G[(G.shape[0] - 1) // 2]
    dG = np.take(G, ju)
    dG -= np.take(G, iu)
    theta = shear_phase_scale(p[6], phi_deg, q, gap, np)
    dtheta = -0.5 * q * gap * np.sin((p[6] - phi_deg) * _DEG) * _DEG
    n_ang, m = phi_deg.shape[0], iu.shape[0]
    g1sq = np.empty((n_ang, m))
    if not jacobian:
        return _g1sq_flow_numpy(G, dG, diffusion, theta, iu, ju, g1sq), None
    jac = np.empty((n_par, n_ang, m))
    dG_frames = (
        power_law_antiderivative(log_t, p[4], np),
        p[3] * _antiderivative_du(log_t, p[4]),
        t,
    )
    dG_pairs = [d[ju] - d[iu] for d in dG_frames]
    dD_pairs = [-q2 * sgn * (d[ju] - d[iu]) * diffusion for d in dF_frames]
    flat = iu * (2 * G.shape[0]) + ju
    for a in range(n_ang):
        sin_pair, cos_pair = _pair_phases(theta[a] * G, flat, True)
        x = theta[a] * dG
        small = np.flatnonzero(np.abs(x) < _SERIES_X)
        if small.size:
            x_safe = x.copy()
            x_safe[small] = 1.0
        else:
            x_safe = x
        sinc = sin_pair / x_safe
        sinc2 = sinc * sinc
        # d sinc²/dx = 2 sinc (cos x - sinc)/x
        if small.size:  # Taylor series near x = 0, where the ratio cancels
            xs = x[small]
            xs2 = xs * xs
            sinc2[small] = 1.0 - xs2 / 3.0 + 2.0 * xs2 * xs2 / 45.0
        np.multiply(diffusion, sinc2, out=g1sq[a])
        dsinc2 = 2.0 * sinc * (cos_pair - sinc) / x_safe
        if small.size:
            dsinc2[small] = -2.0 * xs / 3.0 + 8.0 * xs * xs2 / 45.0
        for k in range(3):
            np.multiply(dD_pairs[k], sinc2, out=jac[k, a])
        ddx = diffusion * dsinc2
        ddx_theta = ddx * theta[a]
        for k in range(3):
            np.multiply(ddx_theta, dG_pairs[k], out=jac[3 + k, a])
        np.multiply(ddx * dtheta[a], dG, out=jac[6, a])
    return g1sq, jac


def _pair_phases(
    theta_g: np.ndarray, flat: np.ndarray, with_cos: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """sin (and cos) of θ(G_j - G_i) on the pairs from per-frame sines and cosines.

    sin(θG_j - θG_i) = c_i s_j - s_i c_j and cos(...) = c_i c_j + s_i s_j are the entries
    of the rank-2 product [c, -s] @ [[s, c], [c, -s]], which one BLAS call forms for the
    whole matrix; the pairs are then gathered with ``flat`` (row-major indices into the
    n x 2n product). Faster in NumPy than gathering per-frame values for every pair.
    """
    s, c = np.sin(theta_g), np.cos(theta_g)
    n = s.shape[0]
    left = np.stack([c, -s], axis=1)
    right = np.stack([np.concatenate([s, c]), np.concatenate([c, -s])])
    prod = (left @ right).ravel()
    sin_pair = np.take(prod, flat)
    cos_pair = np.take(prod, flat + n) if with_cos else None
    return sin_pair, cos_pair


def _g1sq_flow_numpy(
    G: np.ndarray,
    dG: np.ndarray,
    diffusion: np.ndarray,
    theta: np.ndarray,
    iu: np.ndarray,
    ju: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """g1² = E · sinc²(θ ΔG) for all angles at once, in few passes over the pairs.

    Written as (sin(θΔG) · √E / ΔG)² / θ²: the weight √E / ΔG does not depend on the
    angle; sin(θΔG) of every pair and angle comes from one batched rank-2 matrix product
    of per-frame sines and cosines (c_i s_j - s_i c_j) and one gather. The Taylor series
    replaces the ratio only where |θΔG| < _SERIES_X (and θ = 0 gives E).
    """
    n = G.shape[0]
    phase = theta[:, None] * G[None, :]
    s, c = np.sin(phase), np.cos(phase)
    left = np.stack([c, -s], axis=2)  # (A, n, 2)
    right = np.stack([s, c], axis=1)  # (A, 2, n)
    flat = iu * n + ju
    for a in range(theta.shape[0]):  # 2-D products and 1-D gathers: NumPy's fast paths
        np.take((left[a] @ right[a]).ravel(), flat, out=out[a])
    out *= np.sqrt(diffusion) / np.where(dG == 0.0, 1.0, dG)
    np.multiply(out, out, out=out)
    with np.errstate(divide="ignore"):
        out *= (1.0 / (theta * theta))[:, None]
        limit = _SERIES_X / np.abs(theta)
    abs_dG = np.abs(dG)
    for a in range(theta.shape[0]):
        small = np.flatnonzero(abs_dG < limit[a])
        if small.size:
            xs = theta[a] * dG[small]
            xs2 = xs * xs
            out[a, small] = diffusion[small] * (1.0 - xs2 / 3.0 + 2.0 * xs2 * xs2 / 45.0)
    return out


# --------------------------------------------------------------------------- derived
def transport_coefficient(params: ParamsLike, t: Any, xp: Any = np) -> Any:
    """J(t) = D0 t^alpha + D_offset [Å²/s] at times t [s]."""
    return params[0] * t ** params[1] + params[2]


def shear_rate(params: ParamsLike, t: Any, xp: Any = np) -> Any:
    """gdot(t) = gamma_dot_t0 t^beta + gamma_dot_t_offset [1/s] at times t [s]."""
    return params[3] * t ** params[4] + params[5]


def decorrelation_time(
    params: ParamsLike,
    t: np.ndarray,
    q: float,
    *,
    phi_deg: float | None = None,
    gap: float = 0.0,
    iterations: int = 80,
) -> np.ndarray:
    """Local 1/e decorrelation time τ_e(t) [s] of g1² from the rates at time t.

    With the rates frozen at their values at t, g1²(t, t + τ) = exp(-q² J(t) τ) ·
    sinc²(θ_φ gdot(t) τ), and τ_e solves q² J(t) τ - ln sinc²(θ_φ gdot(t) τ) = 1.
    Without an angle (``phi_deg`` None, or a static mode) only the diffusion term
    enters: τ_e = 1 / (q² J(t)). Both terms grow monotonically in τ up to the first zero
    of sinc at θ gdot τ = π, so bisection below min(1/(q² J), π/|θ gdot|) finds the root;
    τ_e is +inf where nothing decorrelates (J ≤ 0 and no shear). NumPy only.
    """
    t = np.asarray(t, dtype=float)
    p = [float(v) for v in params]
    rate_d = q * q * np.asarray(transport_coefficient(p, t))
    tau_d = np.where(rate_d > 0, 1.0 / np.where(rate_d > 0, rate_d, 1.0), np.inf)
    if phi_deg is None or len(p) < 7:
        return np.asarray(tau_d, dtype=float)
    w = np.abs(float(shear_phase_scale(p[6], float(phi_deg), q, gap)) * shear_rate(p, t))
    tau_s = np.where(w > 0, math.pi / np.where(w > 0, w, 1.0), np.inf)
    hi = np.minimum(tau_d, tau_s)
    lo = np.zeros_like(hi)
    finite = np.isfinite(hi)
    hi_f = np.where(finite, hi, 1.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi_f)
        x = w * mid
        sq = np.where(x < math.pi, sinc_squared(np.minimum(x, math.pi * (1 - 1e-12))), 0.0)
        f = rate_d * mid - np.log(np.maximum(sq, 1e-300))
        above = f > 1.0
        hi_f = np.where(above, mid, hi_f)
        lo = np.where(above, lo, mid)
    return np.where(finite, 0.5 * (lo + hi_f), np.inf)


# --------------------------------------------------------------------------- checks
def negative_rate_warnings(params: ParamsLike, t: np.ndarray, mode: str) -> list[str]:
    """Plain-language warnings when J(t) or gdot(t) is negative somewhere in the window."""
    t = np.asarray(t, dtype=float)
    p = [float(v) for v in params]
    out = []
    J = p[0] * t ** p[1] + p[2]
    if np.any(J < 0):
        out.append(
            f"J(t) = D0 t^alpha + D_offset is negative on {int(np.sum(J < 0))} of {t.size} "
            f"frame times (min {J.min():.4g} Å²/s); the integral is used as written."
        )
    if mode == "laminar_flow":
        g = p[3] * t ** p[4] + p[5]
        if np.any(g < 0):
            out.append(
                f"gdot(t) is negative on {int(np.sum(g < 0))} of {t.size} frame times "
                f"(min {g.min():.4g} 1/s); the accumulated strain is used as written."
            )
    return out
