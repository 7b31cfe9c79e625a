"""Priors: one per free physical parameter, each truncated to the parameter's bounds,
and the prior of the noise multiplier ``sigma_scale``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["NOISE_PRIOR", "PriorSpec", "prior_for"]


@dataclass(frozen=True)
class PriorSpec:
    """One prior, truncated to [lower, upper].

    ``dist`` is the base density (``Normal`` covers ``Normal`` and ``TruncatedNormal`` of
    the configuration; ``LogNormal``'s mu and sigma are those of log(value); ``Uniform``
    spans the bounds). ``log_norm`` is the truncation constant -log(mass of the base
    density inside the bounds), added to the base log density by both backends.
    """

    name: str
    dist: str
    mu: float | None
    sigma: float | None
    lower: float
    upper: float
    log_norm: float = 0.0
    config_dist: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dist": self.config_dist or self.dist,
            "lower": self.lower,
            "upper": self.upper,
        }
        if self.mu is not None:
            d.update(mu=self.mu, sigma=self.sigma)
        if self.config_dist and self.config_dist != self.dist:
            d["base"] = self.dist
        return d


def _log_normal_mass(a: float, b: float) -> float:
    """log(Φ(b) - Φ(a)) for a < b, accurate in both tails."""
    from scipy.special import log_ndtr

    if a > 0:  # both in the upper tail: use the symmetry Φ(b) - Φ(a) = Φ(-a) - Φ(-b)
        a, b = -b, -a
    lb, la = float(log_ndtr(b)), float(log_ndtr(a))
    if la == -math.inf:
        return lb
    return lb + math.log1p(-math.exp(la - lb))


def prior_for(name: str, p: Any) -> PriorSpec:
    """The truncated prior of one parameter (``None`` in the configuration: uniform)."""
    lo, hi = float(p.min), float(p.max)
    prior = p.prior
    if prior is None or prior.dist == "Uniform":
        return PriorSpec(name, "Uniform", None, None, lo, hi, 0.0, "Uniform")
    mu, sd = float(prior.mu), float(prior.sigma)
    if prior.dist in ("Normal", "TruncatedNormal"):
        mass = _log_normal_mass((lo - mu) / sd, (hi - mu) / sd)
        base = "Normal"
    elif prior.dist == "LogNormal":
        if hi <= 0:
            raise ConfigError(f"parameter {name!r}: a LogNormal prior needs max > 0")
        a = -math.inf if lo <= 0 else (math.log(lo) - mu) / sd
        mass = _log_normal_mass(a, (math.log(hi) - mu) / sd)
        base = "LogNormal"
    else:  # pragma: no cover - the configuration validates the names
        raise ConfigError(f"parameter {name!r}: unknown prior {prior.dist!r}")
    if not math.isfinite(mass):
        raise ConfigError(
            f"parameter {name!r}: the {prior.dist}(mu={mu}, sigma={sd}) prior has no mass inside the bounds [{lo}, {hi}]"
        )
    return PriorSpec(name, base, mu, sd, lo, hi, -mass, prior.dist)


#: Prior of the noise multiplier: c2 ~ Normal(model, sigma_scale · σ_angle).
NOISE_PRIOR = PriorSpec("sigma_scale", "LogNormal", 0.0, 2.0, 0.0, math.inf, 0.0, "LogNormal")
