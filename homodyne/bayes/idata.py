"""ArviZ InferenceData with the same variables whatever the backend."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .posterior import PosteriorSpec

__all__ = ["SAMPLE_STATS", "build_idata"]

#: Sample statistics every backend reports, with ArviZ's names.
SAMPLE_STATS = (
    "diverging",
    "n_steps",
    "tree_depth",
    "reached_max_treedepth",
    "step_size",
    "acceptance_rate",
    "energy",
    "lp",
)


def build_idata(
    spec: PosteriorSpec,
    z: np.ndarray,
    stats: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
) -> Any:
    """ArviZ InferenceData with the same variables whatever the backend.

    ``z`` holds the sampled vectors, shape (chains, draws, k); ``stats`` the sample
    statistics of :data:`SAMPLE_STATS`, each (chains, draws).
    """
    from ..results.inference_data import from_groups

    pr = spec.problem
    theta = spec.space.to_theta(z)
    _ps, cs, os_, ns = spec.slices()
    posterior: dict[str, np.ndarray] = {}
    for j, name in enumerate(spec.free_names):
        posterior[name] = theta[..., j]
    posterior["contrast"] = theta[..., cs]
    posterior["offset"] = theta[..., os_]
    posterior["sigma_scale"] = theta[..., ns]
    per_angle = pr.scaling_mode == "per_angle"
    sdim = "angle" if per_angle else "scaling"
    coords = {
        "angle": np.arange(pr.n_angles),
        "pair": np.arange(pr.n_pairs),
        "frame": np.arange(pr.n_frames),
    }
    if not per_angle:
        coords["scaling"] = np.array([0])  # one contrast/offset shared by all angles
    dims = {
        "contrast": [sdim],
        "offset": [sdim],
        "c2_obs": ["angle", "pair"],
        "phi": ["angle"],
        "sigma": ["angle"],
        "t": ["frame"],
        "iu": ["pair"],
        "ju": ["pair"],
    }
    sample_stats = {k: np.asarray(stats[k]) for k in SAMPLE_STATS if k in stats}
    constant = {
        "phi": pr.phi,
        "sigma": pr.sigma,
        "t": pr.t,
        "iu": pr.iu.astype(np.int64),
        "ju": pr.ju.astype(np.int64),
    }
    fixed = {
        n: float(v)
        for n, v in zip(pr.parameters.names, spec.fixed_values, strict=True)
        if pr.parameters[n].fixed
    }
    all_attrs = {
        "homodyne_mode": pr.mode,
        "q": pr.q,
        "stator_rotor_gap": pr.gap,
        "fixed_parameters": json.dumps(fixed),
        "priors": json.dumps(spec.prior_table()),
        "reparameterisation": json.dumps(spec.space.describe()),
        "start": spec.start["source"],
        "scaling_mode": pr.scaling_mode,
        "noise_model": pr.noise_model,
        **{k: (v if isinstance(v, str | int | float) else json.dumps(v)) for k, v in attrs.items()},
    }
    groups = {"posterior": posterior, "sample_stats": sample_stats}
    groups |= {"observed_data": {"c2_obs": pr.data}, "constant_data": constant}
    return from_groups(groups, coords=coords, dims=dims, attrs=all_attrs)
