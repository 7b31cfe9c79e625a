"""Where MCMC starts: a classical fit of the same problem, the configuration, or a
previous run's results.json.

``mcmc.init`` chooses:

* ``"classical"`` (default): the classical fit of the problem that is sampled (under
  ``--method all`` the run's own fit is used; otherwise one is run first, with the
  configuration's classical settings). Starting from the template's initial values leaves
  NUTS far from the posterior mode, where it can stall (tree depth saturated, step size
  collapsed), so the default never does that.
* ``"config"``: the initial values of the ``parameters`` section (for experts who set them).
* a path ending in ``.json``: the fitted values, contrast and offset stored in a previous
  run's ``results.json`` (relative paths are relative to the configuration file).

The start's origin, and the classical fit's χ² when there was one, are recorded in the
MCMC summary (``start``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..parameters import Parameters

__all__ = ["PreviousRun", "load_previous_run", "resolve_start", "start_record"]

log = logging.getLogger(__name__)


@dataclass
class PreviousRun:
    """The fitted point of an earlier run, shaped like a classical fit result."""

    parameters: Parameters
    contrast: np.ndarray
    offset: np.ndarray
    path: Path
    success: bool = True

    @property
    def method(self) -> str:
        return f"previous run {self.path}"


def load_previous_run(path: str | Path, parameters: Parameters, n_scaling: int) -> PreviousRun:
    """Read the fitted point of ``results.json`` for the parameters of this problem."""
    p = Path(path)
    where = f"mcmc.init: {p}"
    if not p.is_file():
        raise ConfigError(f"{where}: file not found (expected a previous run's results.json)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: not a readable JSON file ({exc})") from exc
    stored = doc.get("parameters") if isinstance(doc, dict) else None
    if not isinstance(stored, dict):
        raise ConfigError(f"{where}: no 'parameters' section (is it a homodyne results.json?)")
    mode = doc.get("analysis_mode")
    if mode is not None and mode != parameters.mode:
        log.warning(
            "mcmc.init: %s is a %s run; using the values of the parameters this %s problem shares",
            p,
            mode,
            parameters.mode,
        )
    values: dict[str, float] = {}
    for name in parameters.free_names:
        entry = stored.get(name)
        v = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(v, int | float) or not np.isfinite(v):
            raise ConfigError(f"{where}: no finite fitted value of {name!r}")
        values[name] = float(v)
    con = off = np.full(n_scaling, np.nan)
    scaling = doc.get("scaling")
    if isinstance(scaling, dict):
        c = np.atleast_1d(np.asarray(scaling.get("contrast", []), dtype=float))
        o = np.atleast_1d(np.asarray(scaling.get("offset", []), dtype=float))
        if c.size == o.size and c.size in (1, n_scaling) and np.all(np.isfinite(c)):
            con, off = (
                np.broadcast_to(c, (n_scaling,)).copy(),
                np.broadcast_to(o, (n_scaling,)).copy(),
            )
    return PreviousRun(parameters.updated(values), con, off, p.resolve())


def resolve_start(init: str, config: Any, problem: Any, given: Any = None) -> Any:
    """The classical-fit-like object MCMC starts from, or ``None`` for the config values.

    ``given`` is a classical fit of this problem already made (``--method all``).
    """
    if init == "config":
        return None
    if init in ("classical", "auto"):
        if given is not None:
            return given
        from ..optimization.classical import fit_configured

        log.info("MCMC start: a classical fit of the same problem first (mcmc.init 'classical')")
        return fit_configured(config, problem)
    path = config.resolve_path(init) if hasattr(config, "resolve_path") else Path(init)
    run = load_previous_run(path, problem.parameters, problem.n_scaling)
    log.info("MCMC start: the fitted values of %s", run.path)
    return run


def start_record(start: Any) -> dict[str, Any] | None:
    """What the summary keeps of a classical start: its χ² and fitted values with errors."""
    if start is None or not hasattr(start, "chi2_red"):
        return None
    return {
        "method": getattr(start, "method", None),
        "converged": bool(getattr(start, "success", True)),
        "reduced_chi2": float(start.chi2_red),
        "values": {n: float(p.value) for n, p in start.parameters.items()},
        "stderr": {
            n: (None if p.stderr is None else float(p.stderr))
            for n, p in start.parameters.items()
            if not p.fixed
        },
    }
