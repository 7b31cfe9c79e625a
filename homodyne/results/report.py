"""Report text of the fit results (kept apart from the result objects, as lmfit keeps
``fit_report`` apart from ``MinimizerResult``): what ``homodyne`` prints and writes to
``report.txt``. The classical and the MCMC report share one format: a header, the
verdict with its findings and remedies, the parameters (with the truth beside each value
when the data carry it), the per-angle scaling, correlations, and the near-degenerate
directions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["fit_report", "mcmc_report", "truth_note"]


def truth_note(value: float, error: float | None, truth: float | None, at_bound: bool) -> str:
    """``"  truth 5 (+0.41 σ)"`` beside a value when the data carry the truth, else ``""``."""
    if truth is None:
        return ""
    truth = float(truth)
    if at_bound:
        return f"  truth {truth:.6g} (at a bound: no σ distance)"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"  truth {truth:.6g}"
    return f"  truth {truth:.6g} ({(value - truth) / error:+.2f} σ)"


def _verdict_lines(fit: Any) -> list[str]:
    v = getattr(fit, "assessment", None)
    return v.lines() if v is not None else [f"    verdict: {fit.verdict()}"]


def fit_report(fit: Any, truth: Mapping[str, float | None] | None = None) -> str:
    """The report of a classical :class:`~homodyne.optimization.classical.FitResult`."""
    v = getattr(fit, "assessment", None)
    loose = set(v.checks.get("constrained", {}).get("not_constrained", [])) if v else set()
    lines = [
        f"[[Fit]] method={fit.method}  converged={fit.success}  ({fit.message})",
        f"    iterations={fit.n_iterations}  model evaluations={fit.n_evaluations}  time={fit.wall_time:.3f} s",
        f"    data points={fit.n_data}  free parameters={fit.n_free}  noise={fit.noise_model}"
        f" (σ per angle {np.array2string(fit.sigma, precision=3)})",
        f"    χ²={fit.chi2:.6g}  reduced χ²={fit.chi2_red:.4f}",
        *_verdict_lines(fit),
        "[[Parameters]]" + ("  (errors scaled by sqrt(reduced χ²))" if fit.errors_scaled else ""),
    ]
    for name, p in fit.parameters.items():
        t = (truth or {}).get(name)
        if p.fixed:
            lines.append(
                f"    {name:<20s} = {p.value:< 14.6g} (fixed) {p.unit}"
                + truth_note(p.value, None, t, False)
            )
            continue
        err = p.stderr if p.stderr is not None else float("nan")
        rel = abs(err / p.value) * 100 if p.value else float("inf")
        flag = "  AT BOUND" if name in fit.at_bounds else ""
        if name in loose:
            flag += "  (not constrained by these data)"
        flag += truth_note(p.value, err, t, name in fit.at_bounds)
        lines.append(
            f"    {name:<20s} = {p.value:< 14.6g} +/- {err:<11.4g} ({rel:.3g}%) {p.unit}{flag}"
        )
    lines.append("[[Scaling]] contrast / offset per angle")
    for k in range(fit.contrast.size):
        lines.append(
            f"    {k:3d}: contrast {fit.contrast[k]:.5f} +/- {fit.contrast_stderr[k]:.2g}"
            f"   offset {fit.offset[k]:.5f} +/- {fit.offset_stderr[k]:.2g}"
            f"   reduced χ² {fit.chi2_red_per_angle[min(k, fit.chi2_red_per_angle.size - 1)]:.3f}"
        )
    if fit.free_names:
        lines.append("[[Correlations]] (|r| > 0.5)")
        hits = 0
        for i in range(len(fit.free_names)):
            for j in range(i + 1, len(fit.free_names)):
                r = fit.correlation[i, j]
                if abs(r) > 0.5:
                    hits += 1
                    lines.append(f"    C({fit.free_names[i]}, {fit.free_names[j]}) = {r:+.4f}")
        if not hits:
            lines.append("    none")
    if v is not None and v.directions:
        lines.append("[[Identifiability]] near-degenerate directions of the covariance")
        lines += [f"    {d.text}" for d in v.directions]
    ms = v.checks.get("multistart", {}) if v is not None else {}
    if ms.get("starts"):
        agree = "agree" if not ms["disagree"] else f"differ in {', '.join(ms['disagree'])}"
        lines.append(
            f"[[Multistart]] {ms['starts']} starts; {ms['reached_best']} reached the best χ² "
            f"(within max(1, 1e-6 χ²)); their parameters {agree}"
        )
    for w in fit.warnings:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)


def _fmt(v: Any, spec: str) -> str:
    return "nan" if v is None else format(v, spec)


def mcmc_report(result: Any, truth: Mapping[str, float | None] | None = None) -> str:
    """The report of an :class:`~homodyne.bayes.result.MCMCResult`: header, residuals in
    units of the noise σ with sigma_scale beside them, verdict, parameters, scaling,
    correlations and near-degenerate directions of the posterior."""
    from .mcmc_outputs import posterior_draws, residual_summary

    s = result.summary
    st = result.settings
    red = s["data_reduction"]
    res = residual_summary(result)
    v = result.assessment
    lines = [
        f"[[MCMC]] backend={result.backend} ({result.backend_name})  device={result.device}  "
        f"converged={bool(s['verdict']['passed'])}",
        f"    chains={st.chains}  tune={st.tune}  draws={st.draws}  target_accept={st.target_accept}  "
        f"max_treedepth={st.max_treedepth}  seed={st.seed}",
        f"    data points={red['n_values_used']} ({100 * red['fraction_used']:.1f}% of "
        f"{red['n_values_full']}; frame_stride={red['frame_stride']}, max_lag={red['max_lag']})  "
        f"angles={red['n_angles']}  noise={result.problem.noise_model} "
        f"(σ per angle {np.array2string(np.asarray(result.problem.sigma), precision=3)})",
        f"    time={s['time'].get('total_s', float('nan')):.1f} s (sampling "
        f"{s['time'].get('sampling_s', float('nan')):.1f} s)  divergences={s['divergences']}  "
        f"mean tree depth={_fmt(s['tree_depth']['mean'], '.2f')} "
        f"({_fmt(s['tree_depth']['hits_max_treedepth'], 'd')} draws at the maximum)",
        f"    start: {s['start']['source']}",
        f"    residuals / σ (posterior-mean model): mean {res['mean']:.3f}, sd {res['sd']:.3f}, "
        f"reduced χ² {res['reduced_chi2']:.4f}   sigma_scale {res['sigma_scale_mean']:.4g} ± "
        f"{res['sigma_scale_sd']:.2g}",
        *v.lines(),
        "[[Parameters]]  posterior mean +/- sd, 94% HDI, R-hat, bulk/tail ESS",
    ]
    at = set(v.checks.get("bounds", {}).get("at_bound", []))
    loose = set(v.checks.get("constrained", {}).get("not_constrained", []))
    for name, row in s["parameters"].items():
        t = (truth or {}).get(name)
        if row.get("fixed"):
            lines.append(
                f"    {name:<20s} = {row['mean']:< 14.6g} (fixed) {row['unit']}"
                + truth_note(row["mean"], None, t, False)
            )
            continue
        flag = "  AT BOUND" if name in at else ""
        if name in loose:
            flag += "  (not constrained by these data)"
        flag += truth_note(row["mean"], row.get("sd"), t, name in at)
        lines.append(
            f"    {name:<20s} = {_fmt(row['mean'], '< 14.6g')} +/- {_fmt(row['sd'], '<11.4g')} "
            f"[{_fmt(row['hdi_3%'], '.5g')}, {_fmt(row['hdi_97%'], '.5g')}]  R-hat "
            f"{_fmt(row.get('r_hat'), '.4f')}  ESS {_fmt(row.get('ess_bulk'), '.0f')}/"
            f"{_fmt(row.get('ess_tail'), '.0f')} {row['unit']}{flag}"
        )
    lines.append("[[Scaling]] contrast / offset per angle (posterior mean +/- sd)")
    phi = np.asarray(result.problem.phi, dtype=float)
    rows = zip(s["scaling"]["contrast"], s["scaling"]["offset"], strict=True)
    for k, (c, o) in enumerate(rows):
        where = f"φ = {phi[k]:g}°" if len(s["scaling"]["contrast"]) == phi.size else "shared"
        lines.append(
            f"    {k:3d}: contrast {_fmt(c.get('mean'), '.5f')} +/- {_fmt(c.get('sd'), '.2g')}   "
            f"offset {_fmt(o.get('mean'), '.5f')} +/- {_fmt(o.get('sd'), '.2g')}   ({where})"
        )
    draws = posterior_draws(result)
    names = list(result.free_names)
    if draws.shape[0] > 2 and len(names) > 1:
        corr = np.corrcoef(draws, rowvar=False)
        lines.append("[[Correlations]] (posterior, |r| > 0.5)")
        hits = [
            f"    C({names[i]}, {names[j]}) = {corr[i, j]:+.4f}"
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if abs(corr[i, j]) > 0.5
        ]
        lines += hits or ["    none"]
    if v.directions:
        lines.append("[[Identifiability]] near-degenerate directions of the posterior")
        lines += [f"    {d.text}" for d in v.directions]
    return "\n".join(lines)
