"""The hand-written laminar gradient of :mod:`homodyne.bayes.gradient` as a PyTensor Op.

:class:`LaminarSums` takes per-frame F, G and per-angle θ, contrast, offset and weight
(plus the data as inputs that carry no gradient) and returns V = Σ_a w_a ss_a together
with its gradient, all from one call of the Numba kernel. Its ``pullback`` scales the
node's own gradient outputs by the cotangent, so the compiled log density and its
gradient make a single pass over the pairs. In PyTensor's Numba backend the Op compiles
to the kernel itself. Used by the PyMC backend only (imports PyTensor, never JAX).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..bayes.gradient import compiled_kernel, kernel_fingerprint, laminar_sums_and_gradient

__all__ = ["LaminarSums", "weighted_sums_function"]

#: Inputs of the Op that carry a gradient (the rest are data).
_N_DIFF = 6


class LaminarSums(Op):
    """(V, ss, dV/dF, dV/dG, dV/dθ, dV/dcontrast, dV/doffset) of the laminar kernel.

    Inputs: F (n,), G (n,), theta (A,), contrast (A,), offset (A,), weight (A,), data
    (A, m), iu (m,), ju (m,). Only V (output 0) may be differentiated."""

    __props__ = ("q2",)

    def __init__(self, q2: float) -> None:
        self.q2 = float(q2)

    def make_node(self, *inputs: Any) -> Apply:
        if len(inputs) != 9:
            raise TypeError(f"LaminarSums takes 9 inputs, got {len(inputs)}")
        ins = [pt.as_tensor_variable(v) for v in inputs]
        ins = [pt.cast(v, "float64") for v in ins[:7]] + [pt.cast(v, "int64") for v in ins[7:]]
        vec = pt.dvector
        outs = [pt.dscalar(), vec(), vec(), vec(), vec(), vec(), vec()]
        return Apply(self, ins, outs)

    def perform(self, node: Apply, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        F, G, theta, contrast, offset, weight, data, iu, ju = inputs
        out = laminar_sums_and_gradient(
            F, G, theta, contrast, offset, weight, data, iu, ju, self.q2
        )
        outputs[0][0] = np.asarray(out[0], dtype=np.float64)
        for k in range(1, 7):
            outputs[k][0] = np.asarray(out[k], dtype=np.float64)

    def infer_shape(self, node: Apply, shapes: list[Any]) -> list[Any]:
        n = shapes[0]
        a = (shapes[6][0],)
        return [(), a, n, n, a, a, a]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[k < _N_DIFF] + [False] * 6 for k in range(9)]

    def pullback(
        self, inputs: Sequence[Any], outputs: Sequence[Any], cotangents: Sequence[Any]
    ) -> list[Any]:
        for g in cotangents[1:]:
            if not isinstance(g.type, DisconnectedType):
                raise NotImplementedError("only the first output of LaminarSums has a gradient")
        ct = cotangents[0]
        _v, ss, dF, dG, dth, dc, do = outputs  # the node's own outputs: one kernel call
        grads = [ct * dF, ct * dG, ct * dth, ct * dc, ct * do, ct * ss]
        return grads + [disconnected_type() for _ in inputs[_N_DIFF:]]


def weighted_sums_function(q2: float, data: Any, iu: Any, ju: Any) -> Any:
    """``weighted_sums(F, G, theta, contrast, offset, weight)`` for
    :func:`homodyne.bayes.gradient.kernel_log_likelihood`, closed over the data."""
    op = LaminarSums(q2)

    def weighted_sums(F: Any, G: Any, theta: Any, contrast: Any, offset: Any, weight: Any) -> Any:
        return cast(list[Any], op(F, G, theta, contrast, offset, weight, data, iu, ju))[0]

    return weighted_sums


def _register_numba() -> None:
    """Compile LaminarSums into PyTensor's Numba programs as the kernel itself (without
    this, PyTensor's Numba backend would call ``perform`` through Python object mode).

    PyTensor caches the compiled program on disk under a key of the Op's type and props;
    the kernel's fingerprint is added to it, so that a changed kernel (a new version of
    this package) is compiled again instead of being read from an old cache entry."""
    try:
        import numba
        from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
    except ImportError:  # pragma: no cover - an older PyTensor or no Numba: object mode
        return

    @register_funcify_default_op_cache_key(LaminarSums)
    def _funcify(op: LaminarSums, node: Any = None, **kwargs: Any) -> Any:
        kernel = compiled_kernel()
        q2 = op.q2

        @numba.njit
        def laminar_sums(F, G, theta, contrast, offset, weight, data, iu, ju):
            v, ss, dF, dG, dth, dc, do = kernel(
                F, G, theta, contrast, offset, weight, data, iu, ju, q2, True
            )
            return np.asarray(v), ss, dF, dG, dth, dc, do

        return laminar_sums, kernel_fingerprint()


_register_numba()
