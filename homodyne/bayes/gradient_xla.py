"""The laminar sums and their gradient as array operations, for a compiler (XLA) to fuse.

The same function as :func:`homodyne.bayes.gradient.laminar_sums_and_gradient`,

    V = Σ_a w_a Σ_k (d_ak - offset_a - contrast_a E_k sinc²(θ_a ΔG_k))²,

with its gradient with respect to the per-frame F, G and the per-angle θ, contrast,
offset and w, written in an array namespace ``xp`` (``jax.numpy``) instead of a scalar
loop, so that a compiler can vectorise it and, on a GPU, keep it on the device. The
backend registers it as the rule of its own automatic differentiation
(:mod:`homodyne.optimization.jax_gradient`); the physics in front of it (F, G, θ from the
parameters) stays :mod:`homodyne.model`'s.

Compared with automatic differentiation of the model it does, per gradient:

* per pair one exponential, per pair and angle one range reduction for both the sine
  and the cosine (the derivative of sinc² needs the cosine; automatic differentiation of
  the polynomial sine differentiates the polynomial instead), no second pass for the
  derivative of the Taylor branch;
* the per-frame sums ∂V/∂F_f = Σ_{k: j=f} e_k - Σ_{k: i=f} e_k of F and G together in
  one segment sum over 2m per-pair values (automatic differentiation forms one
  scatter-add per gather of the model: F[j], F[i], G[j], G[i]).

``dtype`` (``float32``) evaluates the per-pair terms in single precision and accumulates
every sum over pairs in float64 (``mcmc.precision``); the per-frame and per-angle inputs
and the differences F_j - F_i, G_j - G_i are formed in float64 first.

This module imports no array library: the namespace and its sine-cosine come in.
"""

from __future__ import annotations

from typing import Any

from ..model import _SERIES_X
from ..trig import polynomial_sincos

__all__ = [
    "AUTO_GRADIENT",
    "PRECISIONS",
    "laminar_sums_and_gradient_xp",
    "numpyro_gradient",
]

#: Values of ``mcmc.precision``: the floating-point type of the per-pair evaluation.
PRECISIONS = ("float64", "float32")


def laminar_sums_and_gradient_xp(
    F: Any,
    G: Any,
    theta: Any,
    contrast: Any,
    offset: Any,
    weight: Any,
    data: Any,
    iu: Any,
    ju: Any,
    q2: float,
    xp: Any,
    segment_sum: Any,
    *,
    sincos: Any = None,
    dtype: Any = None,
    with_grad: bool = True,
) -> tuple[Any, ...]:
    """(V, dV/dw = ss (A,), dV/dF (n,), dV/dG (n,), dV/dθ (A,), dV/dcontrast (A,),
    dV/doffset (A,)), the outputs of :func:`homodyne.bayes.gradient.laminar_sums_and_gradient`.

    ``data`` (A, m), ``iu``/``ju`` the pairs; ``segment_sum(values, index, n)`` sums the
    last axis of ``values`` into n bins by ``index`` (``jax.ops.segment_sum``);
    ``sincos(x)`` gives (sin x, cos x) (default
    :func:`homodyne.trig.polynomial_sincos`); ``dtype`` the per-pair floating type (None: float64).
    With ``with_grad=False`` only (V, ss) are returned."""
    f64 = xp.float64
    dt = f64 if dtype is None else dtype
    if sincos is None:

        def sincos(x: Any) -> tuple[Any, Any]:
            return polynomial_sincos(x, xp)

    dF = F[ju] - F[iu]
    E = xp.exp(-q2 * xp.abs(dF)).astype(dt)
    dG = (G[ju] - G[iu]).astype(dt)
    th = theta.astype(dt)[:, None]
    x = th * dG[None, :]
    sn, cs = sincos(x)
    small = xp.abs(x) < _SERIES_X
    x_safe = xp.where(small, 1.0, x)
    inv = 1.0 / x_safe
    sc = sn * inv
    x2 = x * x
    h = xp.where(small, 1.0 + x2 * (x2 * (2.0 / 45.0 - x2 * (1.0 / 315.0)) - 1.0 / 3.0), sc * sc)
    g = E[None, :] * h
    res = data.astype(dt) - offset.astype(dt)[:, None] - contrast.astype(dt)[:, None] * g
    ss = xp.sum(res.astype(f64) ** 2, axis=1)
    value = xp.sum(weight * ss)
    if not with_grad:
        return value, ss
    hp = xp.where(
        small, x * (x2 * (8.0 / 45.0 - x2 * (6.0 / 315.0)) - 2.0 / 3.0), 2.0 * sc * (cs - sc) * inv
    )
    sr = xp.sum(res.astype(f64), axis=1)
    srg = xp.sum((res * g).astype(f64), axis=1)
    u = (-2.0 * weight * contrast).astype(dt)[:, None] * res  # d(w_a ss_a)/dg
    wx = u * (E[None, :] * hp)  # d(w_a ss_a)/dx
    gth = xp.sum((wx * dG[None, :]).astype(f64), axis=1)
    eG = xp.sum((wx * th).astype(f64), axis=0)  # per pair: d V / d ΔG_k
    sgn = xp.where(dF < 0.0, -1.0, 1.0)
    eF = -q2 * sgn * E.astype(f64) * xp.sum((u * h).astype(f64), axis=0)  # d V / d ΔF_k
    e = xp.stack([eF, eG])  # (2, m)
    # Σ_{k: j=f} e_k - Σ_{k: i=f} e_k for every frame f: one segment sum of 2m values
    # (measured on the JAX CPU platform: 0.11 ms, half the time of a gather of each
    # frame's pairs from a precomputed incidence table).
    per_frame = segment_sum(xp.concatenate([e, -e], axis=1), xp.concatenate([ju, iu]), F.shape[0])
    return (
        value,
        ss,
        per_frame[0],
        per_frame[1],
        gth,
        -2.0 * weight * srg,
        -2.0 * weight * sr,
    )


