"""The hand-written laminar gradient for JAX, in two forms.

:func:`xla_weighted_sums_function` (``mcmc.gradient`` ``auto``/``kernel``): the pass of
:mod:`homodyne.bayes.gradient_xla` as a ``jax.custom_vjp``, compiled by XLA with the rest
of the NUTS step (CPU and GPU, vectorised chains, optional float32 per-pair terms).

:func:`weighted_sums_function` (``mcmc.gradient`` ``numba``) returns a ``jax.custom_vjp`` function of per-frame F, G
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

__all__ = ["CHUNK_VALUES", "weighted_sums_function", "xla_weighted_sums_function"]


def weighted_sums_function(q2: float, data: np.ndarray, iu: np.ndarray, ju: np.ndarray) -> Any:
    """``weighted_sums(F, G, theta, contrast, offset, weight)`` for
    :func:`homodyne.bayes.gradient.kernel_log_likelihood`, closed over the data.

    The data and pair indices are host (NumPy) arrays held by the callback: only the
    per-frame and per-angle inputs (a few kB) cross into the callback per evaluation, not
    the A x m data."""
    q2 = float(q2)
    f64 = jnp.float64
    data = np.ascontiguousarray(data, dtype=np.float64)
    iu = np.ascontiguousarray(iu, dtype=np.int64)
    ju = np.ascontiguousarray(ju, dtype=np.int64)

    def _value(*args: np.ndarray) -> np.ndarray:
        F, G, theta, contrast, offset, weight = (np.asarray(a) for a in args)
        value = laminar_sums(F, G, theta, contrast, offset, weight, data, iu, ju, q2)[0]
        return np.asarray(value, dtype=np.float64)

    def _value_and_grad(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        F, G, theta, contrast, offset, weight = (np.asarray(a) for a in args)
        out = laminar_sums_and_gradient(F, G, theta, contrast, offset, weight, data, iu, ju, q2)
        return tuple(np.asarray(v, dtype=np.float64) for v in out)

    def _shapes(F: Any, theta: Any) -> tuple[Any, ...]:
        n = jax.ShapeDtypeStruct(F.shape, f64)
        a = jax.ShapeDtypeStruct(theta.shape, f64)
        return (jax.ShapeDtypeStruct((), f64), a, n, n, a, a, a)

    @jax.custom_vjp
    def weighted_sums(F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any) -> Any:
        shape = jax.ShapeDtypeStruct((), f64)
        args = (F, G, theta, contrast, offset, weight)
        return jax.pure_callback(_value, shape, *args, vmap_method="sequential")

    def fwd(F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any) -> Any:
        args = (F, G, theta, contrast, offset, weight)
        out = jax.pure_callback(_value_and_grad, _shapes(F, theta), *args, vmap_method="sequential")
        return out[0], out[1:]

    def bwd(res: Any, ct: Any) -> tuple[Any, ...]:
        ss, dF, dG, dth, dc, do = res
        return (ct * dF, ct * dG, ct * dth, ct * dc, ct * do, ct * ss)

    weighted_sums.defvjp(fwd, bwd)
    return weighted_sums


#: Largest number of values (angles x pairs) that one evaluation of the XLA kernel takes
#: at once; larger problems are evaluated in chunks of pairs by a ``lax.scan`` whose
#: partial sums add up to the whole (every output of the kernel is a sum over pairs), so
#: the kernel's intermediates stay those of a chunk whatever the size of the stack (the
#: full 23 x 1000² stack: 11.5 million values, 6 chunks). 2^21 values keep a chunk's
#: intermediates at about half a gigabyte in float64 per chain.
CHUNK_VALUES = 2**21


def xla_weighted_sums_function(
    q2: float,
    iu: np.ndarray,
    ju: np.ndarray,
    n: int,
    *,
    precision: str = "float64",
    on_gpu: bool = False,
    chunk_values: int | None = None,
) -> Any:
    """``weighted_sums(F, G, theta, contrast, offset, weight, data)``: V = Σ_a w_a ss_a with
    its gradient from :func:`homodyne.bayes.gradient_xla.laminar_sums_and_gradient_xp`,
    registered as a ``jax.custom_vjp`` (compiled by XLA with the rest of the NUTS step:
    no host callback, so it runs on a GPU too and vectorises over chains).

    The pair indices are constants of the program; the data
    are an argument (their cotangent is zero and never formed under NumPyro's gradient,
    which is taken with respect to the sampled vector only). ``precision`` ``float32``
    evaluates the per-pair terms in single precision with float64 sums. On the CPU the
    sine and cosine are the polynomials of :func:`homodyne.trig.polynomial_sincos`
    (vectorised); on a GPU the device's own. A problem of more than ``chunk_values``
    values (default :data:`CHUNK_VALUES`) is evaluated in chunks of pairs."""
    from ..bayes.gradient_xla import laminar_sums_and_gradient_xp

    q2 = float(q2)
    iu_np = np.asarray(iu, dtype=np.int32)
    ju_np = np.asarray(ju, dtype=np.int32)
    m = int(iu_np.shape[0])
    dtype = jnp.float32 if precision == "float32" else jnp.float64
    limit = int(CHUNK_VALUES if chunk_values is None else chunk_values)
    if limit < 1:
        raise ValueError(f"chunk_values must be positive, got {limit}")

    def sincos(x: Any) -> tuple[Any, Any]:
        return jnp.sin(x), jnp.cos(x)

    def segment_sum(values: Any, index: Any, n_bins: int) -> Any:
        return jax.ops.segment_sum(values.T, index, n_bins).T

    def pass_over(args: tuple[Any, ...], data: Any, i: Any, j: Any, with_grad: bool) -> Any:
        F, G, theta, contrast, offset, weight = args
        return laminar_sums_and_gradient_xp(
            F,
            G,
            theta,
            contrast,
            offset,
            weight,
            data,
            i,
            j,
            q2,
            jnp,
            segment_sum,
            sincos=sincos if on_gpu else None,
            dtype=dtype,
            with_grad=with_grad,
        )

    def add(total: tuple[Any, ...], part: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a + b for a, b in zip(total, part, strict=True))

    def kernel(args: tuple[Any, ...], with_grad: bool) -> tuple[Any, ...]:
        *inputs, data = args
        A = int(data.shape[0])
        per = max(1, limit // max(1, A))  # pairs per chunk
        iu_c, ju_c = jnp.asarray(iu_np), jnp.asarray(ju_np)
        if m <= per:
            return pass_over(tuple(inputs), data, iu_c, ju_c, with_grad)
        n_full = m // per

        def chunk(total: Any, c: Any) -> tuple[Any, None]:
            start = c * per
            d = jax.lax.dynamic_slice_in_dim(data, start, per, axis=1)
            i = jax.lax.dynamic_slice_in_dim(iu_c, start, per)
            j = jax.lax.dynamic_slice_in_dim(ju_c, start, per)
            return add(total, pass_over(tuple(inputs), d, i, j, with_grad)), None

        # (V, ss) or (V, ss, dV/dF, dV/dG, dV/dθ, dV/dcontrast, dV/doffset), all float64
        shapes = [(), (A,), (n,), (n,), (A,), (A,), (A,)] if with_grad else [(), (A,)]
        zeros = tuple(jnp.zeros(shape, jnp.float64) for shape in shapes)
        total, _ = jax.lax.scan(chunk, zeros, jnp.arange(n_full))
        rest = n_full * per
        if m > rest:  # the remainder, a chunk of its own size
            part = pass_over(tuple(inputs), data[:, rest:], iu_c[rest:], ju_c[rest:], with_grad)
            total = add(total, part)
        return total

    @jax.custom_vjp
    def weighted_sums(
        F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any, data: Any
    ) -> Any:
        return kernel((F, G, theta, contrast, offset, weight, data), False)[0]

    def fwd(F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any, data: Any) -> Any:
        out = kernel((F, G, theta, contrast, offset, weight, data), True)
        return out[0], (*out[1:], data)

    def bwd(res: Any, ct: Any) -> tuple[Any, ...]:
        ss, dF, dG, dth, dc, do, data = res
        return (ct * dF, ct * dG, ct * dth, ct * dc, ct * do, ct * ss, jnp.zeros_like(data))

    weighted_sums.defvjp(fwd, bwd)
    return weighted_sums
