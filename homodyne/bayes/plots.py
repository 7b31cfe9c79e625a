"""Plots of an MCMC result: trace, corner (pairs) and posterior-predictive residuals."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..results.figures import new_figure, save_png

if TYPE_CHECKING:
    from .result import MCMCResult

__all__ = ["plot_corner", "plot_residuals", "plot_trace", "posterior_predictive_mean"]


def _figure(w: float, h: float) -> Any:
    return new_figure(w, h, layout="constrained")


def _save_png(fig: Any, path: Path) -> Path:
    return save_png(fig, path)


def _plot_names(result: MCMCResult) -> list[str]:
    return [*result.free_names, "sigma_scale"]


def plot_trace(result: MCMCResult, path: Path) -> Path:
    """Per variable: the marginal density of each chain (left) and its trace (right)."""
    names = _plot_names(result)
    fig = _figure(11, 1.8 * len(names) + 0.6)
    axes = fig.subplots(len(names), 2, squeeze=False)
    post = result.idata.posterior
    for r, name in enumerate(names):
        v = np.asarray(post[name].values)  # (chains, draws)
        for c in range(v.shape[0]):
            axes[r, 0].hist(v[c], bins=40, histtype="step", density=True, label=f"chain {c}")
            axes[r, 1].plot(v[c], lw=0.5, alpha=0.8)
        unit = result.problem.parameters[name].unit if name in result.problem.parameters else ""
        axes[r, 0].set_ylabel(f"{name}\n[{unit}]" if unit else name)
        axes[r, 0].ticklabel_format(axis="x", useOffset=False, style="sci", scilimits=(-3, 4))
        axes[r, 1].set_xlabel("draw" if r == len(names) - 1 else "")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"MCMC trace ({result.backend}, {result.settings.chains} chains x {result.settings.draws} draws)"
    )
    return _save_png(fig, path)


def plot_corner(result: MCMCResult, path: Path, max_points: int = 4000) -> Path:
    """Pair (corner) plot of the free physical parameters: marginals and 2-D histograms."""
    names = list(result.free_names)
    units = [result.problem.parameters[n].unit for n in names]
    labels = [f"{n} [{u}]" if u and u != "1" else n for n, u in zip(names, units, strict=True)]
    k = len(names)
    x = np.column_stack([result.draws(n) for n in names])
    if x.shape[0] > max_points:
        x = x[np.linspace(0, x.shape[0] - 1, max_points).astype(int)]
    size = max(3.0, 1.9 * k)
    fig = _figure(size, size)
    axes = fig.subplots(k, k, squeeze=False)
    means = x.mean(axis=0)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(x[:, i], bins=40, color="C0", histtype="stepfilled", alpha=0.7)
                ax.axvline(means[i], color="k", lw=0.8)
                ax.set_yticks([])
            else:
                ax.hist2d(x[:, j], x[:, i], bins=35, cmap="Blues")
                ax.plot(means[j], means[i], "k+", ms=8)
            if i == k - 1:
                ax.set_xlabel(labels[j], fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i], fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.suptitle(f"posterior pairs ({result.backend}); + = posterior mean")
    return _save_png(fig, path)


def posterior_predictive_mean(result: MCMCResult, n_draws: int | None = None) -> np.ndarray:
    """Mean of the model c2 over posterior draws, (A, m): the posterior-predictive mean."""
    spec = result.spec
    pr = spec.problem
    total = result.settings.chains * result.settings.draws
    if n_draws is None:
        n_draws = int(np.clip(4e7 / max(pr.n_data, 1), 5, 100))
    pick = np.linspace(0, total - 1, min(n_draws, total)).astype(int)
    cols = [result.draws(n) for n in spec.free_names]
    con = result.draws("contrast").reshape(total, -1)
    off = result.draws("offset").reshape(total, -1)
    acc = np.zeros_like(pr.data)
    for d in pick:
        params = [float(v) for v in spec.fixed_values]
        for j, i in enumerate(spec.free_index):
            params[int(i)] = float(cols[j][d])
        acc += np.broadcast_to(spec.c2_model(params, con[d], off[d], np), pr.data.shape)
    return acc / pick.size


def plot_residuals(result: MCMCResult, path: Path, max_angles: int = 8) -> Path:
    """Posterior-predictive residuals: (data - E[model]) / σ per angle, and their histogram.

    σ is the noise model's σ per angle, not sigma_scale · σ: a sampler stuck in a wrong
    region shows residuals far wider than N(0, 1) instead of being rescaled to it, and
    the fitted sigma_scale is stated beside them.
    """
    pr = result.problem
    mean = posterior_predictive_mean(result)
    scale = float(result.draws("sigma_scale").mean())
    z = (pr.data - mean) / pr.sigma[:, None]
    shown = np.unique(np.linspace(0, pr.n_angles - 1, min(max_angles, pr.n_angles)).astype(int))
    ncol = min(4, shown.size)
    nrow = math.ceil(shown.size / ncol) + 1
    fig = _figure(3.2 * ncol, 3.0 * nrow)
    grid = fig.add_gridspec(nrow, ncol)
    full = pr.full_matrix(z, np.nan)
    lim = 4.0
    im = None
    for k, a in enumerate(shown):
        ax = fig.add_subplot(grid[k // ncol, k % ncol])
        m = full[a]
        n = m.shape[0]
        step = max(1, math.ceil(n / 300))
        im = ax.imshow(
            m[::step, ::step],
            origin="lower",
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            extent=(pr.t[0], pr.t[-1], pr.t[0], pr.t[-1]),
            interpolation="nearest",
        )
        ax.set_title(f"φ = {pr.phi[a]:.2f}°", fontsize=9)
        ax.set_xlabel("t2 [s]", fontsize=8)
        ax.set_ylabel("t1 [s]", fontsize=8)
        ax.tick_params(labelsize=7)
    if im is not None:
        fig.colorbar(im, ax=fig.axes, shrink=0.6, label="residual / σ")
    ax = fig.add_subplot(grid[nrow - 1, :])
    flat = z.reshape(-1)
    ax.hist(
        flat,
        bins=120,
        range=(-6, 6),
        density=True,
        histtype="stepfilled",
        alpha=0.6,
        label="residuals / σ",
    )
    xs = np.linspace(-6, 6, 400)
    ax.plot(xs, np.exp(-0.5 * xs * xs) / math.sqrt(2 * math.pi), "k", lw=1, label="N(0, 1)")
    ax.set_title(
        f"residuals / noise σ: mean {flat.mean():.3f}, sd {flat.std():.3f} (ideal 0, 1); "
        f"fitted sigma_scale {scale:.3g} (ideal 1)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.suptitle(f"data - posterior-mean model ({result.backend})")
    return _save_png(fig, path)
