"""Joint fit across q: one physical parameter set for several q rings of one file.

J(t) and γ̇(t) do not depend on q: the decay goes as q²·∫J and the shear phase as
q·L·∫γ̇ (see :mod:`homodyne.model`). All selected q rings of a file can therefore share one
set of physical parameters, with a contrast and an offset per (q, φ) (or per q with
``scaling.mode = "shared"``). A :class:`JointProblem` holds one :class:`~homodyne.problem.Problem`
per q; :func:`fit_joint` minimises the sum of their χ² by bounded least squares (scipy's
trust-region-reflective solver on the analytic Jacobian of :mod:`homodyne.model`, rates
with wide positive bounds in log space), starting from the median of the separate per-q
fits, which are run first with the ordinary classical fit.

:func:`compare_with_separate` is the q²-scaling check: D0 fitted separately at each q
against the joint value (χ² of the per-q values about it and its p-value), and the
exponent s of D0_q ∝ q^s (0 when the decay scales as q²). A p-value below 0.01 flags
a mismatch: the q rings do not share one J(t) (a wrong model, or a
q-dependent dynamics such as hydrodynamic interactions).

MCMC: ``method = "mcmc"`` or ``"all"`` also samples the joint posterior
(:mod:`homodyne.joint_mcmc`: one physical parameter set for all rings, per-ring contrast,
offset and noise multiplier, started from the joint classical fit) with the configured
backend, and every q ring separately; the posterior q²-scaling check compares the per-q
posterior D0 with the joint posterior D0.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AnalysisError, ConfigError
from .model import g1_squared_pairs_and_jacobian
from .problem import Problem

__all__ = [
    "JointFit",
    "JointOutcome",
    "JointProblem",
    "compare_values",
    "compare_with_separate",
    "fit_joint",
    "run_joint",
]

log = logging.getLogger(__name__)


@dataclass
class JointProblem:
    """Several single-q problems of one sample that share the physical parameters."""

    problems: list[Problem]

    def __post_init__(self) -> None:
        if len(self.problems) < 2:
            raise AnalysisError("a joint fit across q needs at least two q rings")
        modes = {p.mode for p in self.problems}
        if len(modes) != 1:
            raise AnalysisError(
                f"the q rings of a joint fit must share one mode, got {sorted(modes)}"
            )
        qs = [p.q for p in self.problems]
        if len(set(qs)) != len(qs):
            raise AnalysisError(f"a q ring appears twice in the joint fit: {qs}")

    @property
    def mode(self) -> str:
        return self.problems[0].mode

    @property
    def parameters(self) -> Any:
        return self.problems[0].parameters

    @property
    def q(self) -> list[float]:
        return [p.q for p in self.problems]

    @property
    def n_data(self) -> int:
        return sum(p.n_data for p in self.problems)


@dataclass
class JointFit:
    """The joint classical fit."""

    parameters: Any  # Parameters with values and stderr
    contrast: list[np.ndarray]  # per q: (n_scaling,)
    offset: list[np.ndarray]
    chi2: float
    chi2_red: float
    chi2_red_per_q: list[float]
    n_data: int
    n_free: int
    success: bool
    message: str
    wall_time: float
    covariance: np.ndarray
    free_names: tuple[str, ...]
    q: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "parameters": {
                n: {"value": p.value, "stderr": p.stderr, "unit": p.unit, "fixed": p.fixed}
                for n, p in self.parameters.items()
            },
            "scaling": [
                {"q": q, "contrast": c.tolist(), "offset": o.tolist()}
                for q, c, o in zip(self.q, self.contrast, self.offset, strict=True)
            ],
            "reduced_chi2": self.chi2_red,
            "reduced_chi2_per_q": dict(
                zip([f"{q:g}" for q in self.q], self.chi2_red_per_q, strict=True)
            ),
            "chi2": self.chi2,
            "n_data": self.n_data,
            "n_free": self.n_free,
            "converged": self.success,
            "message": self.message,
            "wall_time_s": self.wall_time,
            "verdict": self.verdict(),
        }

    def verdict(self) -> str:
        if not self.success:
            return f"FAILED: {self.message}"
        if self.chi2_red > 1.5:
            return f"POOR: reduced χ² = {self.chi2_red:.3g} is far above 1 (the q rings do not share one model)"
        return f"good: reduced χ² = {self.chi2_red:.3g}"


class _JointEngine:
    """Residuals and Jacobian over z = [free physics | contrast, offset of each q]."""

    def __init__(self, jp: JointProblem) -> None:
        self.jp = jp
        params = jp.parameters
        self.base = params.values()
        self.free = np.nonzero(params.free_mask)[0]
        self.k = self.free.size
        lo, hi = params.lower()[self.free], params.upper()[self.free]
        self.logmask = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) > 100.0)
        self.S = [p.n_scaling for p in jp.problems]
        self.offsets = np.cumsum([self.k, *[2 * s for s in self.S]])
        lower, upper = [self._internal(lo)], [self._internal(hi)]
        for p, s in zip(jp.problems, self.S, strict=True):
            lower += [np.full(s, p.contrast_bounds[0]), np.full(s, p.offset_bounds[0])]
            upper += [np.full(s, p.contrast_bounds[1]), np.full(s, p.offset_bounds[1])]
        self.lower, self.upper = np.concatenate(lower), np.concatenate(upper)

    def _internal(self, v: np.ndarray) -> np.ndarray:
        v = np.array(v, dtype=float)
        v[self.logmask] = np.log(v[self.logmask])
        return v

    def theta(self, z: np.ndarray) -> np.ndarray:
        v = np.array(z[: self.k], dtype=float)
        v[self.logmask] = np.exp(v[self.logmask])
        th = self.base.copy()
        th[self.free] = v
        return th

    def scaling(self, z: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, s = self.offsets[i], self.S[i]
        return z[a : a + s], z[a + s : a + 2 * s]

    def _g(self, th: np.ndarray, p: Problem, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        g, dg = g1_squared_pairs_and_jacobian(
            th, p.t, p.phi, p.q, p.gap, p.iu, p.ju, p.mode, jacobian=jac
        )
        A, m = p.data.shape
        g = np.broadcast_to(g, (A, m))
        if dg is not None:
            dg = np.broadcast_to(dg, (dg.shape[0], A, m))
        return g, dg

    def residuals(self, z: np.ndarray) -> np.ndarray:
        th = self.theta(z)
        out = []
        for i, p in enumerate(self.jp.problems):
            con, off = self.scaling(z, i)
            g, _ = self._g(th, p, False)
            s = p.scaling_index()
            out.append(((off[s, None] + con[s, None] * g - p.data) / p.sigma[:, None]).ravel())
        return np.concatenate(out)

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        th = self.theta(z)
        chain = np.where(self.logmask, self.theta(z)[self.free], 1.0)
        blocks = []
        for i, p in enumerate(self.jp.problems):
            con, _off = self.scaling(z, i)
            g, dg_opt = self._g(th, p, True)
            if dg_opt is None:  # pragma: no cover - jacobian=True always returns it
                raise AnalysisError("the model returned no Jacobian")
            dg = dg_opt
            A, m = p.data.shape
            s = p.scaling_index()
            w = 1.0 / p.sigma
            J = np.zeros((A, m, z.size))
            J[:, :, : self.k] = (
                np.moveaxis(dg[self.free], 0, -1) * (con[s] * w)[:, None, None] * chain
            )
            a0 = self.offsets[i]
            for a in range(A):
                J[a, :, a0 + s[a]] = g[a] * w[a]
                J[a, :, a0 + self.S[i] + s[a]] = w[a]
            blocks.append(J.reshape(A * m, -1))
        return np.concatenate(blocks)


def fit_joint(jp: JointProblem, starts: list[Any] | None = None, max_nfev: int = 2000) -> JointFit:
    """Fit one physical parameter set to all q rings (from the median of ``starts``).

    ``starts``: per-q classical :class:`~homodyne.optimization.classical.FitResult` objects
    (their parameter values seed the physics, their contrast/offset the scaling).
    """
    from scipy.optimize import least_squares

    from .optimization.classical import profile_scaling

    t0 = time.perf_counter()
    eng = _JointEngine(jp)
    params = jp.parameters
    if starts:
        th0 = np.median(np.array([s.parameters.values() for s in starts]), axis=0)
    else:
        th0 = params.values()
    th0 = np.clip(th0, params.lower(), params.upper())
    z0 = [eng._internal(th0[eng.free])]
    for p in jp.problems:
        g, _ = eng._g(th0, p, False)
        s = p.n_scaling
        con, off = np.empty(s), np.empty(s)
        if s == p.n_angles:
            for a in range(s):
                con[a], off[a] = profile_scaling(
                    g[a], p.data[a], 1.0, p.contrast_bounds, p.offset_bounds
                )
        else:
            con[0], off[0] = profile_scaling(
                g.ravel(), p.data.ravel(), 1.0, p.contrast_bounds, p.offset_bounds
            )
        z0 += [con, off]
    z = np.clip(np.concatenate(z0), eng.lower + 1e-12, eng.upper - 1e-12)
    try:
        res = least_squares(
            eng.residuals,
            z,
            jac=eng.jacobian,
            bounds=(eng.lower, eng.upper),
            method="trf",
            x_scale="jac",
            max_nfev=max_nfev,
        )
    except ValueError as exc:
        raise AnalysisError(f"joint fit across q failed: {exc}") from exc
    zf = res.x
    r = res.fun
    J = res.jac
    chi2 = float(r @ r)
    n_free = zf.size
    n_data = jp.n_data
    dof = max(n_data - n_free, 1)
    chi2_red = chi2 / dof
    try:
        cov_z = np.linalg.pinv(J.T @ J)
    except np.linalg.LinAlgError:
        cov_z = np.full((n_free, n_free), np.nan)
    if all(p.noise_model != "fixed" for p in jp.problems):
        cov_z = cov_z * chi2_red
    th = eng.theta(zf)
    chain = np.where(eng.logmask, th[eng.free], 1.0)
    cov = cov_z[: eng.k, : eng.k] * np.outer(chain, chain)
    errs = np.sqrt(np.clip(np.diag(cov), 0, None))
    stderrs = {params.names[j]: float(e) for j, e in zip(eng.free, errs, strict=True)}
    per_q, start = [], 0
    for p in jp.problems:
        ri = r[start : start + p.n_data]
        start += p.n_data
        per_q.append(float(ri @ ri) / max(p.n_data - eng.k / len(jp.problems) - 2 * p.n_scaling, 1))
    return JointFit(
        parameters=params.updated(th, stderrs),
        contrast=[eng.scaling(zf, i)[0].copy() for i in range(len(jp.problems))],
        offset=[eng.scaling(zf, i)[1].copy() for i in range(len(jp.problems))],
        chi2=chi2,
        chi2_red=chi2_red,
        chi2_red_per_q=per_q,
        n_data=n_data,
        n_free=n_free,
        success=bool(res.success) and bool(np.all(np.isfinite(zf))),
        message=str(res.message),
        wall_time=time.perf_counter() - t0,
        covariance=cov,
        free_names=params.free_names,
        q=jp.q,
    )


def compare_with_separate(
    joint: JointFit, separate: list[dict[str, Any]], name: str = "D0"
) -> dict[str, Any]:
    """The q²-scaling check: per-q values of ``name`` against the joint value.

    ``separate``: per q, ``{"q": q, "value": v, "stderr": e}``. Returns the χ² of the
    per-q values about the joint one, its p-value, the exponent s of value ∝ q^s with its
    error (reported; a log-log slope from a few noisy points is a guide, not the test), and
    ``consistent`` (p ≥ 0.01).
    """
    return compare_values(
        joint.parameters[name].value, joint.parameters[name].stderr or 0.0, separate, name
    )


def compare_values(
    jv: float, je: float, separate: list[dict[str, Any]], name: str = "D0"
) -> dict[str, Any]:
    """:func:`compare_with_separate` for a joint value ``jv`` ± ``je`` (a fit or a posterior)."""
    from scipy import stats

    rows, chi2, n = [], 0.0, 0
    for s in separate:
        v, e = s.get("value"), s.get("stderr")
        z = None
        if v is not None and e is not None and math.isfinite(e) and e > 0:
            z = (v - jv) / math.sqrt(e * e + je * je)
            chi2 += z * z
            n += 1
        rows.append({"q": s["q"], "value": v, "stderr": e, "z": z})
    p_value = float(stats.chi2.sf(chi2, n)) if n else None
    slope = slope_err = None
    ok = [r for r in rows if r["value"] and r["value"] > 0 and r["stderr"] and r["z"] is not None]
    if len(ok) >= 2:
        x = np.log([r["q"] for r in ok])
        y = np.log([r["value"] for r in ok])
        w = 1.0 / (np.array([r["stderr"] / r["value"] for r in ok]) ** 2)
        X = np.vstack([np.ones_like(x), x]).T
        cov = np.linalg.pinv(X.T @ (X * w[:, None]))
        beta = cov @ (X.T @ (w * y))
        slope, slope_err = float(beta[1]), float(math.sqrt(max(cov[1, 1], 0.0)))
    consistent = p_value is None or p_value >= 0.01
    return {
        "parameter": name,
        "joint": {"value": jv, "stderr": je},
        "per_q": rows,
        "chi2": chi2,
        "n": n,
        "p_value": p_value,
        "exponent_s": slope,
        "exponent_s_stderr": slope_err,
        "consistent": bool(consistent),
        "note": "D0_q ∝ q^s; s = 0 when the decay rate scales as q²",
    }


@dataclass
class JointOutcome:
    joint: JointFit
    separate: list[Any] = field(default_factory=list)
    check: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    joint_mcmc: Any = None  # JointMCMCResult when MCMC ran
    separate_mcmc: list[Any] = field(default_factory=list)
    mcmc_check: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.joint.success


def joint_problems(config: Any, q_values: list[float]) -> list[Problem]:
    """One problem per q ring of the configured file (at least two distinct q)."""
    from .analysis import load_data

    qs = [float(q) for q in q_values]
    if len(qs) < 2:
        raise ConfigError(
            f"a joint fit across q needs at least two q rings, got {qs}; set data.q to a list "
            'of q values (or "all") of the file'
        )
    if len(set(qs)) != len(qs):
        raise ConfigError(f"a joint fit across q got a q value twice: {qs}")
    out = []
    for q in q_values:
        cq = config.with_overrides("data", {"q": float(q)}, "joint-q")
        out.append(Problem.from_config(cq, load_data(cq)))
    return out


def run_joint(
    config: Any,
    *,
    q_values: list[float],
    method: str = "classical",
    output_dir: str | Path | None = None,
    command: list[str] | None = None,
) -> JointOutcome:
    """Separate per-q fits, the joint fit, the comparison; writes one run folder."""
    from .analysis import fit_classical
    from .joint_output import write_joint_run

    if method not in ("classical", "mcmc", "all"):
        raise ConfigError(f"joint fit: method must be classical, mcmc or all, got {method!r}")
    problems = joint_problems(config, q_values)
    separate = [fit_classical(config, p) for p in problems]
    jp = JointProblem(problems)
    joint = fit_joint(jp, separate)
    rows = [
        {"q": p.q, "value": s.parameters["D0"].value, "stderr": s.parameters["D0"].stderr}
        for p, s in zip(problems, separate, strict=True)
    ]
    check = compare_with_separate(joint, rows)
    outcome = JointOutcome(joint, separate, check)
    if method in ("mcmc", "all"):
        from .joint_mcmc import posterior_check, run_joint_mcmc
        from .optimization.backends import get_mcmc_backend

        fn, _name, _ = get_mcmc_backend(config.mcmc["backend"])
        outcome.separate_mcmc = [
            fn(analysis_core=p, config=config, init=s, progress=False)
            for p, s in zip(problems, separate, strict=True)
        ]
        outcome.joint_mcmc = run_joint_mcmc(problems, config, joint)
        outcome.mcmc_check = posterior_check(outcome.joint_mcmc, outcome.separate_mcmc)
    out = config.output
    outcome.run_dir = write_joint_run(
        outcome,
        config=config,
        problems=problems,
        output_dir=Path(output_dir) if output_dir else Path(out["directory"]),
        run_name=out["run_name"] or "joint_q",
        overwrite=out["overwrite"],
        plots=out["plots"],
        command=command,
    )
    return outcome
