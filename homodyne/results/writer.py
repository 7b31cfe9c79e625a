"""The output folder of one run: the one place that knows its layout.

``<output.directory>/<run_name>/`` holds::

    results.json   parameters (name → value, stderr, unit, fixed), χ², per-angle scaling,
                   configuration snapshot, versions, input file and its sha256
    report.txt     the human-readable fit report
    fit.npz        t, phi, fitted c2 and residuals (data − fit) as (A, n, n) matrices
    *.png          plots (see :mod:`homodyne.results.plots`)
    mcmc_*         MCMC results, when MCMC ran (written by the backend's result object)

A run folder is assembled in a hidden temporary folder beside it and renamed into place
when complete, so an interrupted run leaves no half-written results. An existing run
folder is never replaced unless overwriting was asked for, and then only if this package
created it (its marker file). Name checks, the write check of the output directory, the
lock against a concurrent run and the removal of stale temporary folders live in
:mod:`homodyne.results.guard`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._util.atomic import atomic_call, atomic_write_text
from .._util.jsonable import json_default, jsonable
from .._version import __version__
from ..runtime import signals
from .guard import (
    check_replaceable,
    finish_folder,
    reserve_run,
    run_exists_error,
    write_owner,
)

__all__ = [
    "RunFolder",
    "environment_info",
    "fit_to_dict",
    "json_default",
    "run_exists_error",
    "run_folder",
]

_DEPENDENCIES = (
    "numpy",
    "scipy",
    "h5py",
    "matplotlib",
    "pymc",
    "pytensor",
    "arviz",
    "jax",
    "jaxlib",
    "numpyro",
)


def environment_info() -> dict[str, Any]:
    """Python, platform and the versions of the scientific dependencies installed."""
    pkgs = {}
    for name in _DEPENDENCIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pkgs[name] = metadata.version(name)
    return {
        "homodyne_analysis": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": pkgs,
    }


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None else jsonable(float(x))


def fit_to_dict(result: Any, problem: Any) -> dict[str, Any]:
    """The classical fit as plain JSON data (the ``classical`` block of results.json)."""
    params = {}
    for name, p in result.parameters.items():
        params[name] = {
            "value": p.value,
            "stderr": None if p.fixed else _finite_or_none(p.stderr),
            "unit": p.unit,
            "fixed": p.fixed,
            "min": p.min,
            "max": p.max,
            "at_bound": name in result.at_bounds,
        }
    idx = problem.scaling_index()
    return {
        "method": result.method,
        "parameters": params,
        "scaling": {
            "mode": problem.scaling_mode,
            "phi": problem.phi.tolist(),
            "contrast": result.contrast[idx].tolist(),
            "contrast_stderr": result.contrast_stderr[idx].tolist(),
            "offset": result.offset[idx].tolist(),
            "offset_stderr": result.offset_stderr[idx].tolist(),
        },
        "chi2": result.chi2,
        "reduced_chi2": result.chi2_red,
        "reduced_chi2_per_angle": dict(
            zip([f"{p:g}" for p in problem.phi], result.chi2_red_per_angle.tolist(), strict=True)
        ),
        "n_data": result.n_data,
        "n_free": result.n_free,
        "noise": {
            "model": result.noise_model,
            "sigma_per_angle": result.sigma.tolist(),
            "errors_scaled_by_reduced_chi2": result.errors_scaled,
        },
        "correlation": {"names": list(result.free_names), "matrix": result.correlation.tolist()},
        "converged": result.success,
        "message": result.message,
        "iterations": result.n_iterations,
        "model_evaluations": result.n_evaluations,
        "wall_time_s": result.wall_time,
        "verdict": result.assessment.to_dict()
        if getattr(result, "assessment", None) is not None
        else result.verdict(),
        "multistart": result.starts,
        "warnings": result.warnings,
    }


class RunFolder:
    """A run folder being assembled (in a temporary folder until :meth:`commit`).

    The temporary folder ``.<name>.<random>.partial`` holds an owner file (process id,
    boot id, process start time, host) from its first moment, so that a later run can
    tell a folder left by a killed run (owner gone) from one still being written; the
    committed folder carries the :data:`~homodyne.results.guard.MARKER` file instead.
    """

    def __init__(self, final: Path, overwrite: bool) -> None:
        self.final = final
        self.overwrite = overwrite
        final.parent.mkdir(parents=True, exist_ok=True)
        self.path = signals.make_registered_temp_dir(final.parent, f".{final.name}.", ".partial")
        try:
            write_owner(self.path)
        except BaseException:  # an interruption (or a full disk) before the owner file
            self.abort()
            raise

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        return atomic_write_text(
            self.path / name,
            json.dumps(data, indent=2, default=json_default, allow_nan=False) + "\n",
        )

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write_text(self.path / name, text)

    def write_npz(self, name: str, **arrays: np.ndarray) -> Path:
        def writer(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]

        return atomic_call(self.path / name, writer)

    def commit(self) -> Path:
        """Move the finished folder into place (replacing an old one only if allowed:
        overwriting asked for and the old folder is one this package wrote)."""
        signals.check()  # a signal during the last writes: nothing is committed
        finish_folder(self.path)
        if os.path.lexists(self.final):
            try:
                check_replaceable(self.final, self.overwrite)
            except BaseException:
                self.abort()
                raise
        # From here a signal waits until the folder is in place (and an old one it
        # replaces is gone): a commit cut in half could lose the old results without
        # putting the new ones in their place. The interruption then says they are complete.
        with signals.critical():
            if os.path.lexists(self.final):
                old = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
                os.replace(self.final, old)
                os.replace(self.path, self.final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(self.path, self.final)
            signals.unregister_temp_dir(self.path)
            signals.note_committed(self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        signals.unregister_temp_dir(self.path)


def default_run_name(mode: str) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{mode}_{stamp}"


@contextlib.contextmanager
def run_folder(directory: Path, name: str, *, overwrite: bool = False) -> Iterator[RunFolder]:
    """Assemble a run folder; it appears under ``directory/name`` only if the block succeeds.

    Refuses early (before any work) when the name is not a plain name, the directory
    cannot be written, another run holds the run folder, or the folder exists and may
    not be replaced (see :func:`homodyne.results.guard.reserve_run`).
    """
    with reserve_run(directory, name, overwrite=overwrite) as reservation:
        rf = RunFolder(reservation.final, overwrite)
        try:
            yield rf
            rf.commit()  # a failure while committing (disk full, a signal) removes it too
        except BaseException:
            rf.abort()
            raise
