"""The joint MCMC across q: sample the joint posterior of several q rings of one file.

:func:`run_joint_mcmc` takes the q rings' problems and the joint classical fit
(:func:`homodyne.joint.fit_joint`, the starting point), applies the configured data
reduction (``mcmc.frame_stride``, ``mcmc.max_lag``) to every ring, builds the joint
posterior (:func:`homodyne.bayes.joint.build_joint_spec`) and hands it to the selected
backend's :class:`~homodyne.bayes.sampler.Sampler`, PyMC or NumPyro, which evaluate each
ring's log-likelihood exactly as for a single q and sum them. The result
(:class:`~homodyne.bayes.joint_result.JointMCMCResult`) carries the summary, the
convergence diagnostics and the shared verdict.

:func:`posterior_check` is the q²-scaling check of the posterior: the per-q posterior D0
(a separate MCMC per q) against the joint posterior D0.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .bayes.joint import build_joint_spec
from .bayes.joint_result import JointMCMCResult, build_joint_result
from .bayes.run import draw_timed, timer
from .bayes.settings import resolve_settings
from .errors import AnalysisError, ConfigError
from .problem import Problem

__all__ = ["joint_sampler", "posterior_check", "run_joint_mcmc"]

log = logging.getLogger(__name__)


def joint_sampler(name: str | None = None) -> tuple[Any, Any]:
    """(backend record, its :class:`Sampler`) of the selected MCMC backend.

    A backend samples the joint posterior when its module exposes the ``SAMPLER`` whose
    model builder understands :class:`~homodyne.bayes.joint.JointPosteriorSpec` (the
    built-in PyMC and NumPyro backends)."""
    from .optimization.backends import load_backend, select_backend_name

    record = load_backend(select_backend_name(name=name))
    if not record.is_available():
        raise record.unavailable_error("(for the joint MCMC across q)")
    if record.name not in ("pymc", "numpyro"):
        raise ConfigError(
            f"the MCMC backend {record.name!r} cannot sample the joint posterior across q; "
            "use mcmc.backend 'pymc' or 'numpyro' (or HOMODYNE_MCMC_BACKEND)"
        )
    module = importlib.import_module(record.run.__module__)
    return record, module.SAMPLER


def run_joint_mcmc(
    problems: Sequence[Problem],
    config: Any,
    joint_fit: Any,
    *,
    backend: str | None = None,
    progress: bool = False,
    overrides: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> JointMCMCResult:
    """Sample the joint posterior of ``problems`` from the joint classical fit.

    ``backend`` names the backend (None: the configuration's ``mcmc.backend``, else the
    usual selection); ``overrides`` replace keys of the ``mcmc`` section; ``options`` are
    the backend's own arguments (``cores`` of PyMC)."""
    if len(problems) < 2:
        raise AnalysisError("a joint MCMC across q needs at least two q rings")
    clock = timer()
    settings = resolve_settings(config, dict(overrides or {}))
    name = backend or getattr(settings, "backend", None)
    name = None if name in (None, "", "auto") else str(name)
    record, sampler = joint_sampler(name)
    reduced = [p.reduced(settings.frame_stride, settings.max_lag) for p in problems]
    spec = build_joint_spec(reduced, joint_fit)
    log.info(
        "joint MCMC across q = %s (%s): %d sampled variables, %d c2 values",
        ", ".join(f"{q:g}" for q in spec.q),
        record.backend_name,
        spec.k,
        spec.n_data,
    )
    draws, timing = draw_timed(sampler, spec, settings, clock, progress=progress, options=options)
    return build_joint_result(
        spec=spec,
        draws=draws,
        backend=record.name,
        backend_name=record.backend_name,
        settings=settings,
        timing=timing,
    )


def posterior_check(
    joint: JointMCMCResult, separate: Sequence[Any], name: str = "D0"
) -> dict[str, Any]:
    """The q²-scaling check of the posterior: per-q posterior means and sd of ``name``
    (``separate``: one single-q MCMC result per ring) against the joint posterior."""
    from .joint import compare_values

    d = joint.draws(name).reshape(-1)
    rows = []
    for q, m in zip(joint.q, separate, strict=True):
        s = m.draws(name).reshape(-1)
        rows.append({"q": q, "value": float(s.mean()), "stderr": float(s.std(ddof=1))})
    out = compare_values(float(d.mean()), float(d.std(ddof=1)), rows, name)
    out["source"] = "posterior (MCMC): mean ± sd per q against the joint posterior"
    return out
