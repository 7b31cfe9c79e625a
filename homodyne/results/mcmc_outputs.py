"""The verdict, residual summary and run-folder outputs of an MCMC result.

Works on the shared :class:`homodyne.bayes.result.MCMCResult` (any backend): its
InferenceData holds the free parameters, ``contrast``/``offset`` per angle,
``sigma_scale`` and the sampler statistics (``tree_depth``, ``step_size``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .verdict import (
    BoundEntry,
    Finding,
    Verdict,
    bound_findings,
    chi2_consistency,
    constrained_findings,
    degeneracy_findings,
)

__all__ = [
    "mcmc_assessment",
    "mcmc_verdict",
    "posterior_draws",
    "residual_summary",
    "write_mcmc_report",
]

#: MCMC: fraction of draws at the maximum tree depth above which the sampler is stuck.
TREE_DEPTH_STUCK = 0.5
#: MCMC: median step size below which it has collapsed.
STEP_SIZE_MIN = 1e-3
#: MCMC: R̂ above which the chains did not mix at all (stuck, together with one of the
#: other signs), not merely too short.
RHAT_STUCK = 1.1
#: MCMC: sigma_scale above this means the model at the draws is far from the data.
SIGMA_SCALE_FAR = 1.5

#: The derived curves' HDI bands use at most this many (evenly spaced) posterior draws.
_DERIVED_DRAWS = 500


def mcmc_verdict(
    *,
    convergence: Mapping[str, Any],
    names: Sequence[str],
    draws: np.ndarray,
    parameters: Any,
    contrast: Mapping[str, np.ndarray],
    contrast_bounds: Mapping[str, tuple[float, float]],
    phi: Sequence[float],
    tree_depth: np.ndarray | None,
    max_treedepth: int,
    step_size: np.ndarray | None,
    sigma_scale: np.ndarray | None,
    noise_model: str,
    n_data: int,
    start_source: str = "",
) -> Verdict:
    """The verdict of an MCMC run.

    ``convergence`` is the R̂/ESS/divergence check of the backends (its ``checks`` and
    ``passed``); ``draws`` are the free physical parameters' draws (n, k) in the order of
    ``names``; ``contrast`` maps "contrast"/"offset" to draws (n, S).
    """
    from ..parameters import PARAMETER_TABLE

    v = Verdict("mcmc")
    checks = v.checks
    conv_checks = dict(convergence.get("checks", {}))
    checks["convergence"] = {"ok": bool(convergence.get("passed")), **conv_checks}
    restart = (
        "start from the classical fit (mcmc.init 'classical', or --method all)"
        if start_source and "classical" not in start_source
        else "run more tuning steps (mcmc.tune), raise mcmc.target_accept, or check the model and bounds"
    )
    stuck_reasons = []
    if tree_depth is not None and tree_depth.size:
        frac = float(np.mean(tree_depth >= max_treedepth))
        checks["tree_depth"] = {
            "ok": frac <= TREE_DEPTH_STUCK,
            "fraction_at_max": frac,
            "max_treedepth": max_treedepth,
        }
        if frac > TREE_DEPTH_STUCK:
            stuck_reasons.append(
                f"{100 * frac:.0f}% of draws hit the maximum tree depth {max_treedepth}"
            )
    if step_size is not None and step_size.size:
        med = float(np.median(step_size))
        checks["step_size"] = {"ok": med >= STEP_SIZE_MIN, "median": med, "min": STEP_SIZE_MIN}
        if med < STEP_SIZE_MIN:
            stuck_reasons.append(f"the step size collapsed (median {med:.2g} < {STEP_SIZE_MIN:g})")
    rhat = (conv_checks.get("r_hat") or {}).get("value")
    ss_mean = float(np.mean(sigma_scale)) if sigma_scale is not None and sigma_scale.size else None
    far = ss_mean is not None and ss_mean > SIGMA_SCALE_FAR
    # R-hat above 1.1 alone is a run too short to mix (not converged); with saturated
    # trees, a collapsed step size or sigma_scale far above 1 the chains are stuck
    if rhat is not None and rhat > RHAT_STUCK and (stuck_reasons or far):
        stuck_reasons.append(f"R-hat {rhat:.3g} > {RHAT_STUCK} (the chains disagree)")
    if stuck_reasons:
        if far:
            stuck_reasons.append(f"sigma_scale {ss_mean:.3g} far above 1")
        v.findings.append(
            Finding(
                "stuck", "sampler", "the sampler is stuck: " + "; ".join(stuck_reasons), restart
            )
        )
    elif not convergence.get("passed", False):
        v.findings.append(
            Finding(
                "not-converged",
                "convergence",
                str(convergence.get("text", "R-hat/ESS/divergence thresholds not met")),
                "run more draws and tuning steps (mcmc.draws, mcmc.tune) or raise mcmc.target_accept",
            )
        )
    draws = np.asarray(draws, dtype=float)
    mean = draws.mean(axis=0) if draws.size else np.zeros(len(names))
    sd = draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else np.full(len(names), np.nan)
    entries = []
    for j, n in enumerate(names):
        p = parameters[n]
        spec = PARAMETER_TABLE.get(n)
        entries.append(
            BoundEntry(
                n,
                float(mean[j]),
                float(sd[j]),
                p.min,
                p.max,
                f"parameters.{n}.min",
                f"parameters.{n}.max",
                default_lower=spec is not None and p.min == spec.min,
                default_upper=spec is not None and p.max == spec.max,
            )
        )
    phi = list(phi)
    for kind, d in contrast.items():
        d = np.asarray(d, dtype=float).reshape(d.shape[0], -1)
        lo, hi = contrast_bounds[kind]
        for s in range(d.shape[1]):
            label = f"{kind}[φ={phi[s]:g}°]" if d.shape[1] == len(phi) else f"{kind} (shared)"
            entries.append(
                BoundEntry(
                    label,
                    float(d[:, s].mean()),
                    float(d[:, s].std(ddof=1)),
                    lo,
                    hi,
                    f"scaling.{kind}_min",
                    f"scaling.{kind}_max",
                    group=kind,
                )
            )
    loose = constrained_findings(
        names,
        mean.tolist(),
        sd.tolist(),
        [parameters[n].min for n in names],
        [parameters[n].max for n in names],
        checks,
    )
    v.findings += bound_findings(entries, checks, loose)
    if draws.shape[0] > len(names) + 2 and not stuck_reasons:
        cov = np.atleast_2d(np.cov(draws, rowvar=False))
        found, v.directions = degeneracy_findings(
            names, cov, mean.tolist(), {n: parameters[n].unit for n in names}, loose, checks
        )
        v.findings += found
    if ss_mean is not None:
        dof = max(n_data - len(names), 1)
        v.findings += chi2_consistency(
            ss_mean**2, dof, noise_model, n_data, checks, label="sigma_scale²"
        )
    return v


def posterior_draws(result: Any) -> np.ndarray:
    """Draws of the free physical parameters, (n_draws, k) in ``result.free_names`` order."""
    cols = [np.asarray(result.draws(n), dtype=float).reshape(-1) for n in result.free_names]
    return np.column_stack(cols) if cols else np.empty((0, 0))


def _stat(result: Any, name: str) -> np.ndarray | None:
    ss = result.idata.sample_stats
    return np.asarray(ss[name].values).reshape(-1) if name in ss else None


def mcmc_assessment(result: Any, convergence: Mapping[str, Any]) -> Verdict:
    """The shared verdict of an MCMC result (``convergence``: the R̂/ESS/divergence check)."""
    pr = result.problem
    post = result.idata.posterior
    total = int(np.prod(post["sigma_scale"].shape[:2])) if "sigma_scale" in post else 0
    scaling = {
        kind: np.asarray(result.draws(kind), dtype=float).reshape(total, -1)
        for kind in ("contrast", "offset")
        if kind in post
    }
    sigma_scale = (
        np.asarray(result.draws("sigma_scale"), dtype=float).reshape(-1)
        if "sigma_scale" in post
        else None
    )
    return mcmc_verdict(
        convergence=convergence,
        names=list(result.free_names),
        draws=posterior_draws(result),
        parameters=pr.parameters,
        contrast=scaling,
        contrast_bounds={"contrast": pr.contrast_bounds, "offset": pr.offset_bounds},
        phi=np.asarray(pr.phi, dtype=float).tolist(),
        tree_depth=_stat(result, "tree_depth"),
        max_treedepth=int(result.settings.max_treedepth),
        step_size=_stat(result, "step_size"),
        sigma_scale=sigma_scale,
        noise_model=pr.noise_model,
        n_data=int(pr.n_data),
        start_source=str(result.spec.start.get("source", "")),
    )


def residual_summary(result: Any) -> dict[str, Any]:
    """Residuals of the posterior-mean model in units of the noise σ (not sigma_scale · σ)."""
    pr = result.problem
    spec = result.spec
    params = [float(v) for v in spec.fixed_values]
    for j, i in enumerate(spec.free_index):
        params[int(i)] = float(np.mean(result.draws(spec.free_names[j])))
    con = np.asarray(result.draws("contrast"), dtype=float)
    off = np.asarray(result.draws("offset"), dtype=float)
    con = con.reshape(-1, con.shape[-1] if con.ndim > 1 else 1).mean(axis=0)
    off = off.reshape(-1, off.shape[-1] if off.ndim > 1 else 1).mean(axis=0)
    model = np.broadcast_to(spec.c2_model(params, con, off, np), pr.data.shape)
    z = (pr.data - model) / pr.sigma[:, None]
    ss = np.asarray(result.draws("sigma_scale"), dtype=float)
    n_free = len(spec.free_names) + 2 * pr.n_scaling
    return {
        "mean": float(z.mean()),
        "sd": float(z.std()),
        "reduced_chi2": float(np.sum(z * z) / max(pr.n_data - n_free, 1)),
        "sigma_per_angle": pr.sigma.tolist(),
        "sigma_scale_mean": float(ss.mean()),
        "sigma_scale_sd": float(ss.std()),
        "note": "residuals of the posterior-mean model divided by the noise σ per angle; "
        "sigma_scale (the fitted multiplier of σ) is reported separately",
    }


def write_mcmc_report(
    rf: Any, result: Any, problem: Any, doc: dict[str, Any], *, plots: bool
) -> None:
    """Add the MCMC report and derived curves (94 % HDI) to a run folder being written.

    report.txt gets the MCMC report (after the classical one when both ran); results.json
    ``derived.mcmc``; ``derived_physics.png`` shows the MCMC bands when MCMC ran.
    """
    from .derived import derived_curves, derived_report_lines, plot_derived

    draws = posterior_draws(result)
    if draws.shape[0] > _DERIVED_DRAWS:
        draws = draws[np.linspace(0, draws.shape[0] - 1, _DERIVED_DRAWS).astype(int)]
    values = problem.parameters.values().copy()
    free = np.nonzero(problem.parameters.free_mask)[0]
    values[free] = draws.mean(axis=0)
    derived = derived_curves(problem, values, draws=draws)
    doc.setdefault("derived", {})["mcmc"] = derived
    text = "\n".join(
        [result.report(getattr(problem, "truth", None)), *derived_report_lines(derived)]
    )
    old = rf.path / "report.txt"
    if old.exists():
        text = old.read_text().rstrip("\n") + "\n\n" + text
    rf.write_text("report.txt", text + "\n")
    if plots:
        plot_derived(derived, rf.path / "derived_physics.png")
