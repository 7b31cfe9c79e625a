"""The in-memory data set every analysis consumes: a stack of two-time correlation matrices
at one wavevector, with the angles, the frame window and where the numbers came from.

Conventions (see ``docs/data_formats.rst``):

* ``c2[a]`` is the full, symmetric n x n matrix of angle ``phi[a]`` (degrees).
* Frames are 1-based and inclusive: ``frames = (start, end)`` with stride ``frame_step``
  holds frames ``start, start + step, ..., end`` and frame f is at time ``t = f * dt``,
  so selecting a window never moves the time origin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from homodyne.errors import DataError

__all__ = ["LAYOUTS", "Dataset", "Layout"]

Layout = Literal["aps_u", "aps_old", "numpy", "synthetic"]
#: Where a data set came from: one of the two APS HDF5 layouts, a NumPy file or the simulator.
LAYOUTS: tuple[str, ...] = ("aps_u", "aps_old", "numpy", "synthetic")

#: Largest |c2 - c2ᵀ| accepted, relative to max(1, max|c2|): the stored matrices are
#: symmetric by construction, so anything larger is a bug in whoever built the array.
_SYMMETRY_RTOL = 1e-9


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` (no copy; the caller's array stays writable)."""
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Dataset:
    """A selected, frame-windowed stack of c2 matrices at one q.

    Attributes
    ----------
    c2:
        float64 array (A, n, n) of full symmetric matrices, one per angle.
    phi:
        float64 array (A,) of azimuthal angles in degrees, as stored in the source.
    q:
        wavevector magnitude in 1/Å.
    dt:
        time per frame in seconds.
    frames:
        ``(start, end)`` 1-based inclusive frame numbers of the first and last matrix row.
    frame_step:
        stride between consecutive rows (1 unless the set was decimated).
    layout:
        ``"aps_u"``, ``"aps_old"`` or ``"synthetic"``.
    source:
        the HDF5 file the data were read from (``None`` for in-memory data).
    source_sha256:
        hex SHA-256 of that file's bytes, when known.
    sigma:
        optional per-angle absolute noise level of c2 (A,), ``None`` when not known.
    truth:
        the parameter values the data were simulated with (name -> value), when the
        source records them (:func:`~homodyne.data.simulate_dataset`, or the
        ``homodyne_truth`` attribute of a simulated file); ``None`` for measured data.
    nonfinite:
        ``"mask"`` (default): NaN/inf values are accepted (on the diagonal they are never
        used; off it the fit leaves those pairs out) and counted in :attr:`n_nonfinite`;
        ``"error"``: any NaN/inf off the diagonal is refused. The diagonal is never checked.

    The arrays are exposed as read-only views; derived data sets (:meth:`select_angles`,
    :meth:`select_frames`, :meth:`decimate`) are new objects, validated again.
    """

    c2: np.ndarray
    phi: np.ndarray
    q: float
    dt: float
    frames: tuple[int, int]
    frame_step: int = 1
    layout: Layout = "synthetic"
    source: Path | None = None
    source_sha256: str | None = None
    sigma: np.ndarray | None = field(default=None)
    truth: dict[str, float] | None = None
    nonfinite: Literal["mask", "error"] = "mask"

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        where = self._where()
        if self.layout not in LAYOUTS:
            raise DataError(f"{where}: unknown layout {self.layout!r}; expected one of {LAYOUTS}")
        source = None if self.source is None else Path(self.source)
        object.__setattr__(self, "source", source)

        step = self._as_int(self.frame_step, "frame_step")
        if step < 1:
            raise DataError(f"{where}: frame_step must be >= 1, got {step}")
        object.__setattr__(self, "frame_step", step)
        try:
            start, end = self.frames
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{where}: frames must be a (start, end) pair, got {self.frames!r}"
            ) from exc
        start, end = self._as_int(start, "frames"), self._as_int(end, "frames")
        if start < 1 or end < start:
            raise DataError(
                f"{where}: frames {(start, end)} must satisfy 1 <= start <= end (1-based, inclusive)"
            )
        if (end - start) % step:
            raise DataError(
                f"{where}: frames {(start, end)} with frame_step {step}: end - start must be a "
                f"multiple of the step"
            )
        object.__setattr__(self, "frames", (start, end))

        q, dt = float(self.q), float(self.dt)
        if not (np.isfinite(q) and q > 0):
            raise DataError(f"{where}: q must be a positive finite number (1/Å), got {self.q!r}")
        if not (np.isfinite(dt) and dt > 0):
            raise DataError(f"{where}: dt must be a positive finite number (s), got {self.dt!r}")
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "dt", dt)

        c2 = np.asarray(self.c2)
        if c2.dtype != np.float64:
            if not np.issubdtype(c2.dtype, np.number) or np.iscomplexobj(c2):
                raise DataError(f"{where}: c2 must hold real numbers, got dtype {c2.dtype}")
            c2 = c2.astype(np.float64)
        if c2.ndim != 3 or c2.shape[1] != c2.shape[2]:
            raise DataError(f"{where}: c2 must have shape (n_angles, n, n), got {c2.shape}")
        n_angles, n = c2.shape[0], c2.shape[1]
        if n_angles < 1:
            raise DataError(f"{where}: c2 holds no angle")
        expected_n = (end - start) // step + 1
        if n != expected_n:
            raise DataError(
                f"{where}: c2 has {n} frames per side but frames {(start, end)} with step "
                f"{step} give {expected_n}"
            )
        if n < 2:
            raise DataError(f"{where}: at least 2 frames are needed (no pair i < j with n = {n})")

        phi = np.asarray(self.phi, dtype=np.float64).reshape(-1)
        if phi.shape != (n_angles,):
            raise DataError(f"{where}: phi has {phi.size} values but c2 holds {n_angles} angles")
        if not np.all(np.isfinite(phi)):
            raise DataError(f"{where}: phi holds non-finite values {phi.tolist()}")

        if self.nonfinite not in ("mask", "error"):
            raise DataError(f"{where}: nonfinite must be 'mask' or 'error', got {self.nonfinite!r}")
        counts = self._check_matrices(c2, phi, where, strict=self.nonfinite == "error")
        object.__setattr__(self, "_nonfinite_counts", counts)
        object.__setattr__(self, "truth", self._checked_truth(self.truth, where))

        sigma = self.sigma
        if sigma is not None:
            sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
            if sigma.size == 1:
                sigma = np.full(n_angles, sigma[0])
            if sigma.shape != (n_angles,):
                raise DataError(
                    f"{where}: sigma must be one value per angle ({n_angles}), got {sigma.size}"
                )
            if not np.all(np.isfinite(sigma) & (sigma > 0)):
                raise DataError(f"{where}: sigma must be positive and finite, got {sigma.tolist()}")
            sigma = _readonly(sigma)
        object.__setattr__(self, "c2", _readonly(c2))
        object.__setattr__(self, "phi", _readonly(phi))
        object.__setattr__(self, "sigma", sigma)

    def _where(self) -> str:
        return f"data set from {self.source}" if self.source is not None else "in-memory data set"

    @staticmethod
    def _as_int(value: Any, name: str) -> int:
        try:
            ok = not isinstance(value, bool) and int(value) == value
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise DataError(f"{name} must be integers, got {value!r}")
        return int(value)

    @staticmethod
    def _checked_truth(truth: Any, where: str) -> dict[str, float] | None:
        if truth is None:
            return None
        if not isinstance(truth, dict) or not all(isinstance(k, str) for k in truth):
            raise DataError(f"{where}: truth must map parameter names to numbers, got {truth!r}")
        out: dict[str, float] = {}
        for k, v in truth.items():
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"{where}: truth[{k!r}] must be a number, got {v!r}") from None
        return out

    @staticmethod
    def _check_matrices(
        c2: np.ndarray, phi: np.ndarray, where: str, *, strict: bool = True
    ) -> np.ndarray:
        """Symmetry and NaN/inf off the diagonal, one angle at a time (small temporaries).

        Returns the number of non-finite values off the diagonal per angle (each pair
        counted once); with ``strict`` any such value is an error."""
        n = c2.shape[1]
        counts = np.zeros(c2.shape[0], dtype=np.int64)
        any_bad = np.zeros(c2.shape[0], dtype=bool)
        for a in range(c2.shape[0]):
            finite = np.isfinite(c2[a])
            n_bad = n * n - int(np.count_nonzero(finite))
            if n_bad:
                any_bad[a] = True
                n_diag = n - int(np.count_nonzero(np.diagonal(finite)))
                counts[a] = (n_bad - n_diag + 1) // 2
        bad = [
            f"angle {a} (phi = {phi[a]:g} deg): {counts[a]} NaN/inf" for a in np.flatnonzero(counts)
        ]
        if bad and strict:
            shown = "; ".join(bad[:5]) + ("; ..." if len(bad) > 5 else "")
            raise DataError(
                f"{where}: c2 holds non-finite values off the diagonal at {len(bad)} angle(s): "
                f"{shown} (nonfinite='mask' leaves those pairs out instead)"
            )
        for a in range(c2.shape[0]):
            m = c2[a]
            if any_bad[a]:
                fin = np.isfinite(m)
                if not np.array_equal(fin, fin.T):
                    raise DataError(
                        f"{where}: c2 of angle {a} (phi = {phi[a]:g} deg) is not symmetric "
                        f"(its NaN/inf values are not mirrored); expected full matrices "
                        f"c2[i, j] == c2[j, i]"
                    )
                m = np.where(fin, m, 0.0)
            scale = max(1.0, float(np.max(np.abs(m))))
            if float(np.max(np.abs(m - m.T))) > _SYMMETRY_RTOL * scale:
                raise DataError(
                    f"{where}: c2 of angle {a} (phi = {phi[a]:g} deg) is not symmetric; "
                    f"expected full matrices c2[i, j] == c2[j, i]"
                )
        return counts

    # ------------------------------------------------------------------ properties
    @property
    def n_angles(self) -> int:
        """Number of angles A."""
        return int(self.c2.shape[0])

    @property
    def n_nonfinite(self) -> np.ndarray:
        """NaN/inf values off the diagonal per angle (each pair (i, j), i < j, once)."""
        return np.asarray(object.__getattribute__(self, "_nonfinite_counts")).copy()

    @property
    def n_frames(self) -> int:
        """Number of frames n (side of each matrix)."""
        return int(self.c2.shape[1])

    @property
    def frame_numbers(self) -> np.ndarray:
        """The 1-based frame number of each matrix row, shape (n,)."""
        start, end = self.frames
        return np.arange(start, end + 1, self.frame_step)

    @property
    def t(self) -> np.ndarray:
        """Frame times in seconds, ``frame_numbers * dt`` (frame f is at t = f * dt)."""
        return self.frame_numbers * self.dt

    # ------------------------------------------------------------------ derived sets
    def select_angles(self, selection: Sequence[int] | Sequence[bool] | np.ndarray) -> Dataset:
        """A new data set holding only the chosen angles (boolean mask of length A or indices).

        Indices keep the order given; a mask keeps the stored order. The c2 values are copied.
        """
        sel = np.asarray(selection)
        if sel.dtype == bool:
            if sel.shape != (self.n_angles,):
                raise DataError(
                    f"{self._where()}: angle mask has shape {sel.shape}, expected ({self.n_angles},)"
                )
            idx = np.flatnonzero(sel)
        else:
            if sel.size and not np.issubdtype(sel.dtype, np.integer):
                raise DataError(
                    f"{self._where()}: angle selection must be a boolean mask or integer "
                    f"indices, got dtype {sel.dtype}"
                )
            idx = sel.astype(np.intp).reshape(-1)
            if np.any((idx < -self.n_angles) | (idx >= self.n_angles)):
                raise DataError(
                    f"{self._where()}: angle indices {idx.tolist()} out of range for "
                    f"{self.n_angles} angles"
                )
        if idx.size == 0:
            raise DataError(f"{self._where()}: the angle selection is empty")
        return dataclasses.replace(
            self,
            c2=self.c2[idx],
            phi=self.phi[idx],
            sigma=None if self.sigma is None else self.sigma[idx],
        )

    def select_frames(self, frames: tuple[int, int]) -> Dataset:
        """A sub-window ``(start, end)`` of absolute, 1-based inclusive frame numbers.

        Both ends must be frames this set holds. Returns views of c2 (no copy).
        """
        start, end = (int(f) for f in frames)
        numbers = self.frame_numbers
        if start > end or start not in numbers or end not in numbers:
            raise DataError(
                f"{self._where()}: frames {(start, end)} are not a window of the frames held "
                f"({self.frames[0]}..{self.frames[1]} step {self.frame_step})"
            )
        i = int(np.searchsorted(numbers, start))
        j = int(np.searchsorted(numbers, end)) + 1
        return dataclasses.replace(self, c2=self.c2[:, i:j, i:j], frames=(start, end))

    def decimate(self, step: int) -> Dataset:
        """Keep every ``step``-th frame (rows and columns), starting at the first frame.

        The kept matrix elements are the measured ones at the kept frame times (a view, no
        averaging), so the model evaluated at :attr:`t` still describes them exactly.
        """
        step = int(step)
        if step < 1:
            raise DataError(f"{self._where()}: decimation step must be >= 1, got {step}")
        c2 = self.c2[:, ::step, ::step]
        n = c2.shape[1]
        start = self.frames[0]
        new_step = self.frame_step * step
        return dataclasses.replace(
            self, c2=c2, frames=(start, start + (n - 1) * new_step), frame_step=new_step
        )

    def __repr__(self) -> str:
        src = self.source.name if self.source is not None else None
        return (
            f"Dataset(layout={self.layout!r}, source={src!r}, q={self.q:g}, dt={self.dt:g}, "
            f"frames={self.frames}, frame_step={self.frame_step}, n_angles={self.n_angles}, "
            f"n_frames={self.n_frames}, phi={np.round(self.phi, 3).tolist()})"
        )
