"""``--plot-experimental-data`` and ``--plot-simulated-data``: look before fitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis import load_data
from ..config import Config
from ..problem import Problem

__all__ = ["plot_only"]


def plot_only(
    config: Config,
    *,
    data_file: str | None,
    output_dir: str | None,
    experimental: bool,
    simulated: bool,
) -> Path:
    """Plot the selected data and/or the model at the initial parameters; returns the folder."""
    from ..results.plots import plot_maps
    from ..results.writer import default_run_name, run_folder

    dataset = load_data(config, data_file)
    problem = Problem.from_config(config, dataset)
    out = config.output
    directory = Path(output_dir) if output_dir else Path(out["directory"])
    name = (out["run_name"] or default_run_name(config.mode)) + "_plots"
    with run_folder(directory, name, overwrite=out["overwrite"]) as rf:
        if experimental:
            plot_maps(
                rf.path,
                problem.full_matrix(problem.data, np.nan),
                problem.t,
                problem.phi.tolist(),
                "experimental",
            )
        if simulated:
            idx = problem.scaling_index()
            con = np.full(problem.n_scaling, 0.5 * sum(problem.contrast_bounds))
            off = np.full(problem.n_scaling, 1.0)
            theta = problem.parameters.values()
            model = np.broadcast_to(problem.c2(theta, con, off), problem.data.shape)
            plot_maps(
                rf.path,
                problem.full_matrix(model, off[idx] + con[idx]),
                problem.t,
                problem.phi.tolist(),
                "simulated",
            )
    return rf.final
