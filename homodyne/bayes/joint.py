"""The joint posterior across q: one physical parameter set shared by several q rings.

J(t) and γ̇(t) do not depend on q, so the q rings of one file share the physical
parameters; each ring keeps its own contrast and offset per angle (as in the classical
joint fit, :mod:`homodyne.joint`) and its own noise multiplier ``sigma_scale``. The
sampled vector is

    θ = [free physical parameters | ring 0: contrast, offset, sigma_scale | ring 1: ... ],

and the log density is the sum of the single-ring terms: the priors of the physical
parameters once, and per ring the uniform priors of its scaling, the log-normal prior of
its ``sigma_scale`` and its Gaussian log-likelihood, evaluated by the backend exactly as
for a single q (the same :class:`~homodyne.bayes.posterior.PosteriorSpec` per ring, the
same :func:`~homodyne.bayes.posterior.gaussian_log_likelihood` or gradient kernel, the
one physics of :mod:`homodyne.model`).

The sampling space is the single-q one (:mod:`.space`) assembled over the rings: the
coordinates of each ring's space (logit in the bounds, log scale for wide positive
ranges; the plain coordinates, no power-law maps), whitened with the inverse square root
of the summed Gauss-Newton information of the rings at the starting point (the joint
classical fit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AnalysisError
from ..problem import Problem
from .posterior import PosteriorSpec, build_posterior_spec
from .space import SamplingSpace, whitening_root

__all__ = ["JointPosteriorSpec", "build_joint_idata", "build_joint_spec", "ring_label"]


def ring_label(i: int) -> str:
    """The suffix of ring i's variables (``contrast_q0``, ``sigma_scale_q0``, ...)."""
    return f"q{i}"


@dataclass
class JointPosteriorSpec:
    """What a backend needs to build the joint posterior of several q rings.

    ``rings`` holds one single-q :class:`PosteriorSpec` per ring (its problem, priors and
    scaling index are used; its own sampling space is not); ``space`` maps the joint
    vector z to θ (layout in the module docstring)."""

    rings: tuple[PosteriorSpec, ...]
    space: SamplingSpace
    start: dict[str, Any]

    @property
    def free_names(self) -> tuple[str, ...]:
        return self.rings[0].free_names

    @property
    def free_index(self) -> np.ndarray:
        return self.rings[0].free_index

    @property
    def fixed_values(self) -> np.ndarray:
        return self.rings[0].fixed_values

    @property
    def priors(self) -> tuple[Any, ...]:
        return self.rings[0].priors

    @property
    def problem(self) -> Problem:
        """The first ring's problem (mode, parameters and bounds are those of every ring)."""
        return self.rings[0].problem

    @property
    def problems(self) -> list[Problem]:
        return [r.problem for r in self.rings]

    @property
    def n_data(self) -> int:
        return sum(r.problem.n_data for r in self.rings)

    @property
    def n_free(self) -> int:
        return len(self.free_names)

    @property
    def k(self) -> int:
        return self.space.k

    @property
    def q(self) -> list[float]:
        return [r.problem.q for r in self.rings]

    def ring_slices(self, i: int) -> tuple[slice, slice, int]:
        """Slices of ring i's contrast and offset in θ, and the index of its sigma_scale."""
        a = self.n_free + sum(2 * r.n_scaling + 1 for r in self.rings[:i])
        s = self.rings[i].n_scaling
        return slice(a, a + s), slice(a + s, a + 2 * s), a + 2 * s

    def split_rings(self, theta: Any) -> tuple[list[Any], list[tuple[Any, Any, Any]]]:
        """(parameter list in MODES order, [(contrast, offset, sigma_scale) per ring])."""
        params: list[Any] = [float(v) for v in self.fixed_values]
        for j, i in enumerate(self.free_index):
            params[int(i)] = theta[j]
        rings = []
        for i in range(len(self.rings)):
            cs, os_, ns = self.ring_slices(i)
            rings.append((theta[cs], theta[os_], theta[ns]))
        return params, rings

    def prior_table(self) -> dict[str, dict[str, Any]]:
        return self.rings[0].prior_table()


def _ring_init(init: Any, i: int) -> Any:
    """Ring i's share of a joint classical fit, shaped as a classical fit for the start."""
    from types import SimpleNamespace

    return SimpleNamespace(
        parameters=init.parameters,
        contrast=np.asarray(init.contrast[i], dtype=float),
        offset=np.asarray(init.offset[i], dtype=float),
        method="joint-q trf",
        success=bool(init.success),
        chi2_red=float(init.chi2_red),
    )


def _information(space: SamplingSpace) -> np.ndarray:
    """The information in y that ``space``'s whitening was made from (root rootᵀ = F⁻¹)."""
    cov = space.root @ space.root.T
    return np.asarray(np.linalg.pinv(0.5 * (cov + cov.T), hermitian=True))


