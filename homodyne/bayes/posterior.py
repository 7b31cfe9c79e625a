"""The posterior specification every backend builds its model from, and the Gaussian
log-likelihood both backends use."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model import c2_pairs
from ..problem import Problem
from .priors import NOISE_PRIOR, PriorSpec, prior_for
from .space import SamplingSpace, choose_space
from .start import start_point

__all__ = [
    "PosteriorSpec",
    "build_posterior_spec",
    "gaussian_log_likelihood",
    "gaussian_log_likelihood_from_sums",
]


def gaussian_log_likelihood(data: Any, mu: Any, sigma: Any, sigma_scale: Any, xp: Any) -> Any:
    """log N(data | mu, (sigma_scale · sigma_angle)²) summed over all angles and pairs.

    ``data`` and ``mu`` are (A, m); ``sigma`` is (A,). Written with per-angle sums of
    squared residuals, so that each c2 value costs a subtraction and a multiply-add and
    the logarithm of the noise is taken once per angle, not once per value (a
    distribution object's ``log_prob`` broadcasts the scale to every value). Both
    backends use it, so their log densities are the same function.
    """
    r = data - mu
    ss = xp.sum(r * r, axis=1)  # (A,)
    return gaussian_log_likelihood_from_sums(ss, data.shape[1], sigma, sigma_scale, xp)


def gaussian_log_likelihood_from_sums(
    ss: Any, m: int, sigma: Any, sigma_scale: Any, xp: Any
) -> Any:
    """:func:`gaussian_log_likelihood` from the per-angle sums of squared residuals ss (A,)
    over m pairs each (the form the hand-written gradient of :mod:`.gradient` feeds)."""
    scale = sigma_scale * sigma  # (A,)
    return (
        -0.5 * xp.sum(ss / (scale * scale))
        - m * xp.sum(xp.log(scale))
        - 0.5 * math.log(2.0 * math.pi) * m * sigma.shape[0]
    )


@dataclass
class PosteriorSpec:
    """Everything a backend needs to build the posterior of one (reduced) problem."""

    problem: Problem
    free_names: tuple[str, ...]
    free_index: np.ndarray  # position of each free parameter in MODES order
    fixed_values: np.ndarray  # (P,) configured values (used for the fixed ones)
    priors: tuple[PriorSpec, ...]  # one per free parameter
    space: SamplingSpace
    scaling_index: np.ndarray  # (A,) contrast/offset index of each angle
    start: dict[str, Any]  # starting point: values, contrast, offset, sigma_scale, source

    @property
    def n_free(self) -> int:
        return len(self.free_names)

    @property
    def n_scaling(self) -> int:
        return self.problem.n_scaling

    @property
    def n_data(self) -> int:
        return self.problem.n_data

    @property
    def k(self) -> int:
        return self.space.k

    def slices(self) -> tuple[slice, slice, slice, int]:
        p, s = self.n_free, self.n_scaling
        return slice(0, p), slice(p, p + s), slice(p + s, p + 2 * s), p + 2 * s

    def split(self, theta: Any) -> tuple[list[Any], Any, Any, Any]:
        """(parameter list in MODES order, contrast (S,), offset (S,), sigma_scale) from θ (k,)."""
        _ps, cs, os_, ns = self.slices()
        params: list[Any] = [float(v) for v in self.fixed_values]
        for j, i in enumerate(self.free_index):
            params[int(i)] = theta[j]
        return params, theta[cs], theta[os_], theta[ns]

    def c2_model(
        self,
        params: Sequence[Any],
        contrast: Any,
        offset: Any,
        xp: Any,
        *,
        t: Any = None,
        iu: Any = None,
        ju: Any = None,
    ) -> Any:
        """Model c2 on the problem's pairs, (A, m): :func:`homodyne.model.c2_pairs`.

        ``t``, ``iu`` and ``ju`` default to the problem's arrays; a backend may pass them
        as its own data variables so that they are not compiled in as constants."""
        pr = self.problem
        idx = self.scaling_index
        return c2_pairs(
            params,
            pr.t if t is None else t,
            pr.phi,
            pr.q,
            pr.gap,
            pr.iu if iu is None else iu,
            pr.ju if ju is None else ju,
            contrast[idx],
            offset[idx],
            pr.mode,
            xp,
        )

    def prior_table(self) -> dict[str, dict[str, Any]]:
        out = {p.name: p.to_dict() for p in self.priors}
        lo, hi = self.problem.contrast_bounds
        out["contrast"] = {"dist": "Uniform", "lower": lo, "upper": hi}
        lo, hi = self.problem.offset_bounds
        out["offset"] = {"dist": "Uniform", "lower": lo, "upper": hi}
        out["sigma_scale"] = {"dist": "LogNormal", "mu": NOISE_PRIOR.mu, "sigma": NOISE_PRIOR.sigma}
        return out


def build_posterior_spec(
    problem: Problem, init: Any = None, reparam: str = "auto"
) -> PosteriorSpec:
    """Priors, starting point and whitened sampling space of a problem.

    ``init`` is a classical fit to start from (None: the configured values); ``reparam``
    the ``mcmc.reparam`` choice of the power-law coordinates (auto, plain, power_law)."""
    params = problem.parameters
    free_index = np.array(
        [i for i, n in enumerate(params.names) if not params[n].fixed], dtype=np.intp
    )
    free_names = tuple(params.names[i] for i in free_index)
    priors = tuple(prior_for(n, params[n]) for n in free_names)
    start = start_point(problem, init)
    space, theta_c = choose_space(problem, free_index, free_names, priors, start, reparam)
    start["theta"] = theta_c
    return PosteriorSpec(
        problem,
        free_names,
        free_index,
        params.values(),
        priors,
        space,
        problem.scaling_index(),
        start,
    )
