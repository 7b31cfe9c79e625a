"""matplotlib figures without pyplot: no global state, no backend switch.

Every plot of the package draws on a :class:`matplotlib.figure.Figure` with its own Agg
canvas, so that plotting from a notebook or a GUI session leaves the user's backend and
pyplot's figure list alone, and saves it atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._util.atomic import atomic_call

__all__ = ["new_figure", "save_png"]


def new_figure(width: float, height: float, *, layout: str | None = None) -> Any:
    """A Figure of ``width`` x ``height`` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)  # type: ignore[arg-type]
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: Path, **savefig: Any) -> Path:
    """Write ``fig`` to ``path`` as a 110 dpi PNG, atomically (extra ``savefig`` options)."""

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png", dpi=110, **savefig)

    return atomic_call(path, writer)
