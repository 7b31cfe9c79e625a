"""The analysis pipeline: config → dataset → problem → method(s) → results on disk.

Data flow in one direction; each step is a function of the previous step's output:

* :func:`load_data` reads the configured HDF5 file (through the cache),
* :meth:`homodyne.problem.Problem.from_config` filters angles and selects the pairs,
* :func:`homodyne.optimization.classical.fit` and/or an MCMC backend fit it,
* :func:`write_run` writes the run folder (atomically, never over an existing one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .data.angle_selection import input_lines
from .errors import ConfigError
from .problem import Problem
from .progress import Progress

__all__ = ["RunOutcome", "fit_classical", "load_data", "run_analysis"]

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What a run produced (objects first; the folder holds the same as files)."""

    config: Config
    problem: Problem
    classical: Any = None  # FitResult
    mcmc: Any = None  # backend result object
    run_dir: Path | None = None
    files: list[Path] = field(default_factory=list)


def load_data(config: Config, data_file: str | Path | None = None) -> Any:
    """Load the configured dataset (``data_file`` overrides ``data.file``)."""
    from .data import load_dataset

    d = config.data
    if data_file is not None:
        path = Path(data_file)
    else:
        path = config.resolve_path(d["file"])  # type: ignore[assignment]
    if path is None:
        raise ConfigError(
            f"{config.path or '<config>'}: data.file is not set; give the HDF5 file in the config or with --data"
        )
    return load_dataset(
        path,
        q=d["q"],
        q_rel_tolerance=d["q_rel_tolerance"],
        phi=d["phi"],
        phi_tolerance=d["phi_tolerance"],
        frames=tuple(d["frames"]) if d["frames"] else None,
        dt=d["dt"],
        layout=d["layout"],
        cache_dir=config.resolve_path(d["cache_dir"]),
        nonfinite=d.get("nonfinite", "mask"),
    )


def fit_classical(config: Config, problem: Problem, progress: Progress | None = None) -> Any:
    """The classical fit with the configuration's ``classical`` settings."""
    from .optimization.classical import fit_configured

    return fit_configured(config, problem, progress)


def _fitted_matrices(problem: Problem, result: Any) -> tuple[np.ndarray, np.ndarray]:
    """Full (A, n, n) fitted c2 and residual matrices (float32 to halve the file size)."""
    theta = result.parameters.values()
    fitted_upper = problem.c2(theta, result.contrast, result.offset)
    idx = problem.scaling_index()
    diag = result.offset[idx] + result.contrast[idx]
    fitted = problem.full_matrix(np.broadcast_to(fitted_upper, problem.data.shape), diag)
    resid = problem.full_matrix(problem.data - fitted_upper, np.nan)
    return fitted.astype(np.float32), resid.astype(np.float32)


def write_run(
    outcome: RunOutcome,
    *,
    output_dir: Path,
    run_name: str,
    overwrite: bool,
    plots: bool,
    command: list[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the run folder of an outcome; returns its path."""
    from .results.document import results_document
    from .results.writer import run_folder

    problem, config = outcome.problem, outcome.config
    with run_folder(output_dir, run_name, overwrite=overwrite) as rf:
        if progress:
            progress.set("writing results")
        doc = results_document(problem, config, outcome.classical, outcome.mcmc, command)
        if outcome.classical is not None:
            res = outcome.classical
            from .results.derived import derived_curves, derived_report_lines

            derived = derived_curves(problem, res.parameters.values(), covariance=res.covariance)
            doc["derived"] = {"classical": derived}
            report = res.report(truth=getattr(problem, "truth", None))
            rf.write_text(
                "report.txt",
                "\n".join([report, *derived_report_lines(derived)]) + "\n" + input_lines(problem),
            )
            fitted, resid = _fitted_matrices(problem, res)
            rf.write_npz(
                "fit.npz",
                t=problem.t,
                phi=problem.phi,
                c2_fitted=fitted,
                residuals=resid,
                sigma=problem.sigma,
            )
            if plots:
                from .results.plots import plot_fit

                if progress:
                    progress.set("plotting")
                data_full = problem.full_matrix(problem.data, np.nan)
                plot_fit(
                    rf.path,
                    data_full,
                    fitted.astype(float),
                    problem.sigma,
                    problem.t,
                    problem.phi.tolist(),
                )
                from .results.derived import plot_derived

                plot_derived(derived, rf.path / "derived_physics.png")
        if outcome.mcmc is not None:
            outcome.mcmc.save(rf.path)
            from .results.mcmc_outputs import write_mcmc_report

            write_mcmc_report(rf, outcome.mcmc, problem, doc, plots=plots)
        rf.write_json("results.json", doc)
        final = rf.final
    outcome.run_dir = final
    outcome.files = sorted(final.iterdir())
    return final


def run_analysis(
    config: Config,
    *,
    data_file: str | Path | None = None,
    method: str = "classical",
    output_dir: str | Path | None = None,
    command: list[str] | None = None,
    quiet: bool = False,
) -> RunOutcome:
    """Run the configured analysis end to end and write its run folder."""
    from .results.guard import reserve_run
    from .results.writer import default_run_name

    out = config.output
    out_dir = Path(output_dir) if output_dir is not None else Path(out["directory"])
    run_name = default_run_name(config.mode) if out["run_name"] is None else out["run_name"]
    # name, writable directory, no concurrent run, replaceable folder: before any work
    with reserve_run(out_dir, run_name, overwrite=out["overwrite"]):
        return _run_reserved(config, data_file, method, out_dir, run_name, command, quiet)


def _run_reserved(
    config: Config,
    data_file: str | Path | None,
    method: str,
    out_dir: Path,
    run_name: str,
    command: list[str] | None,
    quiet: bool,
) -> RunOutcome:
    out = config.output
    mcmc_fn = backend_name = None
    if method in ("mcmc", "all"):
        from .optimization.backends import get_mcmc_backend  # fails early, naming the extra

        mcmc_fn, backend_name, _ = get_mcmc_backend(config.mcmc["backend"])
    with Progress(quiet=quiet) as progress:
        progress.set("loading data")
        dataset = load_data(config, data_file)
        problem = Problem.from_config(config, dataset)
        del dataset
        outcome = RunOutcome(config, problem)
        if method in ("classical", "all"):
            outcome.classical = fit_classical(config, problem, progress)
        if mcmc_fn is not None:
            progress.set(f"MCMC ({backend_name})")
            outcome.mcmc = mcmc_fn(
                analysis_core=problem, config=config, init=outcome.classical, progress=not quiet
            )
        write_run(
            outcome,
            output_dir=out_dir,
            run_name=run_name,
            overwrite=out["overwrite"],
            plots=out["plots"],
            command=command,
            progress=progress,
        )
    return outcome
