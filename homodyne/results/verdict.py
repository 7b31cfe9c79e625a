"""One verdict for classical and MCMC results: good, or what is wrong and what to do.

A result is **good** only when every check holds. Otherwise each failed check is a
finding with a level, a reason and a remedy; the verdict's level is the most severe
finding's. Levels, most severe first:

``stuck``
    (MCMC) the sampler did not explore the posterior: tree depth saturated on most draws
    or the step size collapsed, or R̂ above 1.1 with sigma_scale far above 1 (chains
    held in a region where the model does not describe the data).
``not-converged``
    the optimiser stopped without converging, only one of several starts reached the
    best χ² while χ² is not consistent with the noise (a better minimum may exist), or
    (MCMC) R̂, ESS or divergences miss their thresholds.
``wrong-noise``
    χ²_red (or sigma_scale² for MCMC) is inconsistent with the noise model: a wrong
    minimum, a model that does not describe the data, or a wrong noise level.
``at-bound``
    a free parameter, or a per-angle contrast or offset, lies within one standard error
    of a bound; the reason names the configuration key to widen.
``degenerate``
    a free parameter is not constrained by the data, the covariance has a
    near-singular direction (named by :mod:`homodyne.results.identifiability`), or
    starts that reach the same χ² end at different parameters.

The MCMC-specific checks (``stuck``, the convergence thresholds) are in
:func:`homodyne.results.mcmc_outputs.mcmc_verdict`. A run whose verdict is not good
still writes all its results; the command line then exits with status
:data:`EXIT_NOT_GOOD` (3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .identifiability import Direction, near_degenerate_directions

__all__ = [
    "BOUND_SIGMAS",
    "EXIT_NOT_GOOD",
    "LEVELS",
    "BoundEntry",
    "Finding",
    "Verdict",
    "bound_findings",
    "chi2_consistency",
    "classical_verdict",
    "run_verdict",
]

#: Levels from most to least severe ("good" last).
LEVELS = ("stuck", "not-converged", "wrong-noise", "at-bound", "degenerate", "good")
#: Exit status of a run that completed and wrote its results with a verdict that is not good.
EXIT_NOT_GOOD = 3
#: A value closer to a bound than this many standard errors is "at the bound".
BOUND_SIGMAS = 1.0
#: Two-sided probability below which χ²_red is called inconsistent with the noise model.
CHI2_P_MIN = 1e-3


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    reason: str
    remedy: str

    def to_dict(self) -> dict[str, str]:
        return {
            "level": self.level,
            "check": self.check,
            "reason": self.reason,
            "remedy": self.remedy,
        }


@dataclass
class Verdict:
    """The checks run on a result and the findings of those that failed."""

    kind: str  # "classical" or "mcmc"
    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    directions: list[Direction] = field(default_factory=list)

    @property
    def level(self) -> str:
        if not self.findings:
            return "good"
        return min((f.level for f in self.findings), key=LEVELS.index)

    @property
    def good(self) -> bool:
        return not self.findings

    @property
    def exit_status(self) -> int:
        return 0 if self.good else EXIT_NOT_GOOD

    def text(self) -> str:
        """One line: the level and the most severe reason (and how many others)."""
        if self.good:
            done = ", ".join(k for k, c in self.checks.items() if c.get("ok") is not None)
            return f"good: every check holds ({done})"
        worst = sorted(self.findings, key=lambda f: LEVELS.index(f.level))
        more = f" (+{len(worst) - 1} more finding(s))" if len(worst) > 1 else ""
        return f"{self.level}: {worst[0].reason}{more}"

    def lines(self) -> list[str]:
        """The verdict block of report.txt."""
        out = [f"    verdict: {self.level.upper() if not self.good else 'good'}"]
        if self.good:
            out.append(f"      {self.text()}")
        for f in sorted(self.findings, key=lambda f: LEVELS.index(f.level)):
            out.append(f"      [{f.level}] {f.reason}")
            out.append(f"          remedy: {f.remedy}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (non-finite numbers become None: results.json allows no NaN)."""
        return dict(
            _plain(
                {
                    "level": self.level,
                    "good": self.good,
                    "text": self.text(),
                    "exit_status": self.exit_status,
                    "findings": [f.to_dict() for f in self.findings],
                    "checks": self.checks,
                    "identifiability": [d.to_dict() for d in self.directions],
                }
            )
        )


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(float(v)) else None
    return v


# =========================================================================== shared checks
@dataclass(frozen=True)
class BoundEntry:
    """One bounded quantity to check: label, value, error, bounds and the keys to widen."""

    label: str
    value: float
    error: float | None
    lower: float
    upper: float
    lower_key: str
    upper_key: str
    default_lower: bool = False  # the bound is the template's default
    default_upper: bool = False
    group: str = ""  # entries of one group (contrast per angle) are reported together


