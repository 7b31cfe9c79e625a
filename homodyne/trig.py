"""Sine for the JAX namespace on the CPU: range reduction and polynomials.

XLA's CPU ``sin`` costs about 16 ns per element, which dominated the gradient of the
laminar model (sin and its derivative: 3.8 of 6.2 ms per JAX gradient of 139 000 values
on one core). :func:`sin` below uses only multiplications, additions, ``round``,
``floor`` and ``where``, which XLA vectorises: the gradient of the laminar 8 x 200² log
density then takes 4.0 ms. Its accuracy is that of the C library (measured maximum
error 2.2e-16 absolute and 3.2e-16 relative for |x| up to 1e3, 2.2e-16 absolute up to
1e5), and automatic differentiation takes its derivative through the polynomials.
NumPy and PyTensor keep their own ``sin`` (in PyTensor the polynomial form measured
slower: 8.4 ms against 4.5 ms per gradient).

Method (as in fdlibm's ``__kernel_sin``/``__kernel_cos``): k = round(2x/π); r = x - kπ/2
with π/2 split in three parts (Cody and Waite), exact for |k| up to about 2^20
(|x| < 1.6e6); sin r and cos r from their minimax polynomials on |r| ≤ π/4; the quadrant
k mod 4 selects ±sin r or ±cos r.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

__all__ = [
    "COS_COEFFICIENTS",
    "PIO2_PARTS",
    "SIN_COEFFICIENTS",
    "SIN_MAX_ABS_ARGUMENT",
    "TWO_OVER_PI",
    "polynomial_sin",
    "polynomial_sincos",
    "sin",
]

#: Largest |x| for which the three-part range reduction is exact.
SIN_MAX_ABS_ARGUMENT = 1.6e6

#: 2/π, the factor of the quadrant k = round(2x/π).
TWO_OVER_PI = _TWO_OVER_PI = 2.0 / math.pi
# π/2 = _PIO2[0] + _PIO2[1] + _PIO2[2]; the first two have trailing zero bits, so k·_PIO2[i]
# is exact for integer |k| < 2^20 (fdlibm's pio2_1, pio2_2, pio2_3).
PIO2_PARTS = _PIO2 = (
    1.57079632673412561417e00,
    6.07710050630396597660e-11,
    2.02226624871116645580e-21,
)
# fdlibm's minimax coefficients of sin r = r + r³ S(r²) and cos r = 1 - r²/2 + r⁴ C(r²).
SIN_COEFFICIENTS = _S = (
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
)
COS_COEFFICIENTS = _C = (
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
)


def sin(x: Any, xp: Any = np) -> Any:
    """sin(x) elementwise: ``xp.sin`` except for ``jax.numpy`` on the JAX CPU platform,
    where the polynomial form (valid for |x| < :data:`SIN_MAX_ABS_ARGUMENT`) is used."""
    if getattr(xp, "__name__", "") != "jax.numpy":
        return xp.sin(x)
    # jax.numpy was given, so JAX is loaded: ask it for the platform without an import
    # statement here (this module belongs to the stack-free base of the package)
    if sys.modules["jax"].default_backend() != "cpu":  # a GPU's own sin is fast
        return xp.sin(x)
    return polynomial_sin(x, xp)


def polynomial_sin(x: Any, xp: Any = np) -> Any:
    """sin(x) from range reduction and minimax polynomials, in any array namespace (the
    cosine branch of :func:`polynomial_sincos` is dropped by XLA, which compiles it)."""
    return polynomial_sincos(x, xp)[0]


def polynomial_sincos(x: Any, xp: Any = np) -> tuple[Any, Any]:
    """(sin x, cos x) from one range reduction and fdlibm's polynomials (|x| < 1.6e6)."""
    k = xp.round(x * _TWO_OVER_PI)
    r = ((x - k * _PIO2[0]) - k * _PIO2[1]) - k * _PIO2[2]
    z = r * r
    s = r + r * z * (_S[0] + z * (_S[1] + z * (_S[2] + z * (_S[3] + z * (_S[4] + z * _S[5])))))
    c = (
        1.0
        - 0.5 * z
        + z * z * (_C[0] + z * (_C[1] + z * (_C[2] + z * (_C[3] + z * (_C[4] + z * _C[5])))))
    )
    quadrant = k - 4.0 * xp.floor(k * 0.25)  # k mod 4, in {0, 1, 2, 3}
    odd = xp.abs(quadrant - 2.0 * xp.floor(quadrant * 0.5) - 1.0) < 0.5  # 1 or 3: swap
    sn = xp.where(odd, c, s)
    cs = xp.where(odd, s, c)
    sn = xp.where(quadrant >= 2.0, -sn, sn)  # quadrants 2, 3: -sin
    cs = xp.where((quadrant >= 0.5) & (quadrant < 2.5), -cs, cs)  # quadrants 1, 2: -cos
    return sn, cs
