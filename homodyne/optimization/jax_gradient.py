"""The hand-written laminar gradient of :mod:`homodyne.bayes.gradient` for JAX on the CPU.

:func:`weighted_sums_function` returns a ``jax.custom_vjp`` function of per-frame F, G
and per-angle θ, contrast, offset and weight whose value V = Σ_a w_a ss_a comes from the
Numba kernel through ``jax.pure_callback``: the primal call computes V alone; under
differentiation the forward rule computes V and its whole gradient in one pass over the
pairs and the backward rule scales that gradient by the cotangent. Vectorised chains
(``vmap``) call the kernel once per chain. For the JAX CPU platform only (on a GPU the
callback would copy to the host every step); used by the NumPyro backend only (imports
JAX, never PyTensor or PyMC).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..bayes.gradient import laminar_sums, laminar_sums_and_gradient

__all__ = ["weighted_sums_function"]


def weighted_sums_function(q2: float, data: Any, iu: Any, ju: Any) -> Any:
    """``weighted_sums(F, G, theta, contrast, offset, weight)`` for
    :func:`homodyne.bayes.gradient.kernel_log_likelihood`, closed over the data (JAX
    arrays or tracers: they are passed to the callback, not compiled in)."""
    q2 = float(q2)
    f64 = jnp.float64

    def _value(*args: np.ndarray) -> np.ndarray:
        return np.asarray(laminar_sums(*(np.asarray(a) for a in args), q2)[0], dtype=np.float64)

    def _value_and_grad(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        out = laminar_sums_and_gradient(*(np.asarray(a) for a in args), q2)
        return tuple(np.asarray(v, dtype=np.float64) for v in out)

    def _shapes(F: Any, theta: Any) -> tuple[Any, ...]:
        n = jax.ShapeDtypeStruct(F.shape, f64)
        a = jax.ShapeDtypeStruct(theta.shape, f64)
        return (jax.ShapeDtypeStruct((), f64), a, n, n, a, a, a)

    @jax.custom_vjp
    def sums(
        F: Any,
        G: Any,
        theta: Any,
        contrast: Any,
        offset: Any,
        weight: Any,
        data: Any,
        iu: Any,
        ju: Any,
    ) -> Any:
        return jax.pure_callback(
            _value,
            jax.ShapeDtypeStruct((), f64),
            F,
            G,
            theta,
            contrast,
            offset,
            weight,
            data,
            iu,
            ju,
            vmap_method="sequential",
        )

    def fwd(
        F: Any,
        G: Any,
        theta: Any,
        contrast: Any,
        offset: Any,
        weight: Any,
        data: Any,
        iu: Any,
        ju: Any,
    ) -> Any:
        out = jax.pure_callback(
            _value_and_grad,
            _shapes(F, theta),
            F,
            G,
            theta,
            contrast,
            offset,
            weight,
            data,
            iu,
            ju,
            vmap_method="sequential",
        )
        return out[0], out[1:]

    def bwd(res: Any, ct: Any) -> tuple[Any, ...]:
        ss, dF, dG, dth, dc, do = res
        return (ct * dF, ct * dG, ct * dth, ct * dc, ct * do, ct * ss, None, None, None)

    sums.defvjp(fwd, bwd)

    def weighted_sums(F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any) -> Any:
        return sums(F, G, theta, contrast, offset, weight, data, iu, ju)

    return weighted_sums