def _bound_side(e: BoundEntry, loose: bool) -> tuple[str | None, float]:
    """('lower'|'upper'|None, distance in σ) of an entry.

    An entry the data do not constrain (``loose``) is reported as degenerate instead,
    and counts as at a bound only when it sits on it (within 1e-6 of the span).
    """
    span = e.upper - e.lower
    err = e.error if e.error is not None and math.isfinite(e.error) and e.error > 0 else None
    tol = max(BOUND_SIGMAS * err, 1e-9 * span) if err is not None and not loose else 1e-6 * span
    dlo, dhi = e.value - e.lower, e.upper - e.value
    side = "lower" if dlo <= dhi else "upper"
    dist = min(dlo, dhi)
    sig = dist / err if err is not None else float("nan")
    return (side if dist <= tol else None), sig


def bound_findings(
    entries: Sequence[BoundEntry],
    checks: dict[str, dict[str, Any]],
    loose: Sequence[str] = (),
) -> list[Finding]:
    """At-bound findings; a value within BOUND_SIGMAS of its error from a bound is at it."""
    out: list[Finding] = []
    hits: dict[str, list[tuple[BoundEntry, str, float]]] = {}
    for e in entries:
        side, sig = _bound_side(e, e.label in loose)
        if side is not None:
            hits.setdefault(e.group or e.label, []).append((e, side, sig))
    checks["bounds"] = {
        "ok": not hits,
        "rule": f"no free value within {BOUND_SIGMAS:g} standard error of a bound",
        "at_bound": [h[0].label for group in hits.values() for h in group],
    }
    for group, items in hits.items():
        e, side, sig = items[0]
        bound = e.lower if side == "lower" else e.upper
        key = e.lower_key if side == "lower" else e.upper_key
        default = e.default_lower if side == "lower" else e.default_upper
        where = "the template's default bound" if default else "the configured bound"
        gap = abs(e.value - bound)
        dist = (
            "on it"
            if gap <= 1e-9 * (e.upper - e.lower)
            else f"{gap:.3g} from it = {sig:.2g} σ"
            if math.isfinite(sig)
            else f"{gap:.3g} from it"
        )
        if e.group:
            n_total = sum(1 for x in entries if x.group == e.group)
            labels = ", ".join(x[0].label for x in items[:4]) + (", ..." if len(items) > 4 else "")
            reason = (
                f"{group} of {len(items)} of {n_total} angles at a bound ({labels}; "
                f"e.g. {e.value:.4g} against the {side} bound {bound:g}, {where})"
            )
        else:
            reason = f"{e.label} = {e.value:.6g} is at its {side} bound {bound:g} ({dist}; {where})"
        remedy = (
            f"widen {key} if the physics allows values beyond {bound:g}, or fix "
            f"{e.label if not e.group else group} if its value is known; the error at a bound is not reliable"
        )
        out.append(Finding("at-bound", "bounds", reason, remedy))
    return out


def chi2_consistency(
    chi2_red: float,
    dof: int,
    noise_model: str,
    n_data: int,
    checks: dict[str, dict[str, Any]],
    label: str = "reduced χ²",
) -> list[Finding]:
    """χ²_red against the χ² distribution of ``dof`` degrees of freedom.

    With an absolute noise σ (``fixed``) χ² follows χ²(dof). With σ estimated from the
    data (``estimate``) the estimate's own scatter widens the distribution: the MAD of
    n second differences has a relative standard error of about 1.17/√n, which enters
    χ²_red squared, so its variance 2/dof + (2·1.17)²/n is used (normal approximation).
    With ``unit`` noise χ² has no absolute meaning and the check is not applicable.
    """
    from scipy import stats

    if noise_model == "unit":
        checks["noise"] = {
            "ok": None,
            "rule": "not applicable: noise.model 'unit' gives χ² no absolute meaning",
            "value": chi2_red,
        }
        return []
    dof = max(int(dof), 1)
    if noise_model == "fixed":
        x = chi2_red * dof
        p = 2.0 * min(float(stats.chi2.sf(x, dof)), float(stats.chi2.cdf(x, dof)))
        sd = math.sqrt(2.0 / dof)
    else:
        sd = math.sqrt(2.0 / dof + (2.0 * 1.17) ** 2 / max(n_data, 1))
        p = 2.0 * float(stats.norm.sf(abs(chi2_red - 1.0) / sd))
    ok = bool(p >= CHI2_P_MIN and math.isfinite(chi2_red))
    checks["noise"] = {
        "ok": ok,
        "rule": f"{label} consistent with 1 for {dof} degrees of freedom (two-sided p ≥ {CHI2_P_MIN:g})",
        "value": chi2_red,
        "expected_sd": sd,
        "p_value": p,
        "dof": dof,
        "noise_model": noise_model,
    }
    if ok:
        return []
    side = "above" if chi2_red > 1 else "below"
    reason = (
        f"{label} = {chi2_red:.4g} is {side} 1 beyond the noise (expected 1 ± {sd:.2g} for {dof} "
        f"degrees of freedom, p = {p:.1e})"
    )
    if chi2_red > 1:
        remedy = (
            "the model does not describe the data at this point: a wrong minimum (more "
            "classical.multistart), the wrong analysis_mode, or noise underestimated (noise.model)"
        )
    else:
        remedy = "the noise is overestimated: check noise.model / noise.sigma"
    return [Finding("wrong-noise", "noise", reason, remedy)]


