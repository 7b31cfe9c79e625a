"""Derived physics of a fit: J(t), gdot(t) and the decorrelation time τ_e(t) with bands.

What ageing and yielding studies compare between samples is not D0 or alpha but the
transport coefficient J(t), the shear rate gdot(t) and the local 1/e decorrelation time
over the measured frame window (the equations are in :mod:`homodyne.model`). Each curve
comes with an uncertainty band:

* classical fit: ±1σ from the covariance of the free parameters, propagated linearly
  (central finite differences of each curve with respect to each free parameter);
* MCMC: the 94 % highest-density interval of the curve evaluated on each posterior draw
  (and the posterior mean curve as the value).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model import angle_groups, decorrelation_time, shear_rate, transport_coefficient

__all__ = ["derived_curves", "derived_report_lines", "hdi", "plot_derived"]

#: At most this many time points per curve (frame times, evenly sub-sampled).
MAX_POINTS = 60


def hdi(samples: np.ndarray, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval along axis 0 (the shortest interval holding ``prob``)."""
    x = np.sort(np.asarray(samples, dtype=float), axis=0)
    n = x.shape[0]
    k = max(1, int(np.floor(prob * n)))
    if k >= n:
        return x[0], x[-1]
    widths = x[k:] - x[: n - k]
    widths = np.where(np.isnan(widths), np.inf, widths)
    i = np.argmin(widths, axis=0)
    cols = np.arange(x.shape[1]) if x.ndim > 1 else None
    if cols is None:
        return x[i], x[i + k]
    return x[i, cols], x[i + k, cols]


