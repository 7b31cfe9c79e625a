"""The starting point of the chains: a classical fit or the configured values, with the
profiled contrast and offset and the noise multiplier at that point."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AnalysisError
from ..problem import Problem

if TYPE_CHECKING:
    from .joint import JointPosteriorSpec
    from .posterior import PosteriorSpec

__all__ = ["initial_points", "start_point"]

log = logging.getLogger(__name__)


def _profile_scaling(problem: Problem, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best contrast and offset inside the bounds for the given physical parameters."""
    from ..optimization.classical import profile_scaling

    g = np.broadcast_to(
        problem.c2(values, np.ones(problem.n_scaling), np.zeros(problem.n_scaling)),
        problem.data.shape,
    )
    idx = problem.scaling_index()
    con = np.empty(problem.n_scaling)
    off = np.empty(problem.n_scaling)
    for s in range(problem.n_scaling):
        sel = idx == s
        gs, ys = g[sel].reshape(-1), problem.data[sel].reshape(-1)
        con[s], off[s] = profile_scaling(
            gs, ys, 1.0, problem.contrast_bounds, problem.offset_bounds
        )
    return con, off


def start_point(problem: Problem, init: Any) -> dict[str, Any]:
    """Physical values, contrast, offset and noise multiplier to start from."""
    params = problem.parameters
    values = params.values()
    con = off = None
    source = "configuration initial values"
    if init is not None:
        fit_params = getattr(init, "parameters", None)
        if fit_params is None:
            raise AnalysisError(
                f"init must be a classical FitResult or None, got {type(init).__name__}"
            )
        for i, name in enumerate(params.names):
            if not params[name].fixed and name in fit_params:
                values[i] = float(fit_params[name].value)
        S = problem.n_scaling
        c, o = (
            np.atleast_1d(np.asarray(init.contrast, float)),
            np.atleast_1d(np.asarray(init.offset, float)),
        )
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(o))):
            pass  # no scaling stored (a previous run without it): profiled below
        elif c.size == S and o.size == S:
            con, off = c.copy(), o.copy()
        elif c.size == 1 and o.size == 1:
            con, off = np.full(S, c[0]), np.full(S, o[0])
        method = str(getattr(init, "method", "?"))
        source = method if method.startswith("previous run") else f"classical fit ({method})"
        if not getattr(init, "success", True):
            log.warning(
                "the classical fit used as MCMC start did not converge; starting from its last point anyway"
            )
    if con is None or off is None:
        con, off = _profile_scaling(problem, values)
    con = np.clip(con, *problem.contrast_bounds)
    off = np.clip(off, *problem.offset_bounds)
    resid = (
        problem.data - np.broadcast_to(problem.c2(values, con, off), problem.data.shape)
    ) / problem.sigma[:, None]
    s = float(np.sqrt(np.mean(resid * resid)))
    if not (np.isfinite(s) and s > 0):
        raise AnalysisError(
            "the model is not finite at the MCMC starting point; check the initial parameter values"
        )
    from .mcmc_init import start_record

    return {
        "values": values,
        "contrast": con,
        "offset": off,
        "sigma_scale": s,
        "source": source,
        "fit": start_record(init),
    }


def initial_points(
    spec: PosteriorSpec | JointPosteriorSpec, chains: int, seed: int, spread: float = 1.0
) -> np.ndarray:
    """Starting z of every chain: the start point, jittered uniformly by ±``spread`` (posterior sd units)."""
    rng = np.random.default_rng([seed, 7919])
    return rng.uniform(-spread, spread, size=(chains, spec.k))
