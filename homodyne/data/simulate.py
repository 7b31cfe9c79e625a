"""Synthetic data from the model, in memory or as APS files, for tests and demos.

The physics is :func:`homodyne.model.c2_matrix` (exact integrals, sinc², frame f at
t = f·dt). Noise model: for each angle a, independent Gaussian values with standard
deviation ``noise_sigma[a]`` (absolute, in c2 units) are added to every element of the
upper triangle, diagonal included, and mirrored to the lower triangle, so the result is
exactly symmetric and each distinct matrix element carries one independent draw. The
noise-free diagonal is ``offset + contrast``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from homodyne.errors import ConfigError
from homodyne.model import MODES, c2_matrix

from .aps_old import ApsOldWriter
from .aps_u import ApsUWriter
from .dataset import Dataset

__all__ = [
    "DEFAULT_PHI",
    "REALISTIC_PARAMS",
    "TRUTH_ATTR",
    "default_params",
    "simulate_dataset",
    "write_simulated_file",
    "write_truth",
]

#: Default angles [deg] per mode. The laminar-flow set lies inside [-10, 10] and
#: [170, 190] and is not symmetric about φ0 = 0, so +φ0 and -φ0 are distinguishable.
DEFAULT_PHI: dict[str, tuple[float, ...]] = {
    "static_isotropic": (0.0,),
    "static_anisotropic": (-6.2, 2.8, 84.7, 93.1, 173.9, 182.4, 263.5, 276.0),
    "laminar_flow": (-8.5, -3.2, 1.9, 7.4, 171.6, 176.8, 182.1, 187.3),
}

#: Root attribute of a simulated HDF5 file holding the true parameter values (JSON text).
TRUTH_ATTR = "homodyne_truth"

#: A realistic APS 8-ID-I parameter point (Å²/s, 1/s, degrees).
REALISTIC_PARAMS: dict[str, float] = {
    "D0": 1324.1,
    "alpha": -0.014,
    "D_offset": -0.674,
    "gamma_dot_t0": 0.003,
    "beta": -0.909,
    "gamma_dot_t_offset": 0.0,
    "phi0": 0.0,
}


def default_params(mode: str) -> dict[str, float]:
    """:data:`REALISTIC_PARAMS` restricted to the parameters of ``mode``."""
    return {name: REALISTIC_PARAMS[name] for name in _mode_names(mode)}


def _mode_names(mode: str) -> tuple[str, ...]:
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; expected one of {sorted(MODES)}")
    return MODES[mode]


def _parameter_vector(mode: str, params: Mapping[str, float]) -> list[float]:
    names = _mode_names(mode)
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in names]
    if missing or extra:
        raise ConfigError(
            f"parameters for mode {mode!r} must be exactly {list(names)}; "
            f"missing {missing}, unexpected {extra}"
        )
    values = [float(params[n]) for n in names]
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"parameters must be finite, got {dict(params)}")
    return values


def _per_angle(value: float | Sequence[float], n_angles: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.full(n_angles, arr[0])
    if arr.shape != (n_angles,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be one finite value or one per angle ({n_angles})")
    return arr


def _model_stack(
    mode: str,
    theta: list[float],
    phi: np.ndarray,
    q: float,
    dt: float,
    frames: tuple[int, int],
    gap: float,
    contrast: np.ndarray,
    offset: np.ndarray,
    noise_sigma: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """c2 (A, n, n) from the model plus the symmetric noise described in the module doc."""
    t = np.arange(frames[0], frames[1] + 1) * dt
    c2 = c2_matrix(theta, t, phi, q, gap, contrast, offset, mode)
    if np.any(noise_sigma > 0):
        iu, ju = np.triu_indices(t.size)  # diagonal included
        for a in range(c2.shape[0]):
            noisy = c2[a][iu, ju] + rng.normal(0.0, noise_sigma[a], size=iu.size)
            c2[a][iu, ju] = noisy
            c2[a][ju, iu] = noisy
    return c2


def _check_common(
    q: float, dt: float, frames: tuple[int, int], gap: float, noise_sigma: np.ndarray
) -> tuple[int, int]:
    if not (np.isfinite(q) and q > 0 and np.isfinite(dt) and dt > 0):
        raise ConfigError(f"q and dt must be positive, got q = {q!r}, dt = {dt!r}")
    if not (np.isfinite(gap) and gap > 0):
        raise ConfigError(f"gap must be positive (Å), got {gap!r}")
    start, end = (int(f) for f in frames)
    if not 1 <= start < end:
        raise ConfigError(f"frames must satisfy 1 <= start < end (1-based), got {frames!r}")
    if np.any(noise_sigma < 0):
        raise ConfigError(f"noise_sigma must be >= 0, got {noise_sigma.tolist()}")
    return start, end


def simulate_dataset(
    mode: str,
    params: Mapping[str, float],
    *,
    phi: Sequence[float] | None = None,
    q: float = 0.0054,
    dt: float = 0.1,
    frames: tuple[int, int] = (1, 100),
    gap: float = 2e6,
    contrast: float | Sequence[float] = 0.2,
    offset: float | Sequence[float] = 1.0,
    noise_sigma: float | Sequence[float] = 0.0,
    seed: int | None = None,
) -> Dataset:
    """A synthetic :class:`Dataset` of the model with optional Gaussian noise.

    ``params`` maps each parameter name of ``mode`` (see :data:`homodyne.model.MODES`) to
    its value; ``phi`` defaults to :data:`DEFAULT_PHI` of the mode; ``contrast``,
    ``offset`` and ``noise_sigma`` take one value or one per angle. ``noise_sigma`` is the
    absolute standard deviation of the noise on each distinct matrix element; when
    positive it is recorded as the data set's ``sigma``.
    """
    theta = _parameter_vector(mode, params)
    phi_arr = np.asarray(DEFAULT_PHI[mode] if phi is None else phi, dtype=np.float64).reshape(-1)
    n_angles = phi_arr.size
    if n_angles == 0 or not np.all(np.isfinite(phi_arr)):
        raise ConfigError(f"phi must hold at least one finite angle, got {phi!r}")
    contrast_v = _per_angle(contrast, n_angles, "contrast")
    offset_v = _per_angle(offset, n_angles, "offset")
    sigma_v = _per_angle(noise_sigma, n_angles, "noise_sigma")
    window = _check_common(q, dt, frames, gap, sigma_v)
    rng = np.random.default_rng(seed)
    c2 = _model_stack(mode, theta, phi_arr, q, dt, window, gap, contrast_v, offset_v, sigma_v, rng)
    return Dataset(
        c2=c2,
        phi=phi_arr,
        q=q,
        dt=dt,
        frames=window,
        layout="synthetic",
        sigma=sigma_v if np.all(sigma_v > 0) else None,
        truth=dict(zip(_mode_names(mode), theta, strict=True)),
    )


def write_simulated_file(
    path: str | Path,
    *,
    layout: Literal["aps_u", "aps_old"] = "aps_u",
    q_values: Sequence[float] = (0.0044, 0.0054, 0.0064),
    mode: str = "laminar_flow",
    params: Mapping[str, float] | None = None,
    phi: Sequence[float] | None = None,
    dt: float = 0.1,
    n_frames: int = 100,
    gap: float = 2e6,
    contrast: float | Sequence[float] = 0.2,
    offset: float | Sequence[float] = 1.0,
    noise_sigma: float | Sequence[float] = 0.0,
    seed: int | None = None,
    write_frame_time: bool = True,
    dtype: Any = np.float64,
) -> Path:
    """Write a multi-q APS file (frames 1..n_frames) whose matrices follow the model.

    The physics is evaluated at each q of ``q_values`` with the same parameters, angles
    and scaling; noise is drawn independently for each q from one generator seeded with
    ``seed``. The frame time ``dt`` is stored unless ``write_frame_time`` is false.
    ``params`` defaults to :func:`default_params` of the mode. Returns the path.
    """
    if layout not in ("aps_u", "aps_old"):
        raise ConfigError(f"layout must be 'aps_u' or 'aps_old', got {layout!r}")
    q_list = [float(v) for v in q_values]
    if not q_list:
        raise ConfigError("q_values must list at least one q")
    theta = _parameter_vector(mode, default_params(mode) if params is None else params)
    phi_arr = np.asarray(DEFAULT_PHI[mode] if phi is None else phi, dtype=np.float64).reshape(-1)
    n_angles = phi_arr.size
    contrast_v = _per_angle(contrast, n_angles, "contrast")
    offset_v = _per_angle(offset, n_angles, "offset")
    sigma_v = _per_angle(noise_sigma, n_angles, "noise_sigma")
    window = (1, int(n_frames))
    for q in q_list:
        _check_common(q, dt, window, gap, sigma_v)
    rng = np.random.default_rng(seed)
    frame_time = dt if write_frame_time else None
    path = Path(path)

    def stacks() -> Any:
        for q in q_list:
            yield (
                q,
                _model_stack(
                    mode, theta, phi_arr, q, dt, window, gap, contrast_v, offset_v, sigma_v, rng
                ),
            )

    if layout == "aps_u":
        with ApsUWriter(path, q_list, phi_arr, frame_time=frame_time, dtype=dtype) as w:
            for iq, (_, c2) in enumerate(stacks()):
                for a in range(n_angles):
                    w.write_bin(iq, a, c2[a])
    else:
        with ApsOldWriter(path, frame_time=frame_time, dtype=dtype) as w_old:
            for q, c2 in stacks():
                for a in range(n_angles):
                    w_old.add_bin(q, phi_arr[a], c2[a])
    write_truth(path, dict(zip(_mode_names(mode), theta, strict=True)))
    return path


def write_truth(path: str | Path, truth: Mapping[str, float]) -> None:
    """Record the simulated parameter values in the file's root attribute
    :data:`TRUTH_ATTR` (JSON text), where the loader finds them."""
    import json

    import h5py

    with h5py.File(path, "a") as h5:
        h5.attrs[TRUTH_ATTR] = json.dumps({k: float(v) for k, v in truth.items()})
