"""Posterior statistics and the convergence verdict against the configured thresholds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._util.jsonable import jsonable
from .settings import MCMCSettings

__all__ = ["HDI_PROB", "summary_table", "verdict"]

#: Probability mass of the reported highest-density intervals (ArviZ's default, 3%-97%).
HDI_PROB = 0.94


_STAT_COLUMNS = (
    "mean",
    "sd",
    "hdi_3%",
    "hdi_97%",
    "mcse_mean",
    "mcse_sd",
    "ess_bulk",
    "ess_tail",
    "r_hat",
)


def summary_table(idata: Any, var_names: Sequence[str]) -> dict[str, dict[str, float | None]]:
    from ..results.inference_data import summary_frame

    df = summary_frame(idata, var_names, HDI_PROB)
    out = {}
    for label, row in df.iterrows():
        out[str(label)] = {c: jsonable(row[c]) for c in _STAT_COLUMNS if c in row}
    return out


def verdict(
    table: Mapping[str, Mapping[str, Any]],
    divergences: int,
    n_draws: int,
    chains: int,
    settings: MCMCSettings,
) -> dict[str, Any]:
    """Convergence verdict of sampled variables against the configured thresholds."""

    def worst(key: str, fn: Callable[[Sequence[float]], float]) -> tuple[float | None, str | None]:
        vals: list[tuple[float, str]] = [
            (float(row[key]), name) for name, row in table.items() if row.get(key) is not None
        ]
        if not vals:
            return None, None
        v = fn([x for x, _ in vals])
        return v, next(n for x, n in vals if x == v)

    rmax, rname = worst("r_hat", max)
    eb, ebn = worst("ess_bulk", min)
    et, etn = worst("ess_tail", min)
    frac = divergences / max(n_draws, 1)
    checks: dict[str, dict[str, Any]] = {
        "r_hat": {
            "value": rmax,
            "limit": settings.rhat_max,
            "rule": "max R-hat < limit",
            "worst": rname,
            "ok": bool(rmax is not None and rmax < settings.rhat_max),
        },
        "ess_bulk": {
            "value": eb,
            "limit": settings.ess_min,
            "rule": "min bulk ESS > limit",
            "worst": ebn,
            "ok": bool(eb is not None and eb > settings.ess_min),
        },
        "ess_tail": {
            "value": et,
            "limit": settings.ess_min,
            "rule": "min tail ESS > limit",
            "worst": etn,
            "ok": bool(et is not None and et > settings.ess_min),
        },
        "divergences": {
            "value": frac,
            "count": int(divergences),
            "limit": settings.divergence_max_fraction,
            "rule": "fraction of divergent draws < limit",
            "ok": bool(frac < settings.divergence_max_fraction),
        },
    }
    problems = []
    if rmax is None:
        problems.append(f"R-hat needs at least 2 chains (ran {chains})")
    elif not checks["r_hat"]["ok"]:
        problems.append(f"R-hat {rmax:.4f} ({rname}) ≥ {settings.rhat_max}")
    for key, label in (("ess_bulk", "bulk ESS"), ("ess_tail", "tail ESS")):
        c = checks[key]
        if not c["ok"]:
            problems.append(
                f"{label} {c['value']:.0f} ({c['worst']}) ≤ {settings.ess_min:g}"
                if c["value"] is not None
                else f"{label} unavailable"
            )
    if not checks["divergences"]["ok"]:
        problems.append(
            f"{divergences} divergent draws ({100 * frac:.2f}% ≥ {100 * settings.divergence_max_fraction:g}%; "
            "if J(t) or the shear rate is poorly determined, try mcmc.reparam = 'plain' (--reparam plain))"
        )
    passed = not problems
    text = (
        f"converged: R-hat < {settings.rhat_max}, ESS > {settings.ess_min:g}, divergences < {100 * settings.divergence_max_fraction:g}%"
        if passed
        else "NOT converged: "
        + "; ".join(problems)
        + " (run more draws/tune, raise target_accept, or check the model)"
    )
    return {
        "passed": passed,
        "text": text,
        "thresholds": {
            "rhat_max": settings.rhat_max,
            "ess_min": settings.ess_min,
            "divergence_max_fraction": settings.divergence_max_fraction,
        },
        "checks": checks,
    }
