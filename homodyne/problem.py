"""The fitting problem: data + model + parameters + per-angle scaling + noise + pairs.

A :class:`Problem` is what every method consumes (classical fitting and both MCMC
backends; the seed API calls it ``analysis_core``). It holds the strict upper triangle
of the selected c2 stack as an (n_angles, n_pairs) array, the per-angle noise σ, the
parameter set of the mode and the scaling bounds, and evaluates the one forward model
of :mod:`homodyne.model`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnalysisError, DataError
from .model import c2_pairs, triangle_indices
from .parameters import Parameters

if TYPE_CHECKING:
    from .config import Config

__all__ = ["Problem", "estimate_noise", "isotropic_average"]

log = logging.getLogger(__name__)


def isotropic_average(c2: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Static isotropic mode: the mean over every angle of the (A, n, n) stack, as one angle.

    Every sector measures the same isotropic decay, so their mean is one data set with
    less noise; its angle is the mean angle (it does not enter the isotropic model).
    """
    c2 = np.asarray(c2, dtype=float)
    return c2.mean(axis=0, keepdims=True), np.array([float(np.mean(phi))])


def estimate_noise(c2_upper: np.ndarray, iu: np.ndarray, ju: np.ndarray, n: int) -> np.ndarray:
    """Per-angle noise σ from second differences along the diagonal direction.

    For every pair (i, j) whose neighbours (i+1, j+1) and (i+2, j+2) are also in the
    strict upper triangle, d = c2[i, j] - 2 c2[i+1, j+1] + c2[i+2, j+2] compares values at
    the same lag on three consecutive frames. The second difference cancels any linear
    drift of the model along that direction (aging, a time-dependent shear rate), so d is
    dominated by the noise: σ = 1.4826 · MAD(d) / √6 for independent noise (robust
    against outliers). Independent of any fit, so the reduced χ² is ≈ 1 at the right
    minimum and clearly above 1 at a wrong one.
    """
    index = np.full((n, n), -1, dtype=np.int64)
    index[iu, ju] = np.arange(iu.size)
    ok = ju + 2 < n
    a_idx = np.nonzero(ok)[0]
    b_idx = index[iu[ok] + 1, ju[ok] + 1]
    c_idx = index[iu[ok] + 2, ju[ok] + 2]
    keep = (b_idx >= 0) & (c_idx >= 0)
    a_idx, b_idx, c_idx = a_idx[keep], b_idx[keep], c_idx[keep]
    if a_idx.size < 10:
        raise DataError(
            "too few frames to estimate the noise from the data; use noise.model 'fixed' with a sigma"
        )
    sigma = np.empty(c2_upper.shape[0])
    for a in range(c2_upper.shape[0]):
        row = c2_upper[a]
        d = row[a_idx] - 2.0 * row[b_idx] + row[c_idx]
        mad = np.median(np.abs(d - np.median(d)))
        sigma[a] = 1.4826 * mad / np.sqrt(6.0)
    if np.any(~np.isfinite(sigma)) or np.any(sigma <= 0):
        bad = np.nonzero(~(sigma > 0))[0].tolist()
        raise DataError(
            f"the noise estimate is zero or undefined for angle index(es) {bad} (noise-free or "
            "constant data); use noise.model 'fixed' with a sigma"
        )
    return sigma


