"""The orchestration shared by every backend: problem, settings, start, timing."""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import AnalysisError
from ..problem import Problem
from .posterior import PosteriorSpec, build_posterior_spec
from .prepare import prepare_problem
from .settings import MCMCSettings, resolve_config, resolve_settings

__all__ = ["cpu_description", "setup_run", "timer"]

log = logging.getLogger(__name__)


def setup_run(
    analysis_core: Any,
    config: Any,
    c2_experimental: Any,
    phi_angles: Any,
    filter_angles_for_optimization: bool,
    init: Any,
    overrides: Mapping[str, Any],
) -> tuple[Problem, PosteriorSpec, MCMCSettings, Any]:
    """The common first half of every backend's run function.

    Builds the problem, applies the data reduction, resolves the starting point (a
    classical fit when the configuration asks for one and none was given) and builds the
    posterior specification. Returns (full problem, spec, settings, config).
    """
    mode = (
        analysis_core.mode
        if isinstance(analysis_core, Problem)
        else getattr(getattr(analysis_core, "parameters", None), "mode", None)
    )
    if mode is None:
        mode = config.mode if hasattr(config, "mode") else (config or {}).get("analysis_mode")
    if mode is None:
        raise AnalysisError(
            "cannot tell the analysis mode: pass a Problem as analysis_core or a configuration"
        )
    cfg = resolve_config(config, mode)
    settings = resolve_settings(cfg, overrides)
    full = prepare_problem(
        analysis_core, cfg, c2_experimental, phi_angles, filter_angles_for_optimization
    )
    problem = full.reduced(settings.frame_stride, settings.max_lag)
    if problem.n_data > 3_000_000:
        log.warning(
            "MCMC on %d c2 values is slow; consider mcmc.frame_stride / mcmc.max_lag (data reduction)",
            problem.n_data,
        )
    from ..mcmc_start import resolve_start

    start = resolve_start(settings.init, cfg, problem, init)
    if start is not None and problem is not full:
        # The centre should be the mode of the posterior that is sampled: refine the given
        # fit on the reduced data (one local fit from its values, about a second).
        from ..optimization.classical import fit

        try:
            start = fit(
                problem.with_parameters(problem.parameters.updated(start.parameters.values())),
                multistart=0,
            )
        except AnalysisError as exc:  # keep the given start
            log.info(
                "refining the MCMC start on the reduced data failed (%s); using the given fit", exc
            )
    spec = build_posterior_spec(problem, start)
    return full, spec, settings, cfg


def cpu_description() -> str:
    """A short description of this machine's CPU."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def timer() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0
