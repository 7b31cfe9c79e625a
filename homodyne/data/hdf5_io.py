"""HDF5 plumbing shared by the two APS layouts: opening files, fetching keys with errors
that name the file and the key path, the bin table, and reading one frame window of a
stored half matrix into a preallocated full matrix.

Half matrices: the pipeline stores each c2 as its upper triangle (diagonal included, the
strict lower triangle zero). The full matrix is ``half + halfᵀ - diag(diag(half))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from homodyne.errors import DataError

__all__ = [
    "FRAME_TIME_KEY",
    "BinTable",
    "bin_key",
    "check_square",
    "open_hdf5",
    "parse_bin_key",
    "read_frame_time",
    "read_full_window",
    "read_vector",
    "require_dataset",
    "require_group",
    "write_frame_time",
    "write_half_matrix",
]

#: Where both layouts keep the time per frame, in seconds.
FRAME_TIME_KEY = "entry/instrument/detector_1/frame_time"

_BIN_NAME = re.compile(r"^c2_(\d{5,})$")


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (error messages here are always one line)."""
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class BinTable:
    """Every (q, φ) bin a file holds a c2 matrix for, in file order.

    ``numbers`` are the 1-based bin numbers, ``keys`` the dataset paths of their matrices.
    """

    numbers: np.ndarray
    q: np.ndarray
    phi: np.ndarray
    keys: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)


def bin_key(group: str, number: int) -> str:
    """Dataset path of bin ``number`` in ``group``: ``group/c2_NNNNN`` (5 digits, 1-based)."""
    return f"{group}/c2_{int(number):05d}"


def parse_bin_key(name: str) -> int | None:
    """The bin number of a member name ``c2_NNNNN``, or ``None`` for any other name."""
    match = _BIN_NAME.match(name)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- reading
@contextmanager
def open_hdf5(path: Path) -> Iterator[h5py.File]:
    """Open ``path`` read-only, turning every way that can fail into a :class:`DataError`."""
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({_reason(exc)})") from exc
    if not is_hdf5:
        raise DataError(f"{path}: not an HDF5 file (expected an APS 8-ID-I result file)")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: cannot open the HDF5 file ({_reason(exc)})") from exc
    with h5:
        yield h5


def _get(h5: h5py.File, key: str, path: Path) -> Any:
    """``h5.get(key)``, with read failures of a damaged file turned into a DataError."""
    try:
        return h5.get(key)
    except (OSError, KeyError, RuntimeError) as exc:
        raise DataError(f"{path}: cannot read HDF5 key '{key}' ({_reason(exc)})") from exc


def require_group(h5: h5py.File, key: str, path: Path) -> h5py.Group:
    """The group at ``key``; a missing key or a non-group names the file and the key."""
    obj = _get(h5, key, path)
    if obj is None:
        raise DataError(f"{path}: missing HDF5 group '{key}'")
    if not isinstance(obj, h5py.Group):
        raise DataError(f"{path}: '{key}' should be an HDF5 group, found a {type(obj).__name__}")
    return obj


