"""Generic two-time input: c2 matrices in a NumPy ``.npy`` or ``.npz`` file.

For data that are not in an APS HDF5 layout (for example written by another facility's
pipeline). The file holds one full symmetric n x n matrix or a stack (A, n, n), one per
angle; row and column k are frame ``first_frame + k`` (1-based, default 1), at time
t = frame · dt.

* ``.npy``: just the array. q, the angles and dt come from the configuration
  (``data.q``, ``data.phi``, ``data.dt``); a single matrix without ``data.phi`` is
  given the angle 0.
* ``.npz``: the array under ``c2`` and, optionally, ``phi`` (A angles, degrees), ``q``
  (1/Å), ``dt`` (s) and ``first_frame``. Values in the file win over the configuration;
  a configured q further than ``q_rel_tolerance`` from the file's is an error, a
  configured dt that differs is overridden with a warning, and a configured ``data.phi``
  selects angles from the file's (each within ``phi_tolerance``).

The result goes through the same :class:`~homodyne.data.Dataset` validation as HDF5
input (square, symmetric, frame window); NaN/inf on the diagonal are ignored and off it
are masked and counted, or refused with ``nonfinite="error"``.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from homodyne.errors import DataError

from .dataset import Dataset

__all__ = ["NUMPY_SUFFIXES", "load_numpy"]

logger = logging.getLogger(__name__)

#: File name endings read by :func:`load_numpy`.
NUMPY_SUFFIXES = (".npy", ".npz")
_KEYS = ("c2", "phi", "q", "dt", "first_frame")


def _scalar(npz: Any, key: str, path: Path) -> float | None:
    if key not in npz.files:
        return None
    v = np.asarray(npz[key])
    if v.size != 1 or not np.issubdtype(v.dtype, np.number):
        raise DataError(f"{path}: '{key}' must be one number, got shape {v.shape} {v.dtype}")
    out = float(v.reshape(()))
    if not (np.isfinite(out) and out > 0):
        raise DataError(f"{path}: '{key}' must be positive and finite, got {out!r}")
    return out


def _read(path: Path) -> tuple[Any, dict[str, Any]]:
    """The c2 array (possibly memory-mapped) and the metadata found in the file."""
    try:
        if path.suffix == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False), {}
        with np.load(path, allow_pickle=False) as npz:
            if "c2" not in npz.files:
                raise DataError(
                    f"{path}: no array 'c2' (found {sorted(npz.files)}); store the matrices as "
                    f"np.savez(file, c2=..., phi=..., q=..., dt=...)"
                )
            unknown = sorted(set(npz.files) - set(_KEYS))
            if unknown:
                logger.info("%s: ignoring arrays %s", path.name, unknown)
            meta: dict[str, Any] = {"q": _scalar(npz, "q", path), "dt": _scalar(npz, "dt", path)}
            ff = _scalar(npz, "first_frame", path)
            if ff is not None and ff != int(ff):
                raise DataError(f"{path}: 'first_frame' must be an integer >= 1, got {ff!r}")
            meta["first_frame"] = 1 if ff is None else int(ff)
            meta["phi"] = (
                np.asarray(npz["phi"], dtype=np.float64).reshape(-1) if "phi" in npz.files else None
            )
            return np.asarray(npz["c2"]), meta
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable NumPy {path.suffix} file ({exc})") from exc


def _pick_angles(stored: np.ndarray, wanted: Sequence[float], tol: float, path: Path) -> list[int]:
    rows: list[int] = []
    for w in wanted:
        d = np.abs(np.mod(stored - float(w) + 180.0, 360.0) - 180.0)
        best = int(np.argmin(d))
        if d[best] > tol:
            raise DataError(
                f"{path}: no angle within {tol:g} deg of phi = {float(w):g} deg; angles in the "
                f"file: {[round(float(v), 6) for v in stored]}"
            )
        if best in rows:
            raise DataError(f"{path}: the requested angles {list(wanted)} match one angle twice")
        rows.append(best)
    return rows


def load_numpy(
    path: str | Path,
    *,
    q: float | None,
    q_rel_tolerance: float = 0.05,
    phi: Sequence[float] | None = None,
    phi_tolerance: float = 0.5,
    frames: tuple[int, int] | None = None,
    dt: float | None = None,
    nonfinite: Literal["mask", "error"] = "mask",
) -> Dataset:
    """Read c2 matrices from a ``.npy``/``.npz`` file as a :class:`Dataset` (see module)."""
    source = Path(path).expanduser().absolute()
    if not source.is_file():
        raise DataError(f"{source}: data file not found")
    if source.suffix not in NUMPY_SUFFIXES:
        raise DataError(f"{source}: expected a .npy or .npz file")
    arr, meta = _read(source)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise DataError(
            f"{source}: c2 must be one n x n matrix or a stack (n_angles, n, n), got shape "
            f"{arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{source}: c2 must hold real numbers, got dtype {arr.dtype}")
    A, n = arr.shape[0], arr.shape[1]

    file_phi = meta.get("phi")
    if file_phi is not None:
        if file_phi.size != A:
            raise DataError(f"{source}: 'phi' holds {file_phi.size} angles but c2 holds {A}")
        rows = list(range(A)) if phi is None else _pick_angles(file_phi, phi, phi_tolerance, source)
        angles = file_phi[rows]
    elif phi is not None:
        if len(phi) != A:
            raise DataError(
                f"{source}: data.phi lists {len(phi)} angles but the file holds {A} matrices "
                f"and no 'phi' (give one angle per matrix, in file order)"
            )
        rows, angles = list(range(A)), np.asarray(phi, dtype=np.float64)
    elif A == 1:
        rows, angles = [0], np.zeros(1)
    else:
        raise DataError(
            f"{source}: {A} matrices but no angles: store 'phi' in the .npz file or set data.phi "
            f"(one angle per matrix, degrees)"
        )

    q_file = meta.get("q")
    if q_file is None:
        if q is None:
            raise DataError(f"{source}: no q in the file; set data.q (1/Å)")
        q_used = float(q)
    else:
        if q is not None and abs(q_file - q) / q > q_rel_tolerance:
            raise DataError(
                f"{source}: the file holds q = {q_file:g} 1/Å, not within {q_rel_tolerance:g} "
                f"(relative) of data.q = {q:g}; set data.q to the file's q"
            )
        q_used = q_file
    dt_file = meta.get("dt")
    if dt_file is None:
        if dt is None:
            raise DataError(
                f"{source}: no frame time: store 'dt' in the .npz file or set data.dt (s)"
            )
        dt_used = float(dt)
    else:
        if dt is not None and not np.isclose(dt, dt_file, rtol=1e-9, atol=0.0):
            logger.warning(
                "%s: frame time %g s from the file overrides data.dt = %g s", source, dt_file, dt
            )
        dt_used = dt_file

    first = int(meta.get("first_frame", 1))
    last = first + n - 1
    start, end = (first, last) if frames is None else (int(frames[0]), int(frames[1]))
    if not first <= start < end <= last:
        raise DataError(
            f"{source}: frames ({start}, {end}) out of range; the file holds frames "
            f"{first}..{last} (1-based, inclusive, start < end)"
        )
    i, j = start - first, end - first + 1
    c2 = np.empty((len(rows), j - i, j - i), dtype=np.float64)
    for a, r in enumerate(rows):
        c2[a] = arr[r, i:j, i:j]
    logger.info(
        "%s (numpy): q = %g 1/Å, %d angles, frames %d..%d, dt = %g s",
        source.name,
        q_used,
        len(rows),
        start,
        end,
        dt_used,
    )
    from .cache import file_sha256

    return Dataset(
        c2=c2,
        phi=angles,
        q=q_used,
        dt=dt_used,
        frames=(start, end),
        layout="numpy",
        source=source,
        source_sha256=file_sha256(source),
        nonfinite=nonfinite,
    )
