"""The problem to sample: the seed API's ``analysis_core`` and the data reduction report."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AnalysisError, DataError
from ..parameters import Parameters
from ..problem import Problem

__all__ = ["prepare_problem", "reduction_report"]


def prepare_problem(
    analysis_core: Any,
    config: Any,
    c2_experimental: Any = None,
    phi_angles: Any = None,
    filter_angles_for_optimization: bool = True,
) -> Problem:
    """The :class:`Problem` to sample (the seed API's ``analysis_core``).

    ``analysis_core`` is normally a :class:`Problem`. For compatibility with the seed API,
    ``c2_experimental`` (A, n, n) and ``phi_angles`` (A,) may be given instead or as well:
    the problem is then built from these arrays, with frame times, q, gap and parameters
    taken from ``analysis_core`` when it has them (a Problem, or any object with ``t``,
    ``q``, ``gap``, ``parameters`` attributes) and from the configuration otherwise
    (``data.dt``, ``data.frames``, ``data.q``, ``geometry.stator_rotor_gap``). With
    ``filter_angles_for_optimization`` the configuration's angle filter is applied to
    those arrays (a Problem made by :meth:`Problem.from_config` is already filtered).
    """
    if c2_experimental is None:
        if isinstance(analysis_core, Problem):
            if phi_angles is not None and not np.allclose(
                np.atleast_1d(phi_angles), analysis_core.phi
            ):
                raise DataError(
                    "phi_angles differ from the angles of the analysis_core Problem; pass c2_experimental too"
                )
            return analysis_core
        raise AnalysisError(
            "analysis_core must be a homodyne.problem.Problem (or pass c2_experimental and phi_angles "
            f"to build one); got {type(analysis_core).__name__}"
        )
    c2 = np.asarray(c2_experimental, dtype=float)
    if c2.ndim == 2:
        c2 = c2[None]
    core = analysis_core
    if phi_angles is None:
        if getattr(core, "phi", None) is None:
            raise DataError("c2_experimental was given without phi_angles")
        phi_angles = core.phi
    phi = np.atleast_1d(np.asarray(phi_angles, dtype=float))
    if c2.ndim != 3 or c2.shape[0] != phi.size:
        raise DataError(
            f"c2_experimental has shape {c2.shape}; expected ({phi.size}, n, n) for {phi.size} angles"
        )
    n = c2.shape[-1]
    t = getattr(core, "t", None)
    if t is None or np.asarray(t).size != n:
        dt = getattr(core, "dt", None) or config.data.get("dt")
        if dt is None:
            raise DataError(
                "frame times are unknown: give an analysis_core with t, or data.dt in the configuration"
            )
        frames = config.data.get("frames")
        start = frames[0] if frames else 1
        t = (start + np.arange(n)) * float(dt)
    q = getattr(core, "q", None) or config.data["q"]
    gap = getattr(core, "gap", None) or config.geometry["stator_rotor_gap"]
    params = getattr(core, "parameters", None)
    if not isinstance(params, Parameters):
        from ..data.auto_defaults import resolve_auto

        params, _ = resolve_auto(
            config.parameters, getattr(config, "auto", frozenset()), c2, t, float(q), float(gap)
        )
    if (
        filter_angles_for_optimization
        and config.angle_filter["enabled"]
        and params.mode != "static_isotropic"
    ):
        from ..data.angles import filter_angles

        keep = np.asarray(
            filter_angles(
                phi, config.angle_filter["ranges"], fallback=config.angle_filter["fallback"]
            )
        )
        phi, c2 = phi[keep], c2[keep]
    if params.mode == "static_isotropic" and phi.size > 1:
        c2 = c2.mean(axis=0, keepdims=True)
        phi = np.array([float(np.mean(phi))])
    noise, sc = config.noise, config.scaling
    base = core if isinstance(core, Problem) else None
    return Problem.from_arrays(
        c2,
        np.asarray(t, dtype=float),
        phi,
        float(q),
        params,
        gap=float(gap),
        noise_model=base.noise_model if base and base.noise_model != "fixed" else noise["model"],
        sigma=noise["sigma"] if not base or base.noise_model != "fixed" else base.sigma[0],
        scaling_mode=base.scaling_mode if base else sc["mode"],
        contrast_bounds=base.contrast_bounds if base else (sc["contrast_min"], sc["contrast_max"]),
        offset_bounds=base.offset_bounds if base else (sc["offset_min"], sc["offset_max"]),
    )


def reduction_report(full: Problem, used: Problem) -> dict[str, Any]:
    """What the data reduction kept: stride, maximum lag, frames, pairs and values."""
    return {
        "frame_stride": int(used.frame_stride // max(full.frame_stride, 1)),
        "max_lag": used.max_lag,
        "max_lag_unit": "frames after striding",
        "n_angles": used.n_angles,
        "n_frames_full": full.n_frames,
        "n_frames_used": used.n_frames,
        "n_pairs_full": full.n_pairs,
        "n_pairs_used": used.n_pairs,
        "n_values_full": full.n_data,
        "n_values_used": used.n_data,
        "fraction_used": used.n_data / max(full.n_data, 1),
        "noise_sigma_from": "all frames" if used is not full else "the data used",
    }