def build_joint_spec(problems: Sequence[Problem], init: Any) -> JointPosteriorSpec:
    """The joint posterior of ``problems`` (one per q ring, the same mode and parameters),
    starting from ``init``, the joint classical fit (:class:`homodyne.joint.JointFit`:
    shared ``parameters``, ``contrast[i]``/``offset[i]`` per ring)."""
    if len(problems) < 2:
        raise AnalysisError("a joint posterior across q needs at least two q rings")
    if len({p.mode for p in problems}) != 1:
        raise AnalysisError(
            f"the q rings of a joint posterior must share one mode, got {sorted({p.mode for p in problems})}"
        )
    params = problems[0].parameters
    rings = tuple(
        build_posterior_spec(p.with_parameters(params), _ring_init(init, i), "plain")
        for i, p in enumerate(problems)
    )
    P = rings[0].n_free
    names: list[str] = list(rings[0].space.names[:P])
    for i, r in enumerate(rings):
        sp = r.space
        if sp.power_laws:  # pragma: no cover - reparam "plain" has none
            raise AnalysisError("the joint posterior uses the plain coordinates")
        names += [f"{n}_{ring_label(i)}" for n in sp.names[P:]]
    k = len(names)
    lo, hi = np.empty(k), np.empty(k)
    bounded, logscale = np.ones(k, dtype=bool), np.zeros(k, dtype=bool)
    centre = np.empty(k)
    F = np.zeros((k, k))
    a = P
    for r in rings:
        sp = r.space
        idx = np.concatenate([np.arange(P), np.arange(a, a + sp.k - P)])
        lo[idx], hi[idx] = sp.lo, sp.hi
        bounded[idx], logscale[idx] = sp.bounded, sp.logscale
        centre[idx[P:]] = sp.centre[P:]
        F[np.ix_(idx, idx)] += _information(sp)
        a += sp.k - P
    centre[:P] = rings[0].space.centre[:P]
    # (each ring's information carries the curvature of the physical priors and logit
    # maps, so the sum counts it once per ring: a whitening need not be exact, the log
    # density is)
    root, log_jac = whitening_root(F)
    space = SamplingSpace(
        tuple(names),
        lo,
        hi,
        bounded,
        logscale,
        centre,
        root,
        log_jac,
        (),
    )
    theta0 = space.to_theta(np.zeros(k))
    if not np.all(np.isfinite(theta0)) or not np.isfinite(space.transform(np.zeros(k), np)[1]):
        raise AnalysisError("the joint MCMC starting point is outside the support")
    start = {
        "source": "joint classical fit across q (joint-q trf)",
        "values": rings[0].start["values"],
        "theta": theta0,
        "fit": {
            "method": "joint-q trf",
            "converged": bool(init.success),
            "reduced_chi2": float(init.chi2_red),
            "values": {n: float(p.value) for n, p in init.parameters.items()},
        },
    }
    return JointPosteriorSpec(rings, space, start)


def build_joint_idata(
    spec: JointPosteriorSpec,
    z: np.ndarray,
    stats: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
) -> Any:
    """ArviZ InferenceData of the joint posterior: the shared physical parameters by name;
    per ring ``contrast_q<i>``, ``offset_q<i>`` (dimension ``angle_q<i>``) and
    ``sigma_scale_q<i>``; the sample statistics; the observed data of every ring."""
    from ..results.inference_data import from_groups
    from .idata import SAMPLE_STATS

    theta = spec.space.to_theta(z)
    posterior: dict[str, np.ndarray] = {n: theta[..., j] for j, n in enumerate(spec.free_names)}
    coords: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    observed: dict[str, np.ndarray] = {}
    constant: dict[str, np.ndarray] = {}
    for i, r in enumerate(spec.rings):
        lab = ring_label(i)
        cs, os_, ns = spec.ring_slices(i)
        posterior[f"contrast_{lab}"] = theta[..., cs]
        posterior[f"offset_{lab}"] = theta[..., os_]
        posterior[f"sigma_scale_{lab}"] = theta[..., ns]
        pr = r.problem
        coords[f"scaling_{lab}"] = np.arange(pr.n_scaling)
        coords[f"angle_{lab}"] = np.arange(pr.n_angles)
        coords[f"pair_{lab}"] = np.arange(pr.n_pairs)
        dims[f"contrast_{lab}"] = [f"scaling_{lab}"]
        dims[f"offset_{lab}"] = [f"scaling_{lab}"]
        dims[f"c2_obs_{lab}"] = [f"angle_{lab}", f"pair_{lab}"]
        dims[f"phi_{lab}"] = [f"angle_{lab}"]
        observed[f"c2_obs_{lab}"] = pr.data
        constant[f"phi_{lab}"] = pr.phi
    sample_stats = {k: np.asarray(stats[k]) for k in SAMPLE_STATS if k in stats}
    pr0 = spec.problem
    all_attrs = {
        "homodyne_mode": pr0.mode,
        "joint_q": json.dumps(spec.q),
        "stator_rotor_gap": pr0.gap,
        "priors": json.dumps(spec.prior_table()),
        "reparameterisation": json.dumps(spec.space.describe()),
        "start": spec.start["source"],
        **{k: (v if isinstance(v, str | int | float) else json.dumps(v)) for k, v in attrs.items()},
    }
    groups = {
        "posterior": posterior,
        "sample_stats": sample_stats,
        "observed_data": observed,
        "constant_data": constant,
    }
    return from_groups(groups, coords=coords, dims=dims, attrs=all_attrs)
