"""The verdict and report.txt of an MCMC result, in the same format as the classical one.

Works on the shared :class:`homodyne.bayes.result.MCMCResult` (any backend): its
InferenceData holds the free parameters, ``contrast``/``offset`` per angle,
``sigma_scale`` and the sampler statistics (``tree_depth``, ``step_size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .report import truth_note
from .verdict import Verdict, mcmc_verdict

__all__ = ["mcmc_assessment", "mcmc_report", "posterior_draws", "residual_summary"]


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


def _fmt(v: Any, spec: str) -> str:
    return "nan" if v is None else format(v, spec)


def mcmc_report(result: Any, truth: Mapping[str, float | None] | None = None) -> str:
    """report.txt of an MCMC run: header, verdict, parameters, scaling, noise, correlations."""
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


def write_mcmc_report(
    rf: Any, result: Any, problem: Any, doc: dict[str, Any], *, plots: bool
) -> None:
    """Add the MCMC report and derived curves (94 % HDI) to a run folder being written.

    report.txt gets the MCMC report (after the classical one when both ran); results.json
    ``derived.mcmc``; ``derived_physics.png`` shows the MCMC bands when MCMC ran.
    """
    from .derived import derived_curves, derived_report_lines, plot_derived

    draws = posterior_draws(result)
    if draws.shape[0] > 1000:
        draws = draws[np.linspace(0, draws.shape[0] - 1, 1000).astype(int)]
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
        from .plots import _save

        plot_derived(derived, rf.path / "derived_physics.png", _save)