def _is_log_scaled(lo: float, hi: float) -> bool:
    return lo > 0 and hi / lo > 100.0


def constrained_findings(
    names: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float | None],
    lower: Sequence[float],
    upper: Sequence[float],
    checks: dict[str, dict[str, Any]],
) -> list[str]:
    """Names of free parameters the data do not constrain.

    Not constrained: no finite error, or an error larger than the value and than a tenth
    of the bounds' span (for parameters with positive bounds over decades, fitted in log
    space: an error larger than the value).
    """
    loose = []
    for n, v, e, lo, hi in zip(names, values, errors, lower, upper, strict=True):
        if e is None or not math.isfinite(e):
            loose.append(n)
        elif _is_log_scaled(lo, hi):
            if e > abs(v):
                loose.append(n)
        elif e > abs(v) and e > 0.1 * (hi - lo):
            loose.append(n)
    checks["constrained"] = {
        "ok": not loose,
        "rule": "every free parameter's error below its value or a tenth of its bounds' span",
        "not_constrained": loose,
    }
    return loose


def degeneracy_findings(
    names: Sequence[str],
    covariance: np.ndarray,
    values: Sequence[float],
    units: Mapping[str, str],
    loose: Sequence[str],
    checks: dict[str, dict[str, Any]],
) -> tuple[list[Finding], list[Direction]]:
    dirs = near_degenerate_directions(names, covariance, values, units=units)
    degenerate = [d for d in dirs if d.degenerate]
    checks["identifiable"] = {
        "ok": not degenerate and not loose,
        "rule": "no correlation eigenvalue below 1e-4 and every free parameter constrained",
        "smallest_eigenvalue": min((d.eigenvalue for d in dirs), default=None),
    }
    out = []
    named: set[str] = set()
    for d in degenerate or [d for d in dirs if set(d.names) & set(loose)]:
        if len(set(d.names) & named) >= 2:
            continue  # the same trade-off, already named (all directions are listed in the report)
        named |= set(d.names)
        out.append(
            Finding(
                "degenerate",
                "identifiable",
                d.text,
                "report the well-determined combination, fix one of "
                f"{', '.join(d.names)} at a known value, or add data that separate them "
                "(a longer frame window, more angles)",
            )
        )
    rest = [n for n in loose if n not in named]
    if rest:
        out.append(
            Finding(
                "degenerate",
                "constrained",
                f"not constrained by these data: {', '.join(rest)} (error larger than the value)",
                "fix these parameters at known values or add data that constrain them",
            )
        )
    return out, dirs


# =========================================================================== classical
def _multistart_findings(
    result: Any,
    errors: Mapping[str, float | None],
    checks: dict[str, dict[str, Any]],
    chi2_ok: bool,
) -> list[Finding]:
    """Multistart agreement. A best χ² reached by one start only is a finding unless χ²
    is consistent with the noise (then no other minimum can describe the data much
    better than the one found)."""
    starts = [s for s in getattr(result, "starts", []) if np.isfinite(s.get("chi2", np.nan))]
    if len(starts) < 2:
        checks["multistart"] = {"ok": None, "rule": "not applicable: one start"}
        return []
    best = min(starts, key=lambda s: s["chi2"])
    tol = max(1.0, 1e-6 * best["chi2"])
    reached = [s for s in starts if s["chi2"] <= best["chi2"] + tol]
    names = list(result.free_names)
    disagree = []
    if best.get("end") is not None:
        b = np.asarray(best["end"], dtype=float)
        for s in reached:
            e = np.asarray(s.get("end", b), dtype=float)
            for j, n in enumerate(names):
                err = errors.get(n)
                scale = (
                    err if err is not None and math.isfinite(err) and err > 0 else abs(b[j]) * 1e-3
                )
                if abs(e[j] - b[j]) > max(scale, 1e-12) and n not in disagree:
                    disagree.append(n)
    ok_reach = len(reached) >= 2 or len(starts) < 3 or chi2_ok
    checks["multistart"] = {
        "ok": bool(ok_reach and not disagree),
        "rule": "starts that reach the best χ² (within max(1, 1e-6 χ²)) end at the same "
        "parameters (within 1σ); at least two reach it unless χ² is consistent with the noise",
        "starts": len(starts),
        "reached_best": len(reached),
        "disagree": disagree,
    }
    out = []
    if not ok_reach:
        out.append(
            Finding(
                "not-converged",
                "multistart",
                f"only 1 of {len(starts)} starts reached the best χ² and χ² is not consistent "
                "with the noise; a better minimum may exist",
                "raise classical.multistart (or start nearer the truth) until several starts agree",
            )
        )
    if disagree:
        out.append(
            Finding(
                "degenerate",
                "multistart",
                f"{len(reached)} of {len(starts)} starts reach the best χ² but end at different "
                f"values of {', '.join(disagree)} (beyond 1σ): a flat valley of χ²",
                "fix one of the parameters that trade off, or add data that separate them",
            )
        )
    return out


