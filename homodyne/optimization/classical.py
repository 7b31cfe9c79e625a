"""Classical fitting: bounded nonlinear least squares on the upper-triangle residuals.

Residuals are r = (offset_a + contrast_a · g1²_a(θ) - c2_a) / σ_a on every pair i < j
of every angle a. The unknowns are the free physical parameters θ and the per-angle
(or shared) contrast and offset, all bounded.

Methods
-------
``lm``
    Levenberg-Marquardt with Marquardt's diagonal scaling on the normal equations,
    bounds handled by projection with an active set. JᵀJ and Jᵀr are accumulated angle
    by angle from the analytic Jacobian of :mod:`homodyne.model`, so memory stays at a
    few arrays of one angle's pairs whatever the stack size (a 23 x 1000² stack fits in
    well under 2 GB), and angles that share one sinc² factor (φ and φ + 180°) share the
    model evaluation.
``trf``
    scipy's trust-region-reflective ``least_squares`` on the same residuals and the same
    analytic Jacobian (assembled densely: for small and medium stacks).
``nelder-mead``
    scipy's bounded Nelder-Mead on χ², with contrast and offset profiled out in closed
    form at every evaluation; kept for parity with earlier tools and as a cross-check.

Multistart draws extra starting points from a scrambled Sobol design inside the bounds
(log-uniform for parameters whose positive bounds span more than two decades), runs them
on a frame-strided copy of the data, and refines the best on all the data.

Uncertainties come from the Jacobian at the optimum: cov = (JᵀJ)⁻¹, multiplied by the
reduced χ² unless the noise σ is absolute (``noise.model = "fixed"``). The full Jacobian
includes the scaling parameters, so their correlation with the physics is accounted for.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AnalysisError
from ..model import angle_groups, g1_squared_pairs_and_jacobian, negative_rate_warnings
from ..parameters import Parameters
from ..problem import Problem

__all__ = ["FitResult", "fit", "profile_scaling"]

log = logging.getLogger(__name__)

#: Target number of pair values per chunk of work (bounds temporary memory).
_CHUNK_VALUES = 2_000_000
#: The multistart screens this many quasi-random points per local fit it runs.
_SCREEN_FACTOR = 8


# =========================================================================== results
@dataclass
class FitResult:
    """The outcome of a classical fit (an lmfit-like report object)."""

    method: str
    parameters: Parameters  # values = estimates, stderr filled for free parameters
    contrast: np.ndarray  # (n_scaling,)
    offset: np.ndarray
    contrast_stderr: np.ndarray
    offset_stderr: np.ndarray
    chi2: float
    chi2_red: float
    chi2_red_per_angle: np.ndarray
    n_data: int
    n_free: int
    covariance: np.ndarray  # over free physics parameters
    correlation: np.ndarray
    free_names: tuple[str, ...]
    success: bool
    message: str
    n_iterations: int
    n_evaluations: int
    wall_time: float
    sigma: np.ndarray
    noise_model: str
    errors_scaled: bool
    starts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    at_bounds: list[str] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        return {n: p.value for n, p in self.parameters.items()}

    def verdict(self) -> str:
        """A one-line judgement of the fit quality."""
        if not self.success:
            return f"FAILED: {self.message}"
        if self.noise_model == "unit":
            return "fit converged (noise not specified: χ² has no absolute meaning)"
        if self.chi2_red > 1.5:
            return (
                f"POOR: reduced χ² = {self.chi2_red:.3g} is far above 1, the model does not "
                "describe the data at this point (a wrong minimum, a wrong mode, or underestimated noise)"
            )
        return f"good: reduced χ² = {self.chi2_red:.3g}"

    def report(self) -> str:
        """A human-readable fit report (:func:`homodyne.results.report.fit_report`)."""
        from ..results.report import fit_report

        return fit_report(self)


# =========================================================================== scaling
def profile_scaling(
    g: np.ndarray,
    y: np.ndarray,
    w: float,
    cbounds: tuple[float, float],
    obounds: tuple[float, float],
) -> tuple[float, float]:
    """Best (contrast, offset) for y ≈ offset + contrast · g inside the bounds (closed form).

    Weighted linear least squares in two variables with box bounds: the unconstrained
    solution if feasible, otherwise the best of the solutions on the four edges.
    ``w`` is a common weight (it does not change the minimiser for one angle).
    """
    n = g.size
    sg, sy = g.sum(), y.sum()
    sgg, sgy = float(g @ g), float(g @ y)
    det = n * sgg - sg * sg
    cands = []
    if det > 1e-300 * max(1.0, n * sgg):
        c = (n * sgy - sg * sy) / det
        o = (sy - c * sg) / n
        if cbounds[0] <= c <= cbounds[1] and obounds[0] <= o <= obounds[1]:
            return float(c), float(o)
    for c in cbounds:
        o = min(max((sy - c * sg) / n, obounds[0]), obounds[1])
        cands.append((c, o))
    for o in obounds:
        c = (sgy - o * sg) / sgg if sgg > 0 else cbounds[0]
        cands.append((min(max(c, cbounds[0]), cbounds[1]), o))

    def cost(co: tuple[float, float]) -> float:
        c, o = co
        return float(c * c * sgg + n * o * o + 2 * c * o * sg - 2 * c * sgy - 2 * o * sy)

    best = min(cands, key=cost)
    return float(best[0]), float(best[1])


# =========================================================================== the engine
class _Engine:
    """Residuals, cost and normal equations of a problem over the free variables.

    Variables z = [free physics (k) | contrast (S) | offset (S)], S = n_scaling.
    """

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        params = problem.parameters
        self.free = np.nonzero(params.free_mask)[0]
        self.k = self.free.size
        self.S = problem.n_scaling
        self.base = params.values()
        lo, hi = params.lower()[self.free], params.upper()[self.free]
        # Rates whose positive bounds span decades are fitted in log space (better
        # conditioned steps); errors are mapped back with the delta method.
        self.logmask = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) > 100.0)
        self.lower = np.concatenate(
            [
                self.to_internal(lo),
                np.full(self.S, problem.contrast_bounds[0]),
                np.full(self.S, problem.offset_bounds[0]),
            ]
        )
        self.upper = np.concatenate(
            [
                self.to_internal(hi),
                np.full(self.S, problem.contrast_bounds[1]),
                np.full(self.S, problem.offset_bounds[1]),
            ]
        )
        self.unique_phi, self.group = angle_groups(problem.phi)
        self.sidx = problem.scaling_index()
        self.w = 1.0 / problem.sigma
        per_chunk = max(1, _CHUNK_VALUES // max(problem.n_pairs, 1))
        self.chunks = [
            np.arange(s, min(s + per_chunk, self.unique_phi.size))
            for s in range(0, self.unique_phi.size, per_chunk)
        ]
        self.members = [np.nonzero(self.group == u)[0] for u in range(self.unique_phi.size)]
        self.n_eval = 0

    # -- vector helpers
    def to_internal(self, free_values: np.ndarray) -> np.ndarray:
        """Free physical values → internal variables (log for the log-scaled ones)."""
        v = np.array(free_values, dtype=float)
        v[self.logmask] = np.log(v[self.logmask])
        return v

    def to_physical(self, z_free: np.ndarray) -> np.ndarray:
        v = np.array(z_free, dtype=float)
        v[self.logmask] = np.exp(v[self.logmask])
        return v

    def with_free(self, free_values: np.ndarray) -> np.ndarray:
        """The full parameter vector with the free entries set to physical values."""
        th = self.base.copy()
        th[self.free] = free_values
        return th

    def theta(self, z: np.ndarray) -> np.ndarray:
        return self.with_free(self.to_physical(z[: self.k]))

    def chain(self, z: np.ndarray) -> np.ndarray:
        """d(physical)/d(internal) for the free physics parameters."""
        return np.where(self.logmask, self.to_physical(z[: self.k]), 1.0)

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.theta(z), z[self.k : self.k + self.S], z[self.k + self.S :]

    def _static(self) -> bool:
        return self.p.mode != "laminar_flow"

    def _g1sq_chunks(self, th: np.ndarray, with_jac: bool) -> Any:
        """(unique-angle indices, g1² (U, m), d g1² (P, U, m) or None) per chunk."""
        p = self.p
        chunks = [np.array([0])] if self._static() else self.chunks
        for chunk in chunks:
            phis = p.phi[:1] if self._static() else self.unique_phi[chunk]
            g, dg = g1_squared_pairs_and_jacobian(
                th, p.t, phis, p.q, p.gap, p.iu, p.ju, p.mode, jacobian=with_jac
            )
            yield chunk, g, dg

    def _angles_of(self, u: int) -> np.ndarray:
        return np.arange(self.p.n_angles) if self._static() else self.members[u]

    # -- cost
    def g1sq_all(self, th: np.ndarray) -> np.ndarray:
        """g1² for every angle (A, m)."""
        out = np.empty_like(self.p.data)
        for chunk, g, _ in self._g1sq_chunks(th, False):
            for ci, u in enumerate(chunk):
                out[self._angles_of(u)] = g[ci]
        return out

    def cost_terms(self, z: np.ndarray) -> np.ndarray:
        """χ² contribution of each angle."""
        th, con, off = self.split(z)
        self.n_eval += 1
        chi = np.empty(self.p.n_angles)
        for chunk, g, _ in self._g1sq_chunks(th, False):
            for ci, u in enumerate(chunk):
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    r = (off[s] + con[s] * g[ci] - self.p.data[a]) * self.w[a]
                    chi[a] = float(r @ r)
        return chi

    def cost(self, z: np.ndarray) -> float:
        return 0.5 * float(self.cost_terms(z).sum())

    def residuals(self, z: np.ndarray) -> np.ndarray:
        th, con, off = self.split(z)
        self.n_eval += 1
        g = self.g1sq_all(th)
        s = self.sidx
        r: np.ndarray = (off[s, None] + con[s, None] * g - self.p.data) * self.w[:, None]
        return r.ravel()

    # -- normal equations
    def normal_equations(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """JᵀJ, Jᵀr and cost at z, accumulated angle by angle.

        The physics columns of J for angle a are contrast_a · w_a · D (D = ∂g1²/∂θ of
        the angle's group, times the log-space chain factor), so D Dᵀ is formed once per
        group of angles sharing g1² and scaled per angle; no per-angle copy of J is made.
        """
        th, con, off = self.split(z)
        chain = self.chain(z)
        k, S = self.k, self.S
        nv = k + 2 * S
        H = np.zeros((nv, nv))
        b = np.zeros(nv)
        cost = 0.0
        self.n_eval += 1
        all_free = k == len(self.base)
        for chunk, g, dg in self._g1sq_chunks(th, True):
            for ci, u in enumerate(chunk):
                gu = g[ci]
                D = dg[:, ci] if all_free else dg[self.free, ci]  # (k, m)
                DDt = (D @ D.T) * np.outer(chain, chain)
                Dg = (D @ gu) * chain
                D1 = D.sum(axis=1) * chain
                gg, g1, m = float(gu @ gu), float(gu.sum()), gu.size
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    w2 = self.w[a] ** 2
                    r = off[s] + con[s] * gu - self.p.data[a]  # unweighted
                    cost += 0.5 * w2 * float(r @ r)
                    ci_, oi = k + s, k + S + s
                    H[:k, :k] += (con[s] ** 2 * w2) * DDt
                    hpc = (con[s] * w2) * Dg
                    hpo = (con[s] * w2) * D1
                    H[:k, ci_] += hpc
                    H[ci_, :k] += hpc
                    H[:k, oi] += hpo
                    H[oi, :k] += hpo
                    H[ci_, ci_] += w2 * gg
                    H[ci_, oi] += w2 * g1
                    H[oi, ci_] += w2 * g1
                    H[oi, oi] += w2 * m
                    b[:k] += (con[s] * w2) * (D @ r) * chain
                    b[ci_] += w2 * float(gu @ r)
                    b[oi] += w2 * float(r.sum())
        return H, b, cost

    def dense_jacobian(self, z: np.ndarray) -> np.ndarray:
        """The full Jacobian (n_data, n_vars) for scipy's solvers."""
        th, con, _off = self.split(z)
        A, m = self.p.data.shape
        k, S = self.k, self.S
        J = np.zeros((A, m, k + 2 * S))
        dchain = self.chain(z)[:, None]
        for chunk, g, dg in self._g1sq_chunks(th, True):
            for ci, u in enumerate(chunk):
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    w = self.w[a]
                    J[a, :, :k] = (dg[self.free, ci] * dchain * (con[s] * w)).T
                    J[a, :, k + s] = g[ci] * w
                    J[a, :, k + S + s] = w
        return J.reshape(A * m, -1)

    def initial_scaling(
        self, th: np.ndarray, g: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form contrast/offset for given physics (profiling out the scaling)."""
        if g is None:
            g = self.g1sq_all(th)
        pb = self.p
        con = np.empty(self.S)
        off = np.empty(self.S)
        if self.S == pb.n_angles:
            for a in range(pb.n_angles):
                con[a], off[a] = profile_scaling(
                    g[a], pb.data[a], 1.0, pb.contrast_bounds, pb.offset_bounds
                )
        else:
            con[0], off[0] = profile_scaling(
                g.ravel(), pb.data.ravel(), 1.0, pb.contrast_bounds, pb.offset_bounds
            )
        return con, off

    def profiled_chi2(self, th: np.ndarray) -> float:
        """χ² with contrast and offset at their closed-form optimum (one model evaluation)."""
        self.n_eval += 1
        g = self.g1sq_all(th)
        con, off = self.initial_scaling(th, g)
        s = self.sidx
        r = (off[s, None] + con[s, None] * g - self.p.data) * self.w[:, None]
        return float(np.sum(r * r))


# =========================================================================== solvers
def _lm(
    engine: _Engine, z0: np.ndarray, max_iter: int, ftol: float, xtol: float
) -> tuple[np.ndarray, float, int, bool, str]:
    """Bounded Levenberg-Marquardt (projected steps, active set at the bounds)."""
    lo, hi = engine.lower, engine.upper
    z = np.clip(z0, lo, hi)
    H, b, cost = engine.normal_equations(z)
    lam = 1e-3
    nu = 2.0
    message = "iteration limit reached"
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        if not np.isfinite(cost):
            raise AnalysisError("the model produced non-finite values at the current parameters")
        active = ((z <= lo) & (b > 0)) | ((z >= hi) & (b < 0))
        free = ~active
        gnorm = (
            np.max(np.abs(b[free]) / np.sqrt(np.maximum(np.diag(H)[free], 1e-300)))
            if free.any()
            else 0.0
        )
        if gnorm < 1e-12 * max(1.0, math.sqrt(2 * cost)):
            converged, message = True, "gradient vanishes"
            break
        accepted = False
        while True:
            Hf = H[np.ix_(free, free)]
            d = np.diag(Hf).copy()
            d[d <= 0] = 1e-12
            try:
                step_f = np.linalg.solve(Hf + lam * np.diag(d), -b[free])
            except np.linalg.LinAlgError:
                step_f = np.linalg.lstsq(Hf + lam * np.diag(d), -b[free], rcond=None)[0]
            step = np.zeros_like(z)
            step[free] = step_f
            z_new = np.clip(z + step, lo, hi)
            dz = z_new - z
            predicted = -(b @ dz + 0.5 * dz @ H @ dz)
            cost_new = engine.cost(z_new)
            actual = cost - cost_new
            rho = actual / predicted if predicted > 0 else -1.0
            if np.isfinite(cost_new) and rho > 1e-4:
                accepted = True
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                break
            lam *= nu
            nu *= 2.0
            if lam > 1e16:
                break
        if not accepted:
            converged, message = True, "no further decrease of χ² possible"
            break
        rel_step = np.max(np.abs(dz) / (np.abs(z) + xtol))
        z = z_new
        H, b, cost_prev = engine.normal_equations(z)
        small_change = actual <= ftol * cost
        cost = cost_prev
        if small_change:
            converged, message = True, "relative χ² change below ftol"
            break
        if rel_step < xtol:
            converged, message = True, "relative step below xtol"
            break
    return z, cost, it, converged, message


def _trf(
    engine: _Engine, z0: np.ndarray, max_iter: int, ftol: float, xtol: float
) -> tuple[np.ndarray, float, int, bool, str]:
    from scipy.optimize import least_squares

    nbytes = engine.p.n_data * (engine.k + 2 * engine.S) * 8
    if nbytes > 1.5e9:
        raise AnalysisError(
            f"method 'trf' needs the dense Jacobian ({nbytes / 1e9:.1f} GB) for this stack; "
            "use classical.method 'lm' (memory-lean) or reduce the data"
        )
    lo, hi = engine.lower, engine.upper
    z0 = np.clip(z0, lo, hi)
    res = least_squares(
        engine.residuals,
        z0,
        jac=engine.dense_jacobian,
        bounds=(lo, hi),
        method="trf",
        x_scale="jac",
        ftol=ftol,
        xtol=xtol,
        gtol=1e-12,
        max_nfev=max_iter * 2,
    )
    return res.x, float(res.cost), int(res.nfev), bool(res.status > 0), str(res.message)


def _nelder_mead(
    engine: _Engine, z0: np.ndarray, max_iter: int, ftol: float, xtol: float
) -> tuple[np.ndarray, float, int, bool, str]:
    from scipy.optimize import minimize

    k = engine.k
    lo, hi = engine.lower[:k], engine.upper[:k]
    span = hi - lo

    def profiled(x: np.ndarray) -> tuple[float, np.ndarray]:
        con, off = engine.initial_scaling(engine.theta(x))
        z = np.concatenate([x, con, off])
        return engine.cost(z), z

    def obj(u: np.ndarray) -> float:
        return profiled(lo + np.clip(u, 0, 1) * span)[0]

    u0 = (np.clip(z0[:k], lo, hi) - lo) / span
    res = minimize(
        obj,
        u0,
        method="Nelder-Mead",
        bounds=[(0, 1)] * k,
        options={"maxiter": max_iter * 20 * k, "xatol": xtol, "fatol": ftol, "adaptive": True},
    )
    cost, z = profiled(lo + np.clip(res.x, 0, 1) * span)
    return z, cost, int(res.nit), bool(res.success), str(res.message)


_SOLVERS: dict[str, Callable[..., tuple[np.ndarray, float, int, bool, str]]] = {
    "lm": _lm,
    "trf": _trf,
    "nelder-mead": _nelder_mead,
}


# =========================================================================== driver
def _sobol_starts(params: Parameters, n: int, seed: int) -> np.ndarray:
    """Quasi-random starting points for the free parameters inside their bounds."""
    from scipy.stats import qmc

    free = params.free_names
    if n <= 0 or not free:
        return np.empty((0, len(free)))
    m = max(1, math.ceil(math.log2(max(n, 1))))
    u = qmc.Sobol(len(free), scramble=True, seed=seed).random_base2(m)[:n]
    out: np.ndarray = np.empty_like(u)
    for j, name in enumerate(free):
        p = params[name]
        if p.min > 0 and p.max / p.min > 100:
            out[:, j] = np.exp(np.log(p.min) + u[:, j] * (np.log(p.max) - np.log(p.min)))
        else:
            out[:, j] = p.min + u[:, j] * (p.max - p.min)
    return out


def _local_fit(
    engine: _Engine, start_free: np.ndarray, method: str, max_iter: int, ftol: float, xtol: float
) -> dict[str, Any]:
    """One local fit from physical start values of the free parameters."""
    con, off = engine.initial_scaling(engine.with_free(start_free))
    z0 = np.concatenate([engine.to_internal(start_free), con, off])
    z, cost, nit, ok, msg = _SOLVERS[method](engine, z0, max_iter, ftol, xtol)
    return {
        "z": z,
        "chi2": 2.0 * cost,
        "iterations": nit,
        "converged": ok,
        "message": msg,
        "start": start_free.tolist(),
    }


def fit(
    problem: Problem,
    *,
    method: str = "lm",
    multistart: int = 0,
    coarse_frames: int = 100,
    max_iterations: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the problem's free parameters; returns a :class:`FitResult`.

    The configured initial values are always one of the starts; ``multistart`` adds that
    many Sobol points. With more than ``coarse_frames`` frames, the starts are compared
    on every k-th frame and the best is refined on the full data.
    """
    if method not in _SOLVERS:
        raise AnalysisError(
            f"unknown classical method {method!r}; expected one of {', '.join(_SOLVERS)}"
        )
    from threadpoolctl import threadpool_limits

    # The linear algebra here is many small products (k x m by m x k): a multi-threaded
    # BLAS only adds synchronisation, and on a busy machine its spinning threads slow the
    # fit down several-fold. One BLAS thread for the duration of the fit.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(
            problem, method, multistart, coarse_frames, max_iterations, ftol, xtol, seed, progress
        )


def fit_configured(config: Any, problem: Problem, progress: Any = None) -> FitResult:
    """:func:`fit` with the settings of a configuration's ``classical`` section.

    ``progress`` is a :class:`homodyne.progress.Progress` (or None)."""
    c = config.classical
    if progress:
        progress.set("classical fit")
    return fit(
        problem,
        method=c["method"],
        multistart=c["multistart"],
        coarse_frames=c["coarse_frames"],
        max_iterations=c["max_iterations"],
        ftol=c["ftol"],
        xtol=c["xtol"],
        seed=c["seed"],
        progress=progress.update if progress else None,
    )


def _fit(
    problem: Problem,
    method: str,
    multistart: int,
    coarse_frames: int,
    max_iterations: int,
    ftol: float,
    xtol: float,
    seed: int,
    progress: Callable[[str], None] | None,
) -> FitResult:
    t0 = time.perf_counter()
    params = problem.parameters
    engine = _Engine(problem)
    if engine.k == 0:
        raise AnalysisError("every parameter is fixed; nothing to fit")
    starts = [params.values()[engine.free]]
    stride = max(1, math.ceil(problem.n_frames / coarse_frames))
    tried: list[dict[str, Any]] = []
    if multistart > 0:
        coarse = problem.reduced(frame_stride=stride) if stride > 1 else problem
        ceng = _Engine(coarse)
        # Screen a larger Sobol design by χ² with the scaling profiled out (one model
        # evaluation each) and start local fits from the most promising points.
        design = _sobol_starts(params, max(_SCREEN_FACTOR * multistart, 32), seed)
        if progress:
            progress(f"screening {len(design)} quasi-random points")
        scores = np.array([ceng.profiled_chi2(ceng.with_free(d)) for d in design])
        scores[~np.isfinite(scores)] = np.inf
        starts += list(design[np.argsort(scores)[:multistart]])
        for i, s in enumerate(starts):
            if progress:
                progress(f"start {i + 1}/{len(starts)}")
            try:
                r = _local_fit(
                    ceng, s, method, min(max_iterations, 60), max(ftol, 1e-7), max(xtol, 1e-7)
                )
            except AnalysisError as exc:
                log.debug("start %d failed: %s", i, exc)
                continue
            tried.append(r)
        engine.n_eval += ceng.n_eval
        if not tried:
            raise AnalysisError(
                "every starting point failed (the model was non-finite everywhere tried)"
            )
        best_start = ceng.to_physical(min(tried, key=lambda r: r["chi2"])["z"][: engine.k])
    else:
        best_start = starts[0]
    if progress:
        progress("refining the best start on all frames")
    final = _local_fit(engine, best_start, method, max_iterations, ftol, xtol)
    wall = time.perf_counter() - t0
    return _summarise(problem, engine, final, method, tried, wall)


def _summarise(
    problem: Problem,
    engine: _Engine,
    final: dict[str, Any],
    method: str,
    tried: list[dict[str, Any]],
    wall: float,
) -> FitResult:
    z = final["z"]
    th, con, off = engine.split(z)
    chi_terms = engine.cost_terms(z)
    chi2 = float(chi_terms.sum())
    n_data = problem.n_data
    n_free = engine.k + 2 * engine.S
    dof = max(n_data - n_free, 1)
    chi2_red = chi2 / dof
    per_angle = chi_terms / np.maximum(problem.n_pairs - n_free / problem.n_angles, 1)
    H, _, _ = engine.normal_equations(z)
    scaled = problem.noise_model != "fixed"
    try:
        cov_all = np.linalg.inv(H)
        if not np.all(np.isfinite(cov_all)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov_all = np.linalg.pinv(H)
    if scaled:
        cov_all = cov_all * chi2_red
    k, S = engine.k, engine.S
    jac_t = np.concatenate([engine.chain(z), np.ones(2 * S)])  # delta method back to physical
    cov_all = cov_all * np.outer(jac_t, jac_t)
    err_all = np.sqrt(np.clip(np.diag(cov_all), 0, None))
    cov = cov_all[:k, :k]
    d = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(d, d)
    free_names = problem.parameters.free_names
    stderrs = {n: float(err_all[i]) for i, n in enumerate(free_names)}
    fitted = problem.parameters.updated(th, stderrs)
    at_bounds = []
    lo, hi = engine.lower, engine.upper
    span = hi - lo
    for i, n in enumerate(free_names):
        if z[i] <= lo[i] + 1e-9 * span[i] or z[i] >= hi[i] - 1e-9 * span[i]:
            at_bounds.append(n)
    warnings = negative_rate_warnings(th, problem.t, problem.mode)
    if at_bounds:
        warnings.append(
            f"parameter(s) at a bound: {', '.join(at_bounds)}; the error there is not reliable"
        )
    starts = [{"start": r["start"], "chi2": r["chi2"], "converged": r["converged"]} for r in tried]
    return FitResult(
        method=method,
        parameters=fitted,
        contrast=con.copy(),
        offset=off.copy(),
        contrast_stderr=err_all[k : k + S].copy(),
        offset_stderr=err_all[k + S :].copy(),
        chi2=chi2,
        chi2_red=chi2_red,
        chi2_red_per_angle=per_angle,
        n_data=n_data,
        n_free=n_free,
        covariance=cov,
        correlation=corr,
        free_names=free_names,
        success=bool(final["converged"]) and bool(np.isfinite(chi2)),
        message=final["message"],
        n_iterations=int(final["iterations"]),
        n_evaluations=engine.n_eval,
        wall_time=wall,
        sigma=problem.sigma.copy(),
        noise_model=problem.noise_model,
        errors_scaled=scaled,
        starts=starts,
        warnings=warnings,
        at_bounds=at_bounds,
    )
