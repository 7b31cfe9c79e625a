"""Summary plots of a batch (PNG, written atomically into the batch folder).

* ``summary_vs_q.png``: every fitted physical parameter against q, one line per file;
* ``summary_vs_<column>.png``: the same against a metadata column (the manifest's
  ``metadata_column``, else the first file attribute that varies between files);
* ``summary_J_t.png``: J(t) = D0 t^alpha + D_offset of every fit on one axis;
* ``summary_verdicts.png``: how many fits have each verdict level.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .._util.atomic import atomic_call
from ..model import MODES

__all__ = ["plot_summary"]


def _fig() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _params_present(rows: list[dict[str, Any]]) -> list[str]:
    names = []
    for mode_names in MODES.values():
        for n in mode_names:
            if n not in names and any(
                isinstance(r.get(n), int | float) and r.get(f"{n}_err") is not None for r in rows
            ):  # fitted somewhere (a fixed parameter has no error)
                names.append(n)
    return names


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _save(fig: Any, path: Path) -> Path:
    atomic_call(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    _fig().close(fig)
    return path


def _panels(
    rows: list[dict[str, Any]], xcol: str, xlabel: str, path: Path, by: str = "meta_sample"
) -> Path | None:
    plt = _fig()
    names = _params_present(rows)
    if not names:
        return None
    ncol = min(3, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "done":
            key = r.get(by)
            key = f"{_num(key):.4g}" if by == "q" else key
            groups.setdefault(f"{by.removeprefix('meta_')} {key} ({r.get('method')})", []).append(r)
    for ax, name in zip(axes.ravel(), names, strict=False):
        for label, rs in groups.items():
            x = np.array([_num(r.get(xcol)) for r in rs])
            y = np.array([_num(r.get(name)) for r in rs])
            e = np.array([_num(r.get(f"{name}_err")) for r in rs])
            o = np.argsort(x)
            ax.errorbar(
                x[o],
                y[o],
                yerr=np.where(np.isfinite(e[o]), e[o], 0),
                marker="o",
                ms=3,
                capsize=2,
                label=label,
            )
        ax.set_title(name)
        ax.set_xlabel(xlabel)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    if len(groups) <= 12:
        axes.ravel()[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def _j_of_t(rows: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _fig()
    fig, ax = plt.subplots(figsize=(6, 4))
    n = 0
    for r in rows:
        if r.get("status") != "done" or not isinstance(r.get("D0"), int | float):
            continue
        t = None
        if r.get("run_dir"):
            f = Path(r["run_dir"]) / "fit.npz"
            if f.is_file():
                with np.load(f) as z:
                    t = np.asarray(z["t"])
        if t is None:
            t = np.linspace(0.1, 10.0, 100)
        J = _num(r["D0"]) * t ** _num(r.get("alpha", 0.0)) + _num(r.get("D_offset", 0.0) or 0.0)
        q = r.get("q")
        qs = (
            f"{_num(q):.4g}"
            if not isinstance(q, str)
            else ",".join(f"{v:.3g}" for v in json.loads(q))
        )
        ax.plot(t, J, lw=1, label=f"{r.get('meta_sample')} q={qs} ({r.get('method')})")
        n += 1
    if not n:
        plt.close(fig)
        return None
    ax.set_xlabel("t [s]")
    ax.set_ylabel("J(t) [Å²/s]")
    ax.set_title(f"J(t) of {n} fits")
    if n <= 12:
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def _verdicts(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _fig()
    counts = Counter(
        (
            r.get("verdict_level")
            or ("failed" if r.get("status") == "failed" else r.get("status") or "unknown")
        )
        for r in rows
    )
    fig, ax = plt.subplots(figsize=(5, 3.2))
    keys = sorted(counts)
    ax.bar(keys, [counts[k] for k in keys], color="tab:blue")
    ax.set_ylabel("fits")
    ax.set_title("verdicts")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return _save(fig, path)


def plot_summary(
    out: Path, rows: list[dict[str, Any]], metadata_column: str | None
) -> dict[str, Path]:
    from .summary import varying_metadata

    written: dict[str, Path] = {}
    single = [r for r in rows if not r.get("joint_q")]
    if single and (p := _panels(single, "q", "q [1/Å]", out / "summary_vs_q.png")):
        written["plot_vs_q"] = p
    col = None
    if metadata_column:
        col = metadata_column if metadata_column.startswith("meta_") else f"meta_{metadata_column}"
        if col not in rows[0]:
            col = None
    if col is None:
        varying = varying_metadata(rows)
        col = varying[0] if varying else None
    if col is not None:
        name = col.removeprefix("meta_")
        p = _panels(single or rows, col, name, out / f"summary_vs_{name}.png", by="q")
        if p:
            written["plot_vs_metadata"] = p
    if p := _j_of_t(rows, out / "summary_J_t.png"):
        written["plot_J_t"] = p
    written["plot_verdicts"] = _verdicts(rows, out / "summary_verdicts.png")
    return written