def classical_verdict(result: Any, problem: Any) -> Verdict:
    """The verdict of a classical :class:`~homodyne.optimization.classical.FitResult`."""
    from ..parameters import PARAMETER_TABLE

    v = Verdict("classical")
    checks = v.checks
    checks["converged"] = {"ok": bool(result.success), "message": result.message}
    if not result.success:
        v.findings.append(
            Finding(
                "not-converged",
                "converged",
                f"the optimiser did not converge: {result.message}",
                "raise classical.max_iterations, try classical.method 'trf', or start nearer "
                "the solution",
            )
        )
    params = result.parameters
    free = list(result.free_names)
    errors = {n: params[n].stderr for n in free}
    entries = []
    for n in free:
        p = params[n]
        spec = PARAMETER_TABLE.get(n)
        entries.append(
            BoundEntry(
                n,
                p.value,
                p.stderr,
                p.min,
                p.max,
                f"parameters.{n}.min",
                f"parameters.{n}.max",
                default_lower=spec is not None and p.min == spec.min,
                default_upper=spec is not None and p.max == spec.max,
            )
        )
    phi = np.asarray(problem.phi, dtype=float)
    S = result.contrast.size
    for kind, vals, errs, (lo, hi) in (
        ("contrast", result.contrast, result.contrast_stderr, problem.contrast_bounds),
        ("offset", result.offset, result.offset_stderr, problem.offset_bounds),
    ):
        for s in range(S):
            label = f"{kind}[φ={phi[s]:g}°]" if S == phi.size else f"{kind} (shared)"
            entries.append(
                BoundEntry(
                    label,
                    float(vals[s]),
                    float(errs[s]),
                    lo,
                    hi,
                    f"scaling.{kind}_min",
                    f"scaling.{kind}_max",
                    group=kind,
                )
            )
    loose = constrained_findings(
        free,
        [params[n].value for n in free],
        [errors[n] for n in free],
        [params[n].min for n in free],
        [params[n].max for n in free],
        checks,
    )
    v.findings += bound_findings(entries, checks, loose)
    found, v.directions = degeneracy_findings(
        free,
        result.covariance,
        [params[n].value for n in free],
        {n: params[n].unit for n in free},
        loose,
        checks,
    )
    v.findings += found
    dof = max(result.n_data - result.n_free, 1)
    noise = chi2_consistency(result.chi2_red, dof, result.noise_model, result.n_data, checks)
    v.findings += _multistart_findings(result, errors, checks, bool(checks["noise"]["ok"]))
    v.findings += noise
    return v


# =========================================================================== a whole run
def result_verdict(result: Any) -> Verdict | None:
    """The verdict object of a classical or MCMC result (None when it carries none)."""
    v = getattr(result, "assessment", None)
    return v if isinstance(v, Verdict) else None


def run_verdict(classical: Any = None, mcmc: Any = None) -> dict[str, Any]:
    """The verdict of a run (results.json ``verdict``): the worse of its methods'."""
    parts: dict[str, Verdict] = {}
    for name, res in (("classical", classical), ("mcmc", mcmc)):
        v = result_verdict(res) if res is not None else None
        if v is not None:
            parts[name] = v
    if not parts:
        return {
            "level": "good",
            "good": True,
            "exit_status": 0,
            "text": "no verdict",
            "methods": {},
        }
    level = min((v.level for v in parts.values()), key=LEVELS.index)
    good = all(v.good for v in parts.values())
    text = "; ".join(f"{name}: {v.text()}" for name, v in parts.items())
    return {
        "level": level,
        "good": good,
        "exit_status": 0 if good else EXIT_NOT_GOOD,
        "text": text,
        "methods": {name: v.level for name, v in parts.items()},
    }