def require_dataset(h5: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """The dataset at ``key``; a missing key or a non-dataset names the file and the key."""
    obj = _get(h5, key, path)
    if obj is None:
        raise DataError(f"{path}: missing HDF5 dataset '{key}'")
    if not isinstance(obj, h5py.Dataset):
        raise DataError(f"{path}: '{key}' should be an HDF5 dataset, found a {type(obj).__name__}")
    return obj


def read_vector(h5: h5py.File, key: str, path: Path, *, integer: bool = False) -> np.ndarray:
    """A numeric dataset flattened to 1-D (``(1, N)`` and ``(N,)`` both give N values)."""
    ds = require_dataset(h5, key, path)
    try:
        values = np.asarray(ds[()])
    except (OSError, TypeError) as exc:
        raise DataError(f"{path}: cannot read '{key}' ({_reason(exc)})") from exc
    if values.dtype.kind not in "biuf":
        raise DataError(f"{path}: '{key}' should hold numbers, found dtype {values.dtype}")
    values = values.reshape(-1)
    if values.size == 0:
        raise DataError(f"{path}: '{key}' is empty")
    if integer:
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise DataError(f"{path}: '{key}' should hold integers, found {values[:8].tolist()}")
        return values.astype(np.int64)
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{path}: '{key}' holds non-finite values")
    return values


def read_frame_time(h5: h5py.File, path: Path) -> float | None:
    """Seconds per frame from :data:`FRAME_TIME_KEY`, or ``None`` when the file has none."""
    if FRAME_TIME_KEY not in h5:
        return None
    values = read_vector(h5, FRAME_TIME_KEY, path)
    dt = float(values[0])
    if values.size != 1 or not dt > 0:
        raise DataError(
            f"{path}: '{FRAME_TIME_KEY}' should be one positive number (s), "
            f"found {values[:4].tolist()}"
        )
    return dt


def read_full_window(
    ds: h5py.Dataset,
    lo: int,
    hi: int,
    out: np.ndarray,
    describe: Callable[[], str],
    *,
    strict: bool = True,
) -> None:
    """Fill ``out`` (n x n float64, C-contiguous) with the full matrix of rows/columns lo:hi.

    Reads only that square block of the stored half matrix (a diagonal block of an upper
    triangular matrix is upper triangular), straight into ``out``, then mirrors it in
    place. ``describe()`` names the file, key and bin for error messages. NaN/inf on the
    diagonal are left as they are (the fit never uses it); off the diagonal they are an
    error with ``strict``, else kept (the data set counts them, the fit masks them).
    """
    n = hi - lo
    try:
        ds.read_direct(out, source_sel=np.s_[lo:hi, lo:hi])
    except (OSError, TypeError, ValueError) as exc:
        raise DataError(
            f"{describe()}: cannot read frames {lo + 1}..{hi} ({_reason(exc)})"
        ) from exc
    if strict:
        n_bad = int(np.count_nonzero(np.triu(~np.isfinite(out), 1)))
        if n_bad:
            raise DataError(
                f"{describe()}: {n_bad} NaN/inf values off the diagonal in frames {lo + 1}..{hi} "
                f"(data.nonfinite 'mask' leaves those pairs out instead)"
            )
    n_lower = int(np.count_nonzero(np.tril(out, -1)))
    if n_lower:
        raise DataError(
            f"{describe()}: expected an upper-triangular half matrix, but {n_lower} values "
            f"below the diagonal are non-zero (a full matrix stored as half?)"
        )
    out += out.T  # NumPy buffers the overlapping transpose: one n x n temporary
    out.flat[:: n + 1] *= 0.5  # half + halfᵀ counts the diagonal twice


def check_square(ds: h5py.Dataset, describe: Callable[[], str]) -> int:
    """Side length of a stored square matrix, or a :class:`DataError` naming the key."""
    if ds.ndim != 2 or ds.shape[0] != ds.shape[1]:
        raise DataError(f"{describe()}: expected a square half matrix, found shape {ds.shape}")
    if ds.dtype.kind not in "iuf":
        raise DataError(f"{describe()}: expected real numbers, found dtype {ds.dtype}")
    return int(ds.shape[0])


# --------------------------------------------------------------------------- writing
def write_half_matrix(
    h5: h5py.File, key: str, full: Any, dtype: np.dtype[Any] | type = np.float64
) -> None:
    """Store the upper triangle (diagonal included) of a full symmetric matrix at ``key``."""
    full = np.asarray(full, dtype=np.float64)
    if full.ndim != 2 or full.shape[0] != full.shape[1]:
        raise ValueError(f"{key}: expected a square matrix, got shape {full.shape}")
    if not np.allclose(full, full.T, rtol=1e-12, atol=0.0, equal_nan=True):
        raise ValueError(f"{key}: the matrix to write is not symmetric")
    h5.create_dataset(key, data=np.triu(full).astype(dtype, copy=False))


def write_frame_time(h5: h5py.File, frame_time: float | None) -> None:
    """Store the frame time (seconds) at :data:`FRAME_TIME_KEY` unless it is ``None``."""
    if frame_time is None:
        return
    if not float(frame_time) > 0:
        raise ValueError(f"frame_time must be positive, got {frame_time!r}")
    h5.create_dataset(FRAME_TIME_KEY, data=np.float64(frame_time))


def read_truth(h5: h5py.File, path: Path) -> dict[str, float] | None:
    """The simulated parameter values stored in the root attribute ``homodyne_truth``
    (written by :func:`homodyne.data.write_simulated_file`), or ``None``."""
    import json

    raw = h5.attrs.get("homodyne_truth")
    if raw is None:
        return None
    try:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        value = json.loads(text)
        return {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise DataError(
            f"{path}: attribute 'homodyne_truth' is not a JSON object of numbers ({exc})"
        ) from exc
