"""A hand-written gradient of the laminar-flow Gaussian log-likelihood (both backends).

Under automatic differentiation the laminar log-likelihood costs several passes over the
A x m pairs per gradient (sine, its derivative, the gathers of per-frame values and the
scatter-adds their transposes become). Here the likelihood's only expensive part, the
weighted sum of the per-angle sums of squared residuals

    V = Σ_a w_a ss_a,   ss_a = Σ_k (d_ak - offset_a - contrast_a · E_k · sinc²(θ_a ΔG_k))²,
    E_k = exp(-q² |ΔF_k|),   ΔF_k = F_j - F_i,   ΔG_k = G_j - G_i   (pair k = (i, j)),

is one function of per-frame and per-angle inputs (F, G: n values; θ, contrast, offset,
w: A values) whose gradient is accumulated in the same single pass over the pairs that
forms the residuals. Per pair it costs one exponential (none when F is monotonic: then
E_k = exp(-q² F_j) exp(q² F_i) from per-frame factors, as in the model) and per pair and
angle a few multiply-adds: sin and cos of x = θ_a ΔG_k come from the addition theorems,

    sin x = sin(θ_a G_j) cos(θ_a G_i) - cos(θ_a G_j) sin(θ_a G_i)   (and cos x alike),

with the A x n values sin(θ_a G_f), cos(θ_a G_f) computed once per call, so no
transcendental function is evaluated per pair. The per-frame sums
∂V/∂F_f = Σ_{k: j=f} e_k - Σ_{k: i=f} e_k (and likewise for G) are accumulated
directly into n-vectors, with no per-pair derivative arrays. Everything in front of it
(F, G and θ from the parameters: O(n + A) work) stays in the backend's own graph and is
differentiated there, so the physics remains :mod:`homodyne.model`'s.

The kernel is compiled with Numba (``nogil``, so that chains in threads run in
parallel); without Numba the backends keep automatic differentiation of the model. The
registration (a PyTensor Op, a ``jax.custom_vjp``) lives with each backend:
:mod:`homodyne.optimization.pytensor_gradient`, :mod:`homodyne.optimization.jax_gradient`.

Accuracy: x = θ ΔG is formed per pair exactly as in :func:`homodyne.model.sinc_squared`
(same Taylor branch below ``_SERIES_X``); the sine and cosine use fdlibm's minimax
kernels with Cody-Waite reduction (those of :mod:`homodyne.trig`; Numba may fuse
multiply-adds but never reorders operations). The addition theorems add the rounding of
θ_a G_j and θ_a G_i, which are larger than x for short lags at late times: at most
u (2Θ_a + 13) in sin x (u = 2^-53, Θ_a = |θ_a| max |G|), so 2 u (2Θ_a + 13) / |x| in sinc².
Pairs with |x| below the point where that bound reaches :data:`ADDITION_TOLERANCE`
(1e-13; |x| < 0.03 without shear, < 0.3 at Θ_a = 56, the laminar benchmark's largest)
take sin and cos of x itself, so every pair's sinc² agrees with the model's to 1e-13
absolute (tested per pair), 1e-15 outside the addition form.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..model import (
    _FACTORISE_MAX_EXPONENT,
    _SERIES_X,
    MODES,
    _strain_integral,
    _transport_integral,
    angle_groups,
    shear_phase_scale,
)
from ..trig import (
    COS_COEFFICIENTS,
    PIO2_PARTS,
    SIN_COEFFICIENTS,
    SIN_MAX_ABS_ARGUMENT,
    TWO_OVER_PI,
)

log = logging.getLogger(__name__)

__all__ = [
    "ADDITION_TOLERANCE",
    "GRADIENT_CHOICES",
    "frame_terms",
    "gradient_choice",
    "kernel_available",
    "kernel_fingerprint",
    "kernel_log_likelihood",
    "laminar_sums",
    "laminar_sums_and_gradient",
    "uses_kernel",
]

#: Values of ``mcmc.gradient``: ``auto`` (the kernel where it applies),
#: ``kernel`` (require it), ``numba`` (require the Numba kernel: in the NumPyro backend
#: through a host callback instead of its XLA form) or ``autodiff`` (automatic
#: differentiation of the model).
GRADIENT_CHOICES = ("auto", "kernel", "numba", "autodiff")

# fdlibm's three-part π/2 and minimax coefficients of sin and cos (homodyne.trig, which
# imports no JAX), as scalars for the Numba kernel
_PIO2_0, _PIO2_1, _PIO2_2 = PIO2_PARTS
_S0, _S1, _S2, _S3, _S4, _S5 = SIN_COEFFICIENTS
_C0, _C1, _C2, _C3, _C4, _C5 = COS_COEFFICIENTS
_TWO_OVER_PI = TWO_OVER_PI
_SIN_MAX = SIN_MAX_ABS_ARGUMENT
#: LLVM flags that keep the order of operations (no reassociation: the range reduction
#: depends on it): fused multiply-adds, reciprocal division, no signed zeros.
_FASTMATH = {"contract", "arcp", "nsz"}

#: Largest difference, in absolute terms, between the kernel's sinc² of a pair and the
#: model's (:func:`homodyne.model.sinc_squared` of the same x) that the addition theorems
#: may cause; pairs where they could cause more take sin and cos of x itself.
ADDITION_TOLERANCE = 1e-13
# Error bound of sin x = sin b cos c - cos b sin c with b = θ G_j, c = θ G_i rounded
# (u = 2^-53, Θ = |θ| max |G|): u (2Θ + 13) for the sine (the roundings of b and c, 2 ulp
# per polynomial value, the products), so 2 u (2Θ + 13) / |x| for sinc² = (sin x / x)²;
# the addition form is used where that is at most ADDITION_TOLERANCE.
_ADDITION_ULPS = 13.0
_ADDITION_SCALE = 2.0 * 2.0**-53 / ADDITION_TOLERANCE


def _kernel_py(F, G, theta, contrast, offset, weight, data, iu, ju, q2, with_grad):
    """Σ_a w_a ss_a, ss (A,) and (optionally) the gradient; plain Python, compiled by Numba."""
    n_ang = data.shape[0]
    m = data.shape[1]
    n = F.shape[0]
    ss = np.zeros(n_ang)
    sr = np.zeros(n_ang)
    srg = np.zeros(n_ang)
    gth = np.zeros(n_ang)
    gF = np.zeros(n)
    gG = np.zeros(n)
    # The diffusion factor per pair: factorised into per-frame exponentials when F is
    # monotonic and q²·span(F) is moderate (as in homodyne.model), else one per pair.
    rising = True
    falling = True
    for f in range(1, n):
        if F[f] < F[f - 1]:
            rising = False
        if F[f] > F[f - 1]:
            falling = False
    span = 0.0
    if n > 0:
        span = q2 * (np.max(F) - np.min(F))
    factorise = (rising or falling) and span < _FACTORISE_MAX_EXPONENT
    sgn0 = 1.0
    if n > 0 and F[n - 1] < F[0]:
        sgn0 = -1.0
    decay = np.empty(n)
    grow = np.empty(n)
    if factorise:
        for f in range(n):
            rel = q2 * sgn0 * (F[f] - F[0])
            decay[f] = math.exp(-rel)
            grow[f] = math.exp(rel)
    # sin and cos of θ_a G_f for every angle and frame (A x n, once per call); a pair's
    # sin and cos of x = θ_a (G_j - G_i) then follow from the addition theorems with four
    # multiplications, where that is accurate to ADDITION_TOLERANCE (see the module
    # docstring): else from x itself.

    def sincos(x):  # fdlibm's polynomials on one Cody-Waite reduction (homodyne.trig)
        if abs(x) >= _SIN_MAX:  # beyond the exact reduction: the C library's
            return math.sin(x), math.cos(x)
        qk = math.floor(x * _TWO_OVER_PI + 0.5)
        r = ((x - qk * _PIO2_0) - qk * _PIO2_1) - qk * _PIO2_2
        z = r * r
        s = r + r * z * (_S0 + z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * _S5)))))
        c = 1.0 - 0.5 * z + z * z * (_C0 + z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * _C5)))))
        quad = int(qk) & 3
        odd = (quad & 1) == 1
        sn = c if odd else s
        cs = s if odd else c
        sn = -sn if quad >= 2 else sn
        cs = -cs if (quad == 1 or quad == 2) else cs
        return sn, cs

    g_max = 0.0
    for f in range(n):
        g_max = max(g_max, abs(G[f]))
    S = np.empty((n, n_ang))
    C = np.empty((n, n_ang))
    x_add = np.empty(n_ang)
    for a in range(n_ang):
        x_add[a] = _ADDITION_SCALE * (2.0 * abs(theta[a]) * g_max + _ADDITION_ULPS)
        for f in range(n):
            S[f, a], C[f, a] = sincos(theta[a] * G[f])
    for k in range(m):
        i = iu[k]
        j = ju[k]
        if factorise:
            sgn = sgn0
            E = decay[j] * grow[i]
        else:
            dF = F[j] - F[i]
            sgn = 1.0
            if dF < 0.0:
                sgn = -1.0
            E = math.exp(-q2 * (sgn * dF))
        dG = G[j] - G[i]
        eF = 0.0
        eG = 0.0
        for a in range(n_ang):
            x = theta[a] * dG
            ax = abs(x)
            if ax < _SERIES_X:  # Taylor series of sinc² (as in homodyne.model)
                x2 = x * x
                h = 1.0 + x2 * (x2 * (2.0 / 45.0 - x2 * (1.0 / 315.0)) - 1.0 / 3.0)
                hp = x * (x2 * (8.0 / 45.0 - x2 * (6.0 / 315.0)) - 2.0 / 3.0)
            else:
                if ax >= x_add[a]:  # sin(b - c), cos(b - c) from the frames' values
                    sj = S[j, a]
                    cj = C[j, a]
                    si = S[i, a]
                    ci = C[i, a]
                    sn = sj * ci - cj * si
                    cs = cj * ci + sj * si
                else:
                    sn, cs = sincos(x)
                inv = 1.0 / x
                sc = sn * inv
                h = sc * sc
                hp = 2.0 * sc * (cs - sc) * inv  # d sinc²/dx
            g = E * h
            res = data[a, k] - offset[a] - contrast[a] * g
            ss[a] += res * res
            if with_grad:
                sr[a] += res
                srg[a] += res * g
                u = -2.0 * weight[a] * contrast[a] * res  # d(w_a ss_a)/dg
                wx = u * E * hp  # d(w_a ss_a)/dx
                gth[a] += wx * dG
                eG += wx * theta[a]
                eF += u * h
        if with_grad:
            eF *= -q2 * sgn * E  # dE/dΔF = -q² sign(ΔF) E
            gF[j] += eF
            gF[i] -= eF
            gG[j] += eG
            gG[i] -= eG
    value = 0.0
    for a in range(n_ang):
        value += weight[a] * ss[a]
    return value, ss, gF, gG, gth, -2.0 * weight * srg, -2.0 * weight * sr


def kernel_fingerprint(kernel: Any = None) -> int:
    """An integer that changes with the kernel's code and with every constant Numba
    compiles into it (the salt of PyTensor's on-disk cache key for the Op that runs it)."""
    fn = _kernel_py if kernel is None else kernel
    code = fn.__code__
    names = sorted(
        set(code.co_names)
        | {n for c in code.co_consts if hasattr(c, "co_names") for n in c.co_names}
    )
    glob = fn.__globals__
    frozen = [
        (n, repr(glob[n])) for n in names if isinstance(glob.get(n), (int, float, tuple, bool))
    ]
    digest = hashlib.sha256(marshal.dumps(code) + repr(frozen).encode()).hexdigest()
    return int(digest[:15], 16)


@lru_cache(maxsize=1)
def compiled_kernel() -> Any:
    """The Numba-compiled kernel (compiled on first use; imports Numba).

    Numba caches the machine code on disk: beside this file where the installation is
    writable, else in the user's cache folder (``~/.cache/numba``, a read-only conda or
    HPC-module installation), keyed by this file's path and content. Where neither can be
    written, the kernel is compiled in every process (about 3 s)."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)(_kernel_py)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        log.debug("Numba kernel not cached on disk: %s", exc)
        return numba.njit(cache=False, nogil=True, fastmath=_FASTMATH)(_kernel_py)


@lru_cache(maxsize=1)
def kernel_available() -> bool:
    """Whether Numba is installed (checked without importing it)."""
    from .sampler import module_available

    return bool(module_available("numba"))


def _arrays(F, G, theta, contrast, offset, weight, data, iu, ju):
    f = np.ascontiguousarray
    n_ang = data.shape[0]
    return (
        f(F, dtype=np.float64),
        f(G, dtype=np.float64),
        f(np.broadcast_to(theta, (n_ang,)), dtype=np.float64),
        f(np.broadcast_to(contrast, (n_ang,)), dtype=np.float64),
        f(np.broadcast_to(offset, (n_ang,)), dtype=np.float64),
        f(np.broadcast_to(weight, (n_ang,)), dtype=np.float64),
        f(data, dtype=np.float64),
        f(iu, dtype=np.int64),
        f(ju, dtype=np.int64),
    )


def laminar_sums(F, G, theta, contrast, offset, weight, data, iu, ju, q2: float):
    """(Σ_a w_a ss_a, ss) with ss_a = Σ_k (d_ak - offset_a - contrast_a g1²_ak)².

    ``data`` is laid out as a Problem's, (A, m); ``weight`` w (A,) weighs the angles (1/σ_a² in the likelihood)."""
    out = compiled_kernel()(
        *_arrays(F, G, theta, contrast, offset, weight, data, iu, ju), float(q2), False
    )
    return float(out[0]), out[1]


def laminar_sums_and_gradient(
    F,
    G,
    theta,
    contrast,
    offset,
    weight,
    data,
    iu,
    ju,
    q2: float,
) -> tuple[Any, ...]:
    """V = Σ_a w_a ss_a and its gradient in one pass over the pairs:
    (V, ss (A,) = dV/dw, dV/dF (n,), dV/dG (n,), dV/dθ (A,), dV/dcontrast (A,),
    dV/doffset (A,))."""
    out = compiled_kernel()(
        *_arrays(F, G, theta, contrast, offset, weight, data, iu, ju), float(q2), True
    )
    return (float(out[0]), *out[1:])


def frame_terms(params: Sequence[Any], t: Any, phi_deg: Any, q: float, gap: float, xp: Any):
    """F (n,), G (n,) and θ per angle (A,) of :mod:`homodyne.model`, in namespace ``xp``
    (the same expressions as :func:`homodyne.model.g1_squared_pairs`)."""
    log_t = xp.log(t)
    F = _transport_integral(params, t, log_t, xp)
    G = _strain_integral(params, t, log_t, xp)
    unique_phi, group = angle_groups(phi_deg)
    theta = shear_phase_scale(params[6], unique_phi, q, gap, xp)
    return F, G, theta[group]


def gradient_choice(requested: str | None = None) -> str:
    """The requested gradient (``mcmc.gradient``), ``auto`` when None."""
    choice = (requested or "auto").lower()
    if choice not in GRADIENT_CHOICES:
        from ..errors import ConfigError

        raise ConfigError(
            f"mcmc.gradient must be one of {', '.join(GRADIENT_CHOICES)}, got {choice!r}"
        )
    return choice


def uses_kernel(mode: str, requested: str | None = None, platform_ok: bool = True) -> bool:
    """Whether the hand-written gradient evaluates this problem's likelihood.

    It covers the laminar-flow mode on a CPU platform with Numba installed; static modes
    (one exponential per pair, already cheap under automatic differentiation) and GPUs
    keep the model's own graph. ``kernel`` raises where it cannot be used."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    choice = gradient_choice(requested)
    if choice == "autodiff":
        return False
    ok = mode == "laminar_flow" and platform_ok and kernel_available()
    if choice in ("kernel", "numba") and not ok:
        from ..errors import ConfigError

        why = (
            "it covers the laminar_flow mode only"
            if mode != "laminar_flow"
            else "it needs Numba (pip install numba)"
            if not kernel_available()
            else "it runs on the CPU platform only"
        )
        raise ConfigError(f"mcmc.gradient = {choice!r} cannot be used here: {why}")
    return ok


def kernel_log_likelihood(
    spec: Any,
    params: Sequence[Any],
    contrast: Any,
    offset: Any,
    sigma: Any,
    sigma_scale: Any,
    xp: Any,
    weighted_sums: Any,
    *,
    t: Any,
) -> Any:
    """The Gaussian log-likelihood of :func:`homodyne.bayes.posterior.gaussian_log_likelihood`
    with the sums of squares from the backend's registered kernel.

    ``weighted_sums(F, G, theta, contrast, offset, weight)`` is the backend's function of
    :func:`laminar_sums_and_gradient` (a PyTensor Op, a ``jax.custom_vjp``), closed over
    the data; ``contrast`` and ``offset`` are the (S,) scaling vectors of the sampler."""
    pr = spec.problem
    F, G, theta = frame_terms(params, t, pr.phi, pr.q, pr.gap, xp)
    idx = spec.scaling_index
    scale = sigma_scale * sigma  # (A,)
    weight = 1.0 / (scale * scale)
    value = weighted_sums(F, G, theta, contrast[idx], offset[idx], weight)
    m, n_ang = pr.data.shape[1], pr.data.shape[0]
    return -0.5 * value - m * xp.sum(xp.log(scale)) - 0.5 * math.log(2.0 * math.pi) * m * n_ang
