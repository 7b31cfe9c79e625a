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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AnalysisError
from ..model import negative_rate_warnings
from ..parameters import Parameters
from ..problem import Problem
from .engine import Engine as _Engine
from .engine import profile_scaling

__all__ = ["FitResult", "fit", "profile_scaling"]

log = logging.getLogger(__name__)

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
    #: The :class:`~homodyne.results.verdict.Verdict` of this fit (set by :func:`fit`).
    assessment: Any = None

    @property
    def values(self) -> dict[str, float]:
        return {n: p.value for n, p in self.parameters.items()}

    def verdict(self) -> str:
        """A one-line judgement of the fit (the level and its most severe reason)."""
        if self.assessment is None:
            return f"converged: {self.message}" if self.success else f"FAILED: {self.message}"
        return str(self.assessment.text())

    def report(self, truth: Mapping[str, float | None] | None = None) -> str:
        """A human-readable fit report (:func:`homodyne.results.report.fit_report`), with a
        truth column when ``truth`` is given."""
        from ..results.report import fit_report

        return fit_report(self, truth)


# =========================================================================== scaling
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
        "end": engine.to_physical(z[: engine.k]).tolist(),
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


def _inverse_normal_matrix(H: np.ndarray) -> np.ndarray:
    """(JᵀJ)⁻¹ through the eigen-decomposition of the diagonally scaled matrix.

    Eigenvalues below 1e-12 of the largest (an exactly or nearly degenerate combination
    of the variables) are raised to that floor, so that the degenerate direction keeps a
    huge variance and the parameters in it show errors that say "not constrained"; a
    plain inverse of a singular matrix returns rounding noise (even negative variances),
    and a pseudo-inverse drops the direction and reports small errors. For a
    well-conditioned matrix this is the ordinary inverse.
    """
    d = np.sqrt(np.clip(np.diag(H), 1e-300, None))
    Hn = H / np.outer(d, d)
    w, V = np.linalg.eigh(0.5 * (Hn + Hn.T))
    w = np.maximum(w, 1e-12 * max(float(w.max()), 1e-300))
    inv: np.ndarray = (V / w) @ V.T / np.outer(d, d)
    return inv


def parameter_covariance(
    H: np.ndarray, jac_t: np.ndarray, chi2_red: float | None = None
) -> np.ndarray:
    """Covariance of the fitted variables in physical units from the normal matrix H = JᵀJ.

    ``(JᵀJ)⁻¹`` (:func:`_inverse_normal_matrix`), multiplied by the reduced χ² when the
    noise was estimated rather than given (``chi2_red`` not None), then carried from the
    internal variables to the physical ones by the delta method: ``jac_t`` holds
    d(physical)/d(internal) of each variable, so C_ij is multiplied by jac_t[i] jac_t[j].
    """
    cov = _inverse_normal_matrix(H)
    if chi2_red is not None:
        cov = cov * chi2_red
    out: np.ndarray = cov * np.outer(jac_t, jac_t)
    return out


def correlation_matrix(cov: np.ndarray) -> np.ndarray:
    """C_ij / sqrt(C_ii C_jj), clipped to [-1, 1]; 0 where a variance is 0 or not finite."""
    d = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    with np.errstate(over="ignore", invalid="ignore"):
        corr: np.ndarray = np.clip(np.nan_to_num(cov / np.outer(d, d)), -1.0, 1.0)
    return corr


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
    k, S = engine.k, engine.S
    jac_t = np.concatenate([engine.chain(z), np.ones(2 * S)])  # delta method back to physical
    cov_all = parameter_covariance(H, jac_t, chi2_red if scaled else None)
    err_all = np.sqrt(np.clip(np.diag(cov_all), 0, None))
    cov = cov_all[:k, :k]
    corr = correlation_matrix(cov)
    free_names = problem.parameters.free_names
    stderrs = {n: float(err_all[i]) for i, n in enumerate(free_names)}
    fitted = problem.parameters.updated(th, stderrs)
    warnings = negative_rate_warnings(th, problem.t, problem.mode)
    starts = [
        {"start": r["start"], "end": r["end"], "chi2": r["chi2"], "converged": r["converged"]}
        for r in tried
    ]
    result = FitResult(
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
    )
    from ..results.verdict import classical_verdict

    result.assessment = classical_verdict(result, problem)
    result.at_bounds = [
        n for n in free_names if n in result.assessment.checks["bounds"]["at_bound"]
    ]
    if result.at_bounds:
        warnings.append(
            f"parameter(s) at a bound: {', '.join(result.at_bounds)}; the error there is not reliable"
        )
    return result