#: What ``mcmc.gradient = "auto"`` runs for laminar flow in the NumPyro backend, per
#: platform, by measurement (docs/mcmc.rst, benchmarks/results/gradient_cpu_*.json):
#: on the JAX CPU platform the XLA kernel for chains in threads (the Numba kernel for
#: chains in processes of their own: :func:`numpyro_gradient`); on a GPU automatic
#: differentiation, the last configuration measured there (the XLA kernel has no GPU
#: measurement yet: ``mcmc.gradient = "kernel"`` runs it).
AUTO_GRADIENT = {"cpu": "xla", "gpu": "autodiff"}


def numpyro_gradient(
    mode: str,
    requested: str | None,
    on_gpu: bool,
    precision: str | None = None,
    chain_method: str | None = None,
) -> str:
    """The NumPyro backend's gradient of the likelihood: ``xla`` (the kernel of this
    module as a ``jax.custom_vjp``), ``numba`` (the Numba kernel through a host callback,
    CPU only) or ``autodiff``. ``precision`` ``float32`` needs the XLA kernel (laminar
    flow); a request that cannot run raises a ConfigError that says why.

    ``auto`` on the CPU depends on how the chains run (``chain_method``, once resolved):
    chains in threads of one process (``parallel``, or not given) take the XLA kernel,
    which takes no Python lock per step; chains that have a process to themselves
    (``processes``, ``sequential``, ``vectorized``) take the Numba kernel, which costs
    less than half as much per gradient (docs/mcmc.rst, benchmarks/results/)."""
    from ..errors import ConfigError
    from .gradient import gradient_choice, uses_kernel

    choice = gradient_choice(requested)
    prec = (precision or "float64").lower()
    if prec not in PRECISIONS:
        raise ConfigError(f"mcmc.precision must be one of {', '.join(PRECISIONS)}, got {prec!r}")
    laminar = mode == "laminar_flow"
    if prec == "float32" and (not laminar or choice in ("autodiff", "numba")):
        why = (
            "it covers the laminar_flow likelihood only"
            if not laminar
            else f"it is evaluated by the XLA kernel, not by mcmc.gradient = {choice!r}"
        )
        raise ConfigError(f"mcmc.precision = 'float32' cannot be used here: {why}")
    if choice == "numba":
        return "numba" if uses_kernel(mode, "numba", platform_ok=not on_gpu) else "autodiff"
    if choice == "autodiff":
        return "autodiff"
    if not laminar:
        if choice == "kernel":
            raise ConfigError(
                "mcmc.gradient = 'kernel' cannot be used here: it covers the laminar_flow mode only"
            )
        return "autodiff"
    if choice == "kernel" or prec == "float32":
        return "xla"
    auto = AUTO_GRADIENT["gpu" if on_gpu else "cpu"]
    if not on_gpu and chain_method not in (None, "parallel") and uses_kernel(mode, "auto"):
        return "numba"
    return auto