def _curves(problem: Any, theta: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    out = {"J": np.asarray(transport_coefficient(theta, t), dtype=float)}
    out["tau_e"] = decorrelation_time(theta, t, problem.q)
    if problem.mode == "laminar_flow":
        out["gamma_dot"] = np.asarray(shear_rate(theta, t), dtype=float)
        uphi, _ = angle_groups(problem.phi)
        for phi in uphi:
            out[f"tau_e[φ={phi:g}°]"] = decorrelation_time(
                theta, t, problem.q, phi_deg=float(phi), gap=problem.gap
            )
    return out


_UNITS = {"J": "Å²/s", "gamma_dot": "1/s"}
_MEANING = {
    "J": "transport coefficient J(t) = D0 t^alpha + D_offset",
    "gamma_dot": "shear rate gdot(t) = gamma_dot_t0 t^beta + gamma_dot_t_offset",
    "tau_e": "local 1/e decorrelation time of g1² from the diffusion term, 1/(q² J(t))",
}


def _time_grid(problem: Any) -> np.ndarray:
    t = np.asarray(problem.t, dtype=float)
    idx = np.unique(np.linspace(0, t.size - 1, min(t.size, MAX_POINTS)).round().astype(int))
    return t[idx]


def derived_curves(
    problem: Any,
    values: np.ndarray,
    *,
    covariance: np.ndarray | None = None,
    draws: np.ndarray | None = None,
    hdi_prob: float = 0.94,
) -> dict[str, Any]:
    """J(t), gdot(t), τ_e(t) (and τ_e per angle with shear) over the frame window.

    ``values`` is the full parameter vector; ``covariance`` (free x free) gives ±1σ
    bands, ``draws`` (n, n_free) of the free parameters give HDI bands instead.
    """
    t = _time_grid(problem)
    free = np.nonzero(problem.parameters.free_mask)[0]
    theta = np.asarray(values, dtype=float).copy()
    out: dict[str, Any] = {"t": t.tolist(), "curves": {}}
    if draws is not None:
        draws = np.asarray(draws, dtype=float)
        full = np.repeat(theta[None], draws.shape[0], axis=0)
        full[:, free] = draws
        per = [_curves(problem, th, t) for th in full]
        band = f"{100 * hdi_prob:g}% HDI"
        for name in per[0]:
            stack = np.array([p[name] for p in per])
            finite = np.all(np.isfinite(stack), axis=0)
            lo, hi = hdi(np.where(np.isfinite(stack), stack, np.nan), hdi_prob)
            mean = np.where(finite, np.mean(np.where(finite, stack, 0.0), axis=0), np.inf)
            out["curves"][name] = _entry(name, mean, lo, hi, band)
        out["band"] = band
        return out
    base = _curves(problem, theta, t)
    sd = {name: np.full(t.size, np.nan) for name in base}
    if covariance is not None and free.size:
        cov = np.asarray(covariance, dtype=float)
        grads = {name: np.zeros((free.size, t.size)) for name in base}
        for j, i in enumerate(free):
            h = 1e-6 * max(
                abs(theta[i]),
                1e-3 * (problem.parameters.upper()[i] - problem.parameters.lower()[i]),
                1e-12,
            )
            up, dn = theta.copy(), theta.copy()
            up[i] += h
            dn[i] -= h
            cu, cd = _curves(problem, up, t), _curves(problem, dn, t)
            with np.errstate(invalid="ignore"):  # inf - inf where a curve is infinite
                for name in base:
                    grads[name][j] = (cu[name] - cd[name]) / (2 * h)
        for name in base:
            g = grads[name]
            with np.errstate(invalid="ignore"):
                sd[name] = np.sqrt(np.clip(np.einsum("it,ij,jt->t", g, cov, g), 0, None))
    for name, v in base.items():
        out["curves"][name] = _entry(name, v, v - sd[name], v + sd[name], "1σ")
    out["band"] = "1σ (linear propagation of the covariance)"
    return out


def _entry(name: str, v: np.ndarray, lo: np.ndarray, hi: np.ndarray, band: str) -> dict[str, Any]:
    key = name.split("[")[0]
    unit = _UNITS.get(key, "s")
    meaning = _MEANING.get(key, "")
    if "[" in name:
        meaning = "local 1/e decorrelation time of g1² with diffusion and shear at " + name[6:-1]

    def clean(a: np.ndarray) -> list[float | None]:
        return [float(x) if np.isfinite(x) else None for x in np.asarray(a, dtype=float)]

    return {
        "value": clean(v),
        "lower": clean(lo),
        "upper": clean(hi),
        "band": band,
        "unit": unit,
        "meaning": meaning,
    }


def derived_report_lines(derived: dict[str, Any]) -> list[str]:
    """The [[Derived]] block of report.txt: each curve at the start, middle and end."""
    t = derived["t"]
    picks = sorted({0, len(t) // 2, len(t) - 1})
    lines = [
        f"[[Derived]] over the frame window, band: {derived['band']}",
        "    " + f"{'':<22s}" + "".join(f"{f't = {t[i]:.4g} s':>34s}" for i in picks),
    ]

    def fmt(c: dict[str, Any], i: int) -> str:
        v, lo, hi = c["value"][i], c["lower"][i], c["upper"][i]
        if v is None:
            return f"{'inf':>34s}"
        if lo is None or hi is None:
            return f"{v:>34.5g}"
        return f"{f'{v:.5g} [{lo:.4g}, {hi:.4g}]':>34s}"

    for name, c in derived["curves"].items():
        label = f"{name} [{c['unit']}]"
        lines.append(f"    {label:<22s}" + "".join(fmt(c, i) for i in picks))
    return lines


def plot_derived(derived: dict[str, Any], path: Path, title: str = "") -> Path:
    """One figure: J(t), gdot(t) (laminar) and τ_e(t), each with its band."""
    from .figures import new_figure, save_png

    curves = derived["curves"]
    panels: list[Sequence[str]] = [["J"]]
    if "gamma_dot" in curves:
        panels.append(["gamma_dot"])
    panels.append([n for n in curves if n.startswith("tau_e")])
    t = np.asarray(derived["t"], dtype=float)
    fig = new_figure(4.6 * len(panels), 3.8, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    ylabels = {"J": "J(t) [Å²/s]", "gamma_dot": "γ̇(t) [1/s]", "tau_e": "τ_e(t) [s]"}
    for ax, names in zip(axes, panels, strict=True):
        for k, name in enumerate(names):
            c = curves[name]

            def arr(key: str, c: dict[str, Any] = c) -> np.ndarray:
                return np.array([np.nan if x is None else x for x in c[key]], dtype=float)

            color = f"C{k % 10}"
            label = "diffusion only" if name == "tau_e" else name.replace("tau_e", "").strip("[]")
            ax.plot(t, arr("value"), "-", color=color, label=label if len(names) > 1 else None)
            ax.fill_between(t, arr("lower"), arr("upper"), color=color, alpha=0.25, lw=0)
        ax.set_xlabel("t [s]")
        ax.set_ylabel(ylabels[names[0].split("[")[0]])
        if names[0].startswith("tau_e"):
            ax.set_yscale("log")
            if len(names) > 1:
                ax.legend(fontsize=6, ncol=2)
    fig.suptitle(title or f"derived quantities, band: {derived['band']}", fontsize=9)
    return save_png(fig, path)
