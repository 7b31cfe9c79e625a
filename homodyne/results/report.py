"""Report text of the fit results (kept apart from the result objects, as lmfit keeps
``fit_report`` apart from ``MinimizerResult``): what ``homodyne`` prints and writes to
``report.txt``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_report", "mcmc_report"]


def fit_report(fit: Any) -> str:
    """The report of a classical :class:`~homodyne.optimization.classical.FitResult`."""
    lines = [
        f"[[Fit]] method={fit.method}  converged={fit.success}  ({fit.message})",
        f"    iterations={fit.n_iterations}  model evaluations={fit.n_evaluations}  time={fit.wall_time:.3f} s",
        f"    data points={fit.n_data}  free parameters={fit.n_free}  noise={fit.noise_model}"
        f" (σ per angle {np.array2string(fit.sigma, precision=3)})",
        f"    χ²={fit.chi2:.6g}  reduced χ²={fit.chi2_red:.4f}",
        f"    verdict: {fit.verdict()}",
        "[[Parameters]]" + ("  (errors scaled by sqrt(reduced χ²))" if fit.errors_scaled else ""),
    ]
    for name, p in fit.parameters.items():
        if p.fixed:
            lines.append(f"    {name:<20s} = {p.value:< 14.6g} (fixed) {p.unit}")
            continue
        err = p.stderr if p.stderr is not None else float("nan")
        rel = abs(err / p.value) * 100 if p.value else float("inf")
        flag = "  AT BOUND" if name in fit.at_bounds else ""
        if np.isfinite(err) and err > abs(p.value) and err > 0.1 * (p.max - p.min):
            flag += "  (not constrained by these data)"
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
    if fit.starts:
        best = min(s["chi2"] for s in fit.starts)
        near = sum(1 for s in fit.starts if s["chi2"] <= best * (1 + 1e-3) + 1e-9)
        lines.append(
            f"[[Multistart]] {len(fit.starts)} starts; {near} reached the best χ² (within 0.1%)"
        )
    for w in fit.warnings:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)


def mcmc_report(result: Any) -> str:
    """The report of an :class:`~homodyne.bayes.result.MCMCResult`."""
    s = result.summary
    red = s["data_reduction"]
    lines = [
        f"[[MCMC]] backend={result.backend} ({result.backend_name})  device={result.device}",
        f"    chains={result.settings.chains}  tune={result.settings.tune}  draws={result.settings.draws}  "
        f"target_accept={result.settings.target_accept}  max_treedepth={result.settings.max_treedepth}  seed={result.settings.seed}",
        f"    data: {red['n_angles']} angles x {red['n_pairs_used']} pairs = {red['n_values_used']} values "
        f"({100 * red['fraction_used']:.1f}% of {red['n_values_full']}; frame_stride={red['frame_stride']}, max_lag={red['max_lag']})",
        f"    time: {s['time'].get('total_s', float('nan')):.1f} s (sampling {s['time'].get('sampling_s', float('nan')):.1f} s)  "
        f"divergences={s['divergences']}  mean tree depth={s['tree_depth']['mean'] or float('nan'):.2f}",
        f"    start: {s['start']['source']}",
        f"    verdict: {s['verdict']['text']}",
        "[[Posterior]]  mean, sd, 94% HDI, R-hat, bulk/tail ESS",
    ]

    def fmt(v: Any, spec: str) -> str:
        return "nan" if v is None else format(v, spec)

    for name, row in s["parameters"].items():
        if row.get("fixed"):
            lines.append(f"    {name:<20s} = {row['mean']:< 12.6g} (fixed) {row['unit']}")
            continue
        lines.append(
            f"    {name:<20s} {fmt(row['mean'], '< 12.6g')} ± {fmt(row['sd'], '<10.3g')} "
            f"[{fmt(row['hdi_3%'], '.5g')}, {fmt(row['hdi_97%'], '.5g')}]  R-hat {fmt(row['r_hat'], '.4f')}  "
            f"ESS {fmt(row['ess_bulk'], '.0f')}/{fmt(row['ess_tail'], '.0f')}  {row['unit']}"
        )
    ss = s["sigma_scale"]
    lines.append(
        f"    {'sigma_scale':<20s} {fmt(ss.get('mean'), '< 12.6g')} ± {fmt(ss.get('sd'), '<10.3g')}  R-hat {fmt(ss.get('r_hat'), '.4f')}"
    )
    for kind in ("contrast", "offset"):
        means = [r.get("mean") for r in s["scaling"][kind]]
        if means and all(m is not None for m in means):
            lines.append(
                f"    {kind:<20s} {np.array2string(np.asarray(means), precision=4, max_line_width=90)}"
            )
    return "\n".join(lines)
