"""ArviZ 1 (xarray ``DataTree``) helpers: build, summarise and read the MCMC output.

ArviZ 1 (the arviz-base / arviz-stats / arviz-plots split) replaced ``InferenceData`` by
xarray's ``DataTree`` and renamed the interval columns of :func:`arviz.summary`. This
module keeps what homodyne writes stable across that change:

* :func:`from_groups` builds the ``DataTree`` (groups ``posterior``, ``sample_stats``,
  ``observed_data``, ``constant_data``) with the run's attributes on the root node, where
  ArviZ < 1 put them (``InferenceData.attrs``, the file's root group): ArviZ 1's
  ``from_dict(attrs=...)`` takes attributes per group instead;
* :func:`summary_frame` returns ArviZ's summary with the highest-density interval named
  ``hdi_3%`` / ``hdi_97%`` (ArviZ 1 says ``hdi94_lb`` / ``hdi94_ub``), the names of the
  JSON summary (``mcmc_summary.json``) since the first release;
* :func:`read_netcdf` opens ``mcmc_<backend>.nc`` written by this release or by a release
  on ArviZ < 1: both are NetCDF-4 files with one HDF5 group per InferenceData group, which
  ArviZ 1 reads as a ``DataTree`` unchanged (no conversion step).

ArviZ is imported inside the functions: importing this module loads neither MCMC stack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["from_groups", "read_netcdf", "summary_frame"]

_CI_COLUMN = re.compile(r"^hdi(\d+(?:\.\d+)?)_(lb|ub)$")


def from_groups(
    groups: Mapping[str, Mapping[str, Any]],
    *,
    coords: Mapping[str, Any],
    dims: Mapping[str, Sequence[str]],
    attrs: Mapping[str, Any],
) -> Any:
    """``arviz.from_dict`` with the run attributes on the root node (as before ArviZ 1)."""
    import arviz as az

    tree = az.from_dict(
        {name: dict(values) for name, values in groups.items()},
        coords=dict(coords),
        dims={k: list(v) for k, v in dims.items()},
    )
    tree.attrs.update(attrs)
    return tree


def _interval_name(column: str) -> str:
    match = _CI_COLUMN.match(column)
    if not match:
        return column
    mass = float(match.group(1))
    tail = (100.0 - mass) / 2.0
    edge = tail if match.group(2) == "lb" else 100.0 - tail
    return f"hdi_{edge:g}%"


def summary_frame(tree: Any, var_names: Sequence[str], hdi_prob: float) -> Any:
    """ArviZ's summary table (a pandas DataFrame) with the pre-1.0 interval column names."""
    import arviz as az

    df = az.summary(
        tree, var_names=list(var_names), ci_prob=hdi_prob, ci_kind="hdi", round_to="none"
    )
    return df.rename(columns=_interval_name)


def read_netcdf(path: str | Path) -> Any:
    """Open an MCMC result file (this release's or one written with ArviZ < 1)."""
    import arviz as az

    return az.from_netcdf(str(path))