@dataclass
class Problem:
    """Everything a method needs to fit one dataset. Arrays are NumPy, float64."""

    mode: str
    parameters: Parameters
    t: np.ndarray  # (n,) frame times [s]
    phi: np.ndarray  # (A,) angles [deg]
    q: float
    gap: float
    iu: np.ndarray  # (m,) pair rows
    ju: np.ndarray  # (m,) pair columns, iu < ju
    data: np.ndarray  # (A, m) measured c2 on the pairs
    sigma: np.ndarray  # (A,) noise per angle
    noise_model: str = "estimate"
    scaling_mode: str = "per_angle"
    contrast_bounds: tuple[float, float] = (1e-4, 1.0)
    offset_bounds: tuple[float, float] = (0.5, 1.5)
    frame_stride: int = 1
    max_lag: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    #: the parameter values the data were simulated with (name -> value), or None
    truth: dict[str, float] | None = None
    #: {"used", "available", "excluded": [{"phi", "reason"}]} (see homodyne.data.angle_selection)
    angle_selection: dict[str, Any] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        c2: np.ndarray,
        t: np.ndarray,
        phi: np.ndarray,
        q: float,
        parameters: Parameters,
        *,
        gap: float = 2.0e6,
        noise_model: str = "estimate",
        sigma: float | np.ndarray | None = None,
        scaling_mode: str = "per_angle",
        contrast_bounds: tuple[float, float] = (1e-4, 1.0),
        offset_bounds: tuple[float, float] = (0.5, 1.5),
        frame_stride: int = 1,
        max_lag: int | None = None,
        provenance: dict[str, Any] | None = None,
        nonfinite: str = "mask",
    ) -> Problem:
        """Build a problem from a full (A, n, n) stack (or (n, n) for one angle).

        Non-finite values on the diagonal are never used (the fit uses i < j). Off the
        diagonal, ``nonfinite="mask"`` leaves out every pair (i, j) that is non-finite at
        any angle (the count is logged and kept in ``provenance["masked"]``);
        ``"error"`` refuses such data."""
        c2 = np.asarray(c2, dtype=float)
        if c2.ndim == 2:
            c2 = c2[None]
        t = np.asarray(t, dtype=float).reshape(-1)
        phi = np.atleast_1d(np.asarray(phi, dtype=float))
        if c2.ndim != 3 or c2.shape[1] != c2.shape[2]:
            raise DataError(f"c2 must have shape (n_angles, n, n); got {c2.shape}")
        if c2.shape[0] != phi.shape[0]:
            raise DataError(f"c2 holds {c2.shape[0]} angles but {phi.shape[0]} angles were given")
        if c2.shape[1] != t.shape[0]:
            raise DataError(
                f"c2 matrices are {c2.shape[1]} x {c2.shape[2]} but {t.shape[0]} frame times were given"
            )
        if np.any(t <= 0) or np.any(np.diff(t) <= 0):
            raise DataError(
                "frame times must be positive and increasing (frame f is at t = f * dt, f >= 1)"
            )
        if frame_stride > 1:
            c2 = c2[:, ::frame_stride, ::frame_stride]
            t = t[::frame_stride]
        n = t.shape[0]
        if n < 3:
            raise DataError(f"at least 3 frames are needed to fit, got {n}")
        iu, ju = triangle_indices(n, max_lag)
        data = np.ascontiguousarray(c2[:, iu, ju])
        bad = ~np.isfinite(data)
        prov = dict(provenance or {})
        if bad.any():
            per = bad.sum(axis=1)
            where = ", ".join(f"angle {phi[a]:g}°: {per[a]}" for a in np.nonzero(per)[0][:5])
            if nonfinite != "mask":
                raise DataError(
                    f"c2 contains {int(bad.sum())} NaN/inf values off the diagonal ({where}); "
                    "set data.nonfinite to 'mask' to leave those pairs out"
                )
            keep = ~bad.any(axis=0)
            if keep.sum() < 3:
                raise DataError(
                    f"c2 contains {int(bad.sum())} NaN/inf values off the diagonal ({where}); "
                    "too few finite pairs remain to fit"
                )
            prov["masked"] = {
                "nonfinite_values": int(bad.sum()),
                "pairs_left_out": int((~keep).sum()),
                "per_angle": {f"{phi[a]:g}": int(per[a]) for a in np.nonzero(per)[0]},
            }
            log.warning(
                "c2 holds %d NaN/inf values off the diagonal (%s); the %d pairs (i, j) concerned "
                "are left out at every angle (data.nonfinite 'mask')",
                int(bad.sum()),
                where,
                int((~keep).sum()),
            )
            iu, ju, data = iu[keep], ju[keep], np.ascontiguousarray(data[:, keep])
        sig = cls._noise(noise_model, sigma, data, iu, ju, n)
        return cls(
            mode=parameters.mode,
            parameters=parameters,
            t=t,
            phi=phi,
            q=float(q),
            gap=float(gap),
            iu=iu,
            ju=ju,
            data=data,
            sigma=sig,
            noise_model=noise_model,
            scaling_mode=scaling_mode,
            contrast_bounds=contrast_bounds,
            offset_bounds=offset_bounds,
            frame_stride=frame_stride,
            max_lag=max_lag,
            provenance=prov,
        )

    @staticmethod
    def _noise(
        model: str, sigma: Any, data: np.ndarray, iu: np.ndarray, ju: np.ndarray, n: int
    ) -> np.ndarray:
        A = data.shape[0]
        if model == "fixed":
            if sigma is None:
                raise AnalysisError("noise model 'fixed' needs a sigma")
            s = np.broadcast_to(np.asarray(sigma, dtype=float), (A,)).copy()
            if np.any(~(s > 0)):
                raise AnalysisError(f"noise sigma must be > 0, got {sigma!r}")
            return s
        if model == "unit":
            return np.ones(A)
        if model == "estimate":
            return estimate_noise(data, iu, ju, n)
        raise AnalysisError(
            f"unknown noise model {model!r}; expected 'estimate', 'fixed' or 'unit'"
        )

    @classmethod
    def from_config(
        cls, config: Config, dataset: Any, *, frame_stride: int = 1, max_lag: int | None = None
    ) -> Problem:
        """A problem from a validated configuration and a loaded dataset.

        Every angle of the data set is used unless the angle filter is enabled; the
        choice is recorded in :attr:`angle_selection`. A laminar-flow fit whose angles
        cannot separate phi0 from the shear amplitude is refused (or phi0 fixed, see
        :mod:`homodyne.data.angle_selection`)."""
        from .data import angle_selection as sel

        phi = np.asarray(dataset.phi, dtype=float)
        c2 = dataset.c2
        af = config.angle_filter
        keep, record = sel.select(phi, af, config.mode)
        parameters = sel.check_flow_angles(
            phi[keep], config.parameters, af.get("phi0_when_undetermined", "error"), record
        )
        log.info("%s", sel.selection_line(record))
        if keep.size < phi.size:
            phi, c2 = phi[keep], c2[keep]
        from .data.auto_defaults import resolve_auto

        parameters, from_data = resolve_auto(
            parameters,
            getattr(config, "auto", frozenset()),
            c2,
            dataset.t,
            dataset.q,
            config.geometry["stator_rotor_gap"],
            str(config.path or "<config>"),
        )
        if config.mode == "static_isotropic" and phi.size > 1:
            log.info("static isotropic mode: averaging %d angles into one", phi.size)
            c2, phi = isotropic_average(c2, phi)
        noise = config.noise
        sc = config.scaling
        prov = {
            "source": str(getattr(dataset, "source", None)),
            "source_sha256": getattr(dataset, "source_sha256", None),
            "layout": getattr(dataset, "layout", None),
            "frames": list(getattr(dataset, "frames", ()) or ()),
            "dt": getattr(dataset, "dt", None),
            "defaults_from_data": from_data,
        }
        problem = cls.from_arrays(
            c2,
            dataset.t,
            phi,
            dataset.q,
            parameters,
            gap=config.geometry["stator_rotor_gap"],
            noise_model=noise["model"],
            sigma=noise["sigma"],
            scaling_mode=sc["mode"],
            contrast_bounds=(sc["contrast_min"], sc["contrast_max"]),
            offset_bounds=(sc["offset_min"], sc["offset_max"]),
            frame_stride=frame_stride,
            max_lag=max_lag,
            provenance=prov,
            nonfinite=config.data.get("nonfinite", "mask"),
        )
        truth = getattr(dataset, "truth", None)
        problem.truth = dict(truth) if truth else None
        problem.angle_selection = record
        return problem

    # ------------------------------------------------------------------ views
    @property
    def n_angles(self) -> int:
        return int(self.phi.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.t.shape[0])

    @property
    def n_pairs(self) -> int:
        return int(self.iu.shape[0])

    @property
    def n_data(self) -> int:
        return int(self.data.size)

    @property
    def n_scaling(self) -> int:
        """Number of contrast (= offset) values: one per angle, or one shared."""
        return self.n_angles if self.scaling_mode == "per_angle" else 1

    def scaling_index(self) -> np.ndarray:
        """For each angle, the index of its contrast/offset."""
        if self.scaling_mode == "per_angle":
            return np.arange(self.n_angles)
        return np.zeros(self.n_angles, dtype=int)

    def with_parameters(self, parameters: Parameters) -> Problem:
        return replace(self, parameters=parameters)

    def reduced(self, frame_stride: int = 1, max_lag: int | None = None) -> Problem:
        """The same problem on every ``frame_stride``-th frame and lags up to ``max_lag``.

        Noise σ is kept from the full data (estimated on all frames).
        """
        if frame_stride == 1 and max_lag is None:
            return self
        n_full = self.n_frames
        keep_frames = np.arange(0, n_full, frame_stride)
        pos = np.full(n_full, -1)
        pos[keep_frames] = np.arange(keep_frames.size)
        pi, pj = pos[self.iu], pos[self.ju]
        sel = (pi >= 0) & (pj >= 0)
        if max_lag is not None:
            sel &= (pj - pi) <= max_lag
        idx = np.nonzero(sel)[0]
        if idx.size < 3:
            raise AnalysisError(
                f"data reduction (stride {frame_stride}, max_lag {max_lag}) leaves {idx.size} pairs"
            )
        return replace(
            self,
            t=self.t[keep_frames],
            iu=pi[idx].astype(np.intp),
            ju=pj[idx].astype(np.intp),
            data=np.ascontiguousarray(self.data[:, idx]),
            frame_stride=self.frame_stride * frame_stride,
            max_lag=max_lag,
        )

    # ------------------------------------------------------------------ model
    def c2(self, values: np.ndarray, contrast: np.ndarray, offset: np.ndarray, xp: Any = np) -> Any:
        """Model c2 on the pairs, (A, m), for a full parameter vector in mode order."""
        idx = self.scaling_index()
        return c2_pairs(
            values,
            self.t,
            self.phi,
            self.q,
            self.gap,
            self.iu,
            self.ju,
            np.asarray(contrast)[idx] if xp is np else contrast[idx],
            np.asarray(offset)[idx] if xp is np else offset[idx],
            self.mode,
            xp,
        )

    def full_matrix(self, upper: np.ndarray, diagonal: np.ndarray | float = np.nan) -> np.ndarray:
        """Expand pair values (A, m) into symmetric (A, n, n) matrices (missing pairs NaN)."""
        A, n = upper.shape[0], self.n_frames
        out = np.full((A, n, n), np.nan)
        out[:, self.iu, self.ju] = upper
        out[:, self.ju, self.iu] = upper
        d = np.broadcast_to(np.asarray(diagonal, dtype=float), (A,))
        for a in range(A):
            np.fill_diagonal(out[a], d[a])
        return out
