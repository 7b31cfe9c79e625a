"""The one orchestration of every MCMC backend: problem, settings, start, result, timing.

:func:`run_mcmc` prepares the problem (the seed API's ``analysis_core`` or arrays, the
configuration's angle filter, the data reduction), resolves the settings, finds the
starting point (a classical fit when ``mcmc.init`` asks for one), builds the posterior
specification and the chains' initial points, hands them to the backend's
:class:`~homodyne.bayes.sampler.Sampler` and builds the shared
:class:`~homodyne.bayes.result.MCMCResult` from its draws, with the timing.
"""

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
from .result import MCMCResult, build_result
from .sampler import Sampler
from .settings import MCMCSettings, resolve_config, resolve_settings
from .start import initial_points

__all__ = ["cpu_description", "draw_timed", "run_function", "run_mcmc", "setup_run", "timer"]

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
    from .mcmc_init import resolve_start

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
    spec = build_posterior_spec(problem, start, settings.reparam)
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


def draw_timed(
    sampler: Sampler,
    spec: Any,
    settings: MCMCSettings,
    clock: Callable[[], float],
    *,
    progress: bool,
    options: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, float]]:
    """Start points, then ``sampler.draw`` from them; returns the draws and the timing:
    ``setup_s`` (everything before the first step, ``clock`` started at the beginning of
    the run, plus the sampler's own preparation), ``sampling_s`` and ``total_s``. Serves
    the single-q and the joint posterior (``spec`` of either)."""
    z0 = initial_points(spec, settings.chains, settings.seed)
    t_setup = clock()
    draws = sampler.draw(spec, settings, z0, progress=progress, options=dict(options or {}))
    timing = {
        "setup_s": t_setup + draws.prepare_s,
        "sampling_s": draws.sampling_s,
        "total_s": clock(),
    }
    return draws, timing


def run_mcmc(
    sampler: Sampler,
    *,
    backend: str,
    backend_name: str,
    analysis_core: Any = None,
    config: Any = None,
    c2_experimental: Any = None,
    phi_angles: Any = None,
    filter_angles_for_optimization: bool = True,
    init: Any = None,
    progress: bool = True,
    options: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> MCMCResult:
    """Sample the posterior of a problem with ``sampler``; the arguments are those of the
    seed's run functions (:func:`homodyne.optimization.mcmc_cpu_backend.run_cpu_mcmc_analysis`).

    ``backend`` and ``backend_name`` are the entry-point name and the reported name;
    ``options`` the backend's own arguments, passed to :meth:`Sampler.draw`;
    ``overrides`` replace keys of the configuration's ``mcmc`` section. The timing holds
    ``setup_s`` (everything before the first step: problem, start, posterior, the
    sampler's preparation), ``sampling_s`` and ``total_s``.
    """
    clock = timer()
    full, spec, settings, cfg = setup_run(
        analysis_core,
        config,
        c2_experimental,
        phi_angles,
        filter_angles_for_optimization,
        init,
        overrides or {},
    )
    draws, timing = draw_timed(sampler, spec, settings, clock, progress=progress, options=options)
    return build_result(
        spec=spec,
        full_problem=full,
        z=draws.z,
        stats=draws.stats,
        backend=backend,
        backend_name=backend_name,
        device=draws.device,
        settings=settings,
        timing=timing,
        library=draws.library,
        plots=bool(cfg.output["plots"]),
        extra=draws.extra,
    )


def run_function(sampler: Sampler, backend: str, backend_name: str) -> Callable[..., MCMCResult]:
    """A run function with the seed's signature for a :class:`Sampler` (what a third-party
    backend puts into its :class:`~homodyne.bayes.sampler.MCMCBackend` record)."""

    def run(
        analysis_core: Any = None,
        config: Any = None,
        c2_experimental: Any = None,
        phi_angles: Any = None,
        filter_angles_for_optimization: bool = True,
        init: Any = None,
        progress: bool = True,
        **overrides: Any,
    ) -> MCMCResult:
        return run_mcmc(
            sampler,
            backend=backend,
            backend_name=backend_name,
            analysis_core=analysis_core,
            config=config,
            c2_experimental=c2_experimental,
            phi_angles=phi_angles,
            filter_angles_for_optimization=filter_angles_for_optimization,
            init=init,
            progress=progress,
            overrides=overrides,
        )

    run.__name__ = f"run_{backend}_mcmc_analysis"
    return run
