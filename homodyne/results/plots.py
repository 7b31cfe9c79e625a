"""PNG plots of data, fit and residuals (matplotlib Figures on their own Agg canvas,
without pyplot: the user's backend is left alone; see :mod:`.figures`).

* ``c2_heatmaps_phi_<angle>.png``: data, fit and residual (data − fit, in units of σ)
  two-time maps of one angle;
* ``c2_lag_cuts.png``: c2 against t1 at a few fixed lags (shows aging), one panel per
  shown angle wrapped four to a row, data as open circles (at most 60 per lag) and the
  fit as lines;
* ``g2_one_time.png``: the one-time g2(τ) (c2 averaged along each diagonal), one panel
  per shown angle wrapped the same way, data as points (log-spaced lags) and fit as lines;
* ``derived_physics.png`` (:mod:`.derived`): J(t), gdot(t) and τ_e(t) with their bands;
* ``c2_experimental_phi_<angle>.png`` / ``c2_simulated_phi_<angle>.png``: single maps for
  ``--plot-experimental-data`` and ``--plot-simulated-data``.

Large matrices are block-averaged to at most ``_MAX_PIXELS`` per side before drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .figures import new_figure, save_png

__all__ = ["one_time_g2", "plot_fit", "plot_maps"]

_MAX_PIXELS = 400


def _downsample(m: np.ndarray) -> np.ndarray:
    n = m.shape[-1]
    k = int(np.ceil(n / _MAX_PIXELS))
    if k <= 1:
        return m
    n2 = (n // k) * k
    m = m[..., :n2, :n2]
    return np.nanmean(m.reshape(*m.shape[:-2], n2 // k, k, n2 // k, k), axis=(-3, -1))


def _save(fig: Any, path: Path) -> Path:
    return save_png(fig, path, bbox_inches="tight")


def _panel_grid(count: int, ncol_max: int = 4) -> tuple[Any, list[Any]]:
    """A figure of ``count`` panels wrapped into rows of at most ``ncol_max``."""
    ncol = max(1, min(ncol_max, count))
    nrow = math.ceil(count / ncol)
    fig = new_figure(3.4 * ncol, 2.9 * nrow + 0.4, layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel())
    for ax in axes[count:]:
        ax.set_axis_off()
    return fig, axes[:count]


def _thin(m: int, at_most: int) -> np.ndarray:
    """At most ``at_most`` evenly spaced indices of ``range(m)`` (data markers stay legible)."""
    return np.unique(np.linspace(0, m - 1, min(m, at_most)).round().astype(int))


def _legend(ax: Any, title: str) -> None:
    ax.legend(fontsize=7, title=title or None, title_fontsize=7)


def _angle_tag(phi: float) -> str:
    return f"{phi:+08.3f}".replace("+", "p").replace("-", "m").replace(".", "_")


def one_time_g2(c2: np.ndarray) -> np.ndarray:
    """Mean of each super-diagonal (lag 1 .. n-1) of an (n, n) matrix, ignoring NaN."""
    n = c2.shape[-1]
    return np.array([np.nanmean(np.diagonal(c2, k)) for k in range(1, n)])


def plot_maps(
    folder: Path, c2: np.ndarray, t: np.ndarray, phi: Sequence[float], kind: str
) -> list[Path]:
    """One map per angle (``kind`` is 'experimental' or 'simulated')."""
    out = []
    extent = (t[0], t[-1], t[0], t[-1])
    for a, angle in enumerate(phi):
        fig = new_figure(5, 4.2)
        ax = fig.subplots()
        im = ax.imshow(_downsample(c2[a]), origin="lower", extent=extent, cmap="viridis")
        ax.set_xlabel("t2 [s]")
        ax.set_ylabel("t1 [s]")
        ax.set_title(f"{kind} c2, φ = {angle:g}°")
        fig.colorbar(im, ax=ax)
        out.append(_save(fig, folder / f"c2_{kind}_phi_{_angle_tag(angle)}.png"))
    return out


def plot_fit(
    folder: Path,
    data: np.ndarray,
    fitted: np.ndarray,
    sigma: np.ndarray,
    t: np.ndarray,
    phi: Sequence[float],
    *,
    max_angles: int = 8,
) -> list[Path]:
    """Heatmaps per angle, lag cuts and one-time g2 for a fit (full (A, n, n) matrices)."""
    out: list[Path] = []
    A, n = data.shape[0], data.shape[-1]
    extent = (t[0], t[-1], t[0], t[-1])
    shown = np.unique(np.linspace(0, A - 1, min(A, max_angles)).round().astype(int))
    for a in range(A):
        d, f = _downsample(data[a]), _downsample(fitted[a])
        r = _downsample((data[a] - fitted[a]) / sigma[a])
        lo = np.nanpercentile(d, 1)
        hi = np.nanpercentile(d, 99)
        fig = new_figure(15, 4.4, layout="constrained")
        axes = fig.subplots(1, 3)
        for ax, m, title, kw in (
            (axes[0], d, "data", {"vmin": lo, "vmax": hi, "cmap": "viridis"}),
            (axes[1], f, "fit", {"vmin": lo, "vmax": hi, "cmap": "viridis"}),
            (axes[2], r, "residual / σ", {"vmin": -4, "vmax": 4, "cmap": "RdBu_r"}),
        ):
            im = ax.imshow(m, origin="lower", extent=extent, **kw)
            ax.set_title(f"{title}, φ = {phi[a]:g}°")
            ax.set_xlabel("t2 [s]")
            ax.set_ylabel("t1 [s]")
            fig.colorbar(im, ax=ax, shrink=0.85)
        out.append(_save(fig, folder / f"c2_heatmaps_phi_{_angle_tag(phi[a])}.png"))

    lags = sorted({max(1, round(x)) for x in (n * 0.02, n * 0.1, n * 0.3)})
    fig, axes = _panel_grid(len(shown))
    for ax, a in zip(axes, shown, strict=False):
        for k, lag in enumerate(lags):
            color = f"C{k}"
            m = n - lag
            pick = _thin(m, 60)
            ax.plot(
                t[:m][pick],
                np.diagonal(data[a], lag)[pick],
                "o",
                ms=2.5,
                mfc="none",
                mew=0.6,
                color=color,
                alpha=0.7,
            )
            ax.plot(
                t[:m],
                np.diagonal(fitted[a], lag),
                "-",
                lw=1.4,
                color=color,
                label=f"lag {lag * (t[1] - t[0]):.3g} s",
            )
        ax.set_title(f"φ = {phi[a]:g}°", fontsize=9)
        ax.set_xlabel("t1 [s]", fontsize=8)
        ax.set_ylabel("c2", fontsize=8)
        ax.tick_params(labelsize=7)
    _legend(axes[0], "data (open circles), fit (lines)")
    fig.suptitle("c2 along fixed lags (ageing): data and fit", fontsize=10)
    out.append(_save(fig, folder / "c2_lag_cuts.png"))

    fig, axes = _panel_grid(len(shown))
    tau = t[1:] - t[0]
    pick = np.unique(np.geomspace(1, tau.size, min(tau.size, 50)).round().astype(int) - 1)
    for ax, a in zip(axes, shown, strict=False):
        ax.semilogx(
            tau[pick], one_time_g2(data[a])[pick], "o", ms=3, mfc="none", mew=0.7, color="C0",
            label="data",
        )  # fmt: skip
        ax.semilogx(tau, one_time_g2(fitted[a]), "-", lw=1.4, color="C3", label="fit")
        ax.set_title(f"φ = {phi[a]:g}°", fontsize=9)
        ax.set_xlabel("lag τ [s]", fontsize=8)
        ax.set_ylabel("g2(τ)", fontsize=8)
        ax.tick_params(labelsize=7)
    _legend(axes[0], "")
    fig.suptitle("one-time g2 (c2 averaged over t1): data (points), fit (lines)", fontsize=10)
    out.append(_save(fig, folder / "g2_one_time.png"))
    return out
