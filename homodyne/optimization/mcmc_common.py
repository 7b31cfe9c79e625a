"""Deprecated import path: the Bayesian layer now lives in :mod:`homodyne.bayes`.

This module only re-exports the names that code written against the former single
module imports, so that such code keeps working while it moves to the new modules
(``homodyne.bayes.settings``, ``.priors``, ``.space``, ``.posterior``, ``.idata``,
``.diagnostics``, ``.result``, ``.plots``, ``.sampler``, ``.run``). It is to be deleted
once nothing imports it; new code must import from :mod:`homodyne.bayes`.
"""

from __future__ import annotations

from .._util.jsonable import jsonable as _jsonable
from ..bayes.diagnostics import HDI_PROB, verdict
from ..bayes.diagnostics import summary_table as _summary_table
from ..bayes.idata import SAMPLE_STATS, build_idata
from ..bayes.plots import plot_corner, plot_residuals, plot_trace, posterior_predictive_mean
from ..bayes.posterior import PosteriorSpec, build_posterior_spec, gaussian_log_likelihood
from ..bayes.prepare import prepare_problem, reduction_report
from ..bayes.priors import NOISE_PRIOR, PriorSpec, prior_for
from ..bayes.result import MCMCResult, build_result
from ..bayes.run import cpu_description, setup_run, timer
from ..bayes.sampler import MCMCBackend, module_available
from ..bayes.settings import MCMCSettings, resolve_config, resolve_settings, with_settings
from ..bayes.space import (
    LOG_SPACE_RATIO,
    POWER_LAW_EXPONENT_SPREAD,
    POWER_LAW_MARGIN,
    POWER_LAW_WALL_SD,
    PowerLawMap,
    SamplingSpace,
    _exponent_spread,
    _wall_distance_sd,
)
from ..bayes.start import initial_points

__all__ = [
    "HDI_PROB",
    "LOG_SPACE_RATIO",
    "NOISE_PRIOR",
    "POWER_LAW_EXPONENT_SPREAD",
    "POWER_LAW_MARGIN",
    "POWER_LAW_WALL_SD",
    "SAMPLE_STATS",
    "MCMCBackend",
    "MCMCResult",
    "MCMCSettings",
    "PosteriorSpec",
    "PowerLawMap",
    "PriorSpec",
    "SamplingSpace",
    "_exponent_spread",
    "_jsonable",
    "_summary_table",
    "_wall_distance_sd",
    "build_idata",
    "build_posterior_spec",
    "build_result",
    "cpu_description",
    "gaussian_log_likelihood",
    "initial_points",
    "module_available",
    "plot_corner",
    "plot_residuals",
    "plot_trace",
    "posterior_predictive_mean",
    "prepare_problem",
    "prior_for",
    "reduction_report",
    "resolve_config",
    "resolve_settings",
    "setup_run",
    "timer",
    "verdict",
    "with_settings",
]
