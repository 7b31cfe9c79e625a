"""The verdict, residual summary and run-folder outputs of an MCMC result.

Works on the shared :class:`homodyne.bayes.result.MCMCResult` (any backend): its
InferenceData holds the free parameters, ``contrast``/``offset`` per angle,
``sigma_scale`` and the sampler statistics (``tree_depth``, ``step_size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .verdict import Verdict, mcmc_verdict

__all__ = ["mcmc_assessment", "posterior_draws", "residual_summary", "write_mcmc_report"]

#: The derived curves' HDI bands use at most this many (evenly spaced) posterior draws.
_DERIVED_DRAWS = 500


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
