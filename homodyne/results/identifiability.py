"""Which combinations of the parameters do the data determine?

The covariance of the free parameters (from the classical Jacobian, or the sample
covariance of the posterior draws) is turned into its correlation matrix R and
eigen-decomposed. A small eigenvalue λ of R means a direction v along which the
parameters, each in units of its own error, are far better determined together than
separately: the combination Σ v_i x_i / σ_i has variance λ. Such a direction is named in
words ("the data constrain D0 + 0.97·D_offset, not each") with the well-determined
combination written in physical units, its value and its error.

For two parameters λ = 1 - |r|: ``NEAR_DEGENERATE`` = 1e-2 is |r| > 0.99 and
``DEGENERATE`` = 1e-4 is |r| > 0.9999, the point where the errors of the individual
parameters are a hundred times those of their combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEGENERATE",
    "NEAR_DEGENERATE",
    "Direction",
    "covariance_from_draws",
    "near_degenerate_directions",
]

#: Eigenvalue of the correlation matrix below which a direction is reported.
NEAR_DEGENERATE = 1e-2
#: Eigenvalue below which the parameters are called degenerate (the verdict says so).
DEGENERATE = 1e-4
#: Components of an eigenvector smaller than this (after normalising the largest to 1)
#: are left out of the named combination.
_MIN_COMPONENT = 0.2


@dataclass(frozen=True)
class Direction:
    """One near-degenerate direction of the parameter space."""

    names: tuple[str, ...]  # the parameters involved, strongest first
    coefficients: tuple[float, ...]  # combination Σ c_i · x_i (physical units), c_0 = 1
    eigenvalue: float  # of the correlation matrix (1 - |r| for a pair)
    value: float  # the combination at the estimate
    error: float  # its 1σ error
    separate_errors: tuple[float, ...]  # the 1σ error of each parameter alone
    unit: str  # the combination's unit when every term shares one, else ""

    @property
    def degenerate(self) -> bool:
        return self.eigenvalue < DEGENERATE

    @property
    def combination(self) -> str:
        """The well-determined combination, e.g. ``D0 + 0.97·D_offset``."""
        parts = []
        for k, (n, c) in enumerate(zip(self.names, self.coefficients, strict=True)):
            mag = abs(c)
            term = n if np.isclose(mag, 1.0, rtol=5e-3) else f"{mag:.3g}·{n}"
            if k == 0:
                parts.append(term if c > 0 else f"-{term}")
            else:
                parts.append(("+ " if c > 0 else "- ") + term)
        return " ".join(parts)

    @property
    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if len(self.names) == 2:
            who = f"the data constrain {self.combination}, not each"
        else:
            who = (
                f"{', '.join(self.names[:-1])} and {self.names[-1]} move together; "
                f"the data constrain {self.combination}"
            )
        seps = ", ".join(
            f"{n} ± {e:.3g}" for n, e in zip(self.names, self.separate_errors, strict=True)
        )
        return (
            f"{who}: {self.combination} = {self.value:.6g} ± {self.error:.3g}{unit} "
            f"(separately {seps}; correlation eigenvalue {self.eigenvalue:.1e})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "coefficients": list(self.coefficients),
            "combination": self.combination,
            "value": self.value,
            "error": self.error,
            "separate_errors": list(self.separate_errors),
            "unit": self.unit,
            "eigenvalue": self.eigenvalue,
            "degenerate": self.degenerate,
            "text": self.text,
        }


def covariance_from_draws(draws: np.ndarray) -> np.ndarray:
    """Sample covariance of posterior draws shaped (n_draws, k)."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[0] < 3:
        raise ValueError(f"draws must be (n_draws >= 3, k), got shape {draws.shape}")
    return np.atleast_2d(np.cov(draws, rowvar=False))


def near_degenerate_directions(
    names: Sequence[str],
    covariance: np.ndarray,
    values: Sequence[float],
    *,
    units: Mapping[str, str] | None = None,
    threshold: float = NEAR_DEGENERATE,
) -> list[Direction]:
    """The directions whose correlation eigenvalue is below ``threshold``, weakest first."""
    cov = np.asarray(covariance, dtype=float)
    k = len(names)
    if k < 2 or cov.shape != (k, k) or not np.all(np.isfinite(cov)):
        return []
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if np.any(sd <= 0):
        return []
    corr = cov / np.outer(sd, sd)
    corr = 0.5 * (corr + corr.T)
    lam, vecs = np.linalg.eigh(corr)
    vals = np.asarray(values, dtype=float)
    out = []
    for i in np.argsort(lam):
        if lam[i] >= threshold:
            break
        v = vecs[:, i] / np.max(np.abs(vecs[:, i]))
        keep = [j for j in np.argsort(-np.abs(v)) if abs(v[j]) >= _MIN_COMPONENT]
        if len(keep) < 2:
            continue
        w = np.zeros(k)
        w[keep] = v[keep] / sd[keep]  # physical coefficients of the combination
        w = w / w[keep[0]]
        err = float(np.sqrt(max(w @ cov @ w, 0.0)))
        unit_set = {(units or {}).get(names[j], "") for j in keep}
        out.append(
            Direction(
                names=tuple(names[j] for j in keep),
                coefficients=tuple(float(w[j]) for j in keep),
                eigenvalue=float(max(lam[i], 0.0)),
                value=float(w @ np.where(np.isfinite(vals), vals, 0.0)),
                error=err,
                separate_errors=tuple(float(sd[j]) for j in keep),
                unit=unit_set.pop() if len(unit_set) == 1 else "",
            )
        )
    return out
