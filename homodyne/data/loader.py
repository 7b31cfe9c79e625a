"""Load one q ring of an APS 8-ID-I result file as a :class:`Dataset`.

What :func:`load_dataset` does, in order:

1. Hash the file's content (SHA-256, once). With ``cache_dir``: look up the cache entry
   of (content hash, selection); a hit (whose own checksum holds) returns without
   opening the HDF5 file.
2. Open the file and detect its layout (APS-U or old APS), or check the one requested.
3. Read the bin table (q, φ, key of each stored matrix) and pick the q ring nearest to
   the requested q, within ``q_rel_tolerance``; then all its angles, or the requested ones
   (each matched within ``phi_tolerance`` degrees, modulo 360).
4. Check the stored half matrices (square, one size) and the frame window against them.
5. Allocate one float64 array (A, n, n) and read each bin's window straight into its slot:
   only that square block of each half matrix is read, and it is mirrored in place. Peak
   memory is the result plus a few n x n temporaries.

Bins whose q agree to :data:`Q_RING_REL_TOLERANCE` (relative) form one ring: the q values
a file lists for the sectors of one ring may differ in their last digits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from homodyne.errors import ConfigError, DataError

from . import aps_old, aps_u
from .cache import cache_key, cache_path, file_sha256, read_cache, write_cache
from .dataset import Dataset
from .hdf5_io import (
    FRAME_TIME_KEY,
    BinTable,
    check_square,
    open_hdf5,
    read_frame_time,
    read_full_window,
    read_truth,
    require_dataset,
)
from .numpy_io import NUMPY_SUFFIXES, load_numpy

__all__ = ["Q_RING_REL_TOLERANCE", "BinSelection", "detect_layout", "load_dataset", "select_bins"]

logger = logging.getLogger(__name__)

#: Bins whose q differ by less than this fraction belong to the same q ring.
Q_RING_REL_TOLERANCE = 1e-3

#: Each layout: (does an open file look like it, read its bin table).
_LAYOUTS: dict[str, tuple[Callable[[h5py.File], bool], Callable[[h5py.File, Path], BinTable]]] = {
    "aps_u": (aps_u.is_aps_u, aps_u.read_bin_table),
    "aps_old": (aps_old.is_aps_old, aps_old.read_bin_table),
}


def _angular_distance(a: Any, b: Any) -> np.ndarray:
    """|a - b| in degrees, measured the short way round the circle (0..180)."""
    return np.abs(np.mod(np.asarray(a, dtype=float) - b + 180.0, 360.0) - 180.0)


def _fmt(values: Sequence[float] | np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


# --------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class BinSelection:
    """Rows of a :class:`BinTable` chosen for one data set, in output order, and their q."""

    rows: np.ndarray
    q: float


def _q_rings(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group bin q values into rings: (ring label of each bin, mean q of each ring)."""
    order = np.argsort(q, kind="stable")
    labels = np.empty(q.size, dtype=np.intp)
    ring, start = 0, q[order[0]]
    for i in order:
        if q[i] - start > Q_RING_REL_TOLERANCE * abs(start):
            ring, start = ring + 1, q[i]
        labels[i] = ring
    means = np.array([q[labels == r].mean() for r in range(ring + 1)])
    return labels, means


def select_bins(
    table: BinTable,
    path: Path,
    *,
    q: float,
    q_rel_tolerance: float,
    phi: Sequence[float] | None,
    phi_tolerance: float,
) -> BinSelection:
    """Choose the q ring nearest to ``q`` and its angles (all, or the requested ones).

    With ``phi=None`` the ring's bins come in file order; otherwise in the order of
    ``phi``, each requested angle taking the nearest stored angle (modulo 360°) within
    ``phi_tolerance`` degrees.
    """
    labels, rings = _q_rings(table.q)
    rel = np.abs(rings - q) / q
    ring = int(np.argmin(rel))
    if rel[ring] > q_rel_tolerance:
        raise DataError(
            f"{path}: no q within {q_rel_tolerance:.3g} (relative) of q = {q:g} 1/Å; "
            f"q values available: {_fmt(rings)}"
        )
    members = np.flatnonzero(labels == ring)
    q_ring = float(rings[ring])
    if phi is None:
        return BinSelection(rows=members, q=q_ring)

    stored = table.phi[members]
    rows: list[int] = []
    for wanted in phi:
        dist = _angular_distance(stored, float(wanted))
        best = int(np.argmin(dist))
        if dist[best] > phi_tolerance:
            raise DataError(
                f"{path}: no angle within {phi_tolerance:g} deg of phi = {float(wanted):g} deg at "
                f"q = {q_ring:g} 1/Å; angles available there: {_fmt(stored)}"
            )
        row = int(members[best])
        if row in rows:
            raise DataError(
                f"{path}: requested angles {list(phi)} match the stored angle "
                f"{stored[best]:g} deg more than once; lower phi_tolerance or drop a duplicate"
            )
        rows.append(row)
    if not rows:
        raise ConfigError("phi must list at least one angle, or be None for all angles")
    return BinSelection(rows=np.asarray(rows, dtype=np.intp), q=q_ring)


def detect_layout(h5: h5py.File, path: Path, requested: str = "auto") -> str:
    """``"aps_u"`` or ``"aps_old"`` from the keys present; checks a requested layout."""
    found = [name for name, (looks_like, _) in _LAYOUTS.items() if looks_like(h5)]
    if requested != "auto":
        if requested not in found:
            raise DataError(
                f"{path}: does not look like the {requested} layout (none of its keys found; "
                f"detected: {found or 'nothing known'})"
            )
        return requested
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(
            f"{path}: unknown HDF5 layout: neither APS-U '{aps_u.Q_KEY}' / 'xpcs/twotime' nor "
            f"APS-old '{aps_old.C2_GROUP}' / '{aps_old.Q_KEY}' found (top-level keys: "
            f"{sorted(h5.keys())})"
        )
    raise DataError(f"{path}: holds keys of both APS layouts; pass layout='aps_u' or 'aps_old'")


def _frames_pair(frames: Sequence[int] | None, path: Path) -> tuple[int, int] | None:
    """``frames`` as a pair of ints (range checked later, against the file)."""
    if frames is None:
        return None
    values = list(frames) if isinstance(frames, Sequence | np.ndarray) else []
    if len(values) != 2 or not all(
        isinstance(f, int | np.integer) and not isinstance(f, bool) for f in values
    ):
        raise DataError(f"{path}: frames must be two integers (start, end), got {frames!r}")
    return int(values[0]), int(values[1])


def _frame_window(frames: tuple[int, int] | None, n_stored: int, path: Path) -> tuple[int, int]:
    """Validate a 1-based inclusive window against the n_stored frames of the file."""
    start, end = (1, n_stored) if frames is None else frames
    if not 1 <= start < end <= n_stored:
        raise DataError(
            f"{path}: frames ({start}, {end}) out of range; the file holds frames 1..{n_stored} "
            f"(1-based, inclusive, start < end)"
        )
    return start, end


def _resolve_dt(file_dt: float | None, dt: float | None, path: Path) -> float:
    if file_dt is not None:
        if dt is not None and not np.isclose(dt, file_dt, rtol=1e-9, atol=0.0):
            logger.warning(
                "%s: frame time %g s from '%s' overrides the configured dt = %g s",
                path,
                file_dt,
                FRAME_TIME_KEY,
                dt,
            )
        return file_dt
    if dt is None:
        raise DataError(
            f"{path}: no frame time: '{FRAME_TIME_KEY}' is absent and no dt was given "
            f"(set dt, in seconds per frame, in the configuration)"
        )
    return dt


# --------------------------------------------------------------------------- loading
def _read_stack(
    path: Path,
    *,
    q: float,
    q_rel_tolerance: float,
    phi: Sequence[float] | None,
    phi_tolerance: float,
    frames: tuple[int, int] | None,
    dt: float | None,
    layout: str,
    strict: bool = True,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, float, float, tuple[int, int], str, dict[str, float] | None
]:
    """The selected stack from the HDF5 file: (c2, phi, q of each bin, q, dt, frames,
    layout, truth)."""
    with open_hdf5(path) as h5:
        truth = read_truth(h5, path)
        name = detect_layout(h5, path, layout)
        table = _LAYOUTS[name][1](h5, path)
        chosen = select_bins(
            table, path, q=q, q_rel_tolerance=q_rel_tolerance, phi=phi, phi_tolerance=phi_tolerance
        )
        rows = [int(r) for r in chosen.rows]

        def describe(r: int) -> str:
            return (
                f"{path}: '{table.keys[r]}' (bin {table.numbers[r]}, q = {table.q[r]:g} 1/Å, "
                f"phi = {table.phi[r]:g} deg)"
            )

        stored = {r: require_dataset(h5, table.keys[r], path) for r in rows}
        sides = {r: check_square(stored[r], partial(describe, r)) for r in rows}
        if len(set(sides.values())) > 1:
            shapes = ", ".join(f"{table.keys[r]}: {s}x{s}" for r, s in sides.items())
            raise DataError(f"{path}: the selected half matrices differ in size ({shapes})")
        n_stored = sides[rows[0]]
        start, end = _frame_window(frames, n_stored, path)
        frame_dt = _resolve_dt(read_frame_time(h5, path), dt, path)

        n = end - start + 1
        c2 = np.empty((len(rows), n, n), dtype=np.float64)
        for a, r in enumerate(rows):
            read_full_window(stored[r], start - 1, end, c2[a], partial(describe, r), strict=strict)
    logger.info(
        "%s (%s): q = %g 1/Å, %d angles, frames %d..%d, dt = %g s",
        path.name,
        name,
        chosen.q,
        len(rows),
        start,
        end,
        frame_dt,
    )
    return c2, table.phi[rows], table.q[rows], chosen.q, frame_dt, (start, end), name, truth


def _check_arguments(
    q: float,
    q_rel_tolerance: float,
    phi: Sequence[float] | None,
    phi_tolerance: float,
    dt: float | None,
    layout: str,
) -> list[float] | None:
    def positive(value: Any, name: str) -> None:
        if not (isinstance(value, int | float | np.number) and np.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive finite number, got {value!r}")

    positive(q, "q")
    positive(q_rel_tolerance, "q_rel_tolerance")
    positive(phi_tolerance, "phi_tolerance")
    if dt is not None:
        positive(dt, "dt")
    if layout not in ("auto", *_LAYOUTS, "numpy"):
        raise ConfigError(f"layout must be 'auto', 'aps_u', 'aps_old' or 'numpy', got {layout!r}")
    if phi is None:
        return None
    values = [float(p) for p in np.atleast_1d(np.asarray(phi, dtype=float))]
    if not values or not np.all(np.isfinite(values)):
        raise ConfigError(f"phi must be a non-empty list of finite angles (deg), got {phi!r}")
    return values


def load_dataset(
    path: str | Path,
    *,
    q: float,
    q_rel_tolerance: float = 0.05,
    phi: Sequence[float] | None = None,
    phi_tolerance: float = 0.5,
    frames: tuple[int, int] | None = None,
    dt: float | None = None,
    layout: Literal["auto", "aps_u", "aps_old", "numpy"] = "auto",
    cache_dir: str | Path | None = None,
    checksum: bool = True,
    nonfinite: Literal["mask", "error"] = "mask",
) -> Dataset:
    """Read the c2 stack of one q ring from an APS 8-ID-I HDF5 file (or, for a ``.npy`` /
    ``.npz`` file, the matrices it holds: :func:`homodyne.data.numpy_io.load_numpy`).

    Parameters
    ----------
    path:
        the HDF5 result file (APS-U or old APS layout).
    q:
        wavevector [1/Å]; the nearest ring within ``q_rel_tolerance`` (relative) is used.
    phi:
        angles [deg] to keep, in this order, each matched within ``phi_tolerance``
        (modulo 360°); ``None`` keeps every angle of the ring in file order.
    frames:
        ``(start, end)`` 1-based inclusive window; ``None`` is the whole recording.
    dt:
        seconds per frame, used when the file has no ``frame_time`` (the file's value
        wins when both exist; a disagreement is logged as a warning).
    layout:
        ``"auto"`` (detect from the keys) or the layout to insist on.
    cache_dir:
        folder for the ``.npz`` cache of the selected stack; ``None`` disables caching.
    checksum:
        compute the file's SHA-256 (always done when caching; a cache hit reuses it).
    nonfinite:
        ``"mask"``: NaN/inf off the diagonal are accepted and counted (the fit leaves
        those pairs out); ``"error"``: they are refused. See :class:`Dataset`.

    Raises
    ------
    DataError
        for every problem with the file or the selection, with the file and key named.
    ConfigError
        for malformed arguments (non-positive q or tolerances, unknown layout).
    """
    phi_list = _check_arguments(q, q_rel_tolerance, phi, phi_tolerance, dt, layout)
    source = Path(path).expanduser().absolute()
    if not source.exists():
        raise DataError(f"{source}: data file not found")
    if not source.is_file():  # before the content hash reads it
        raise DataError(f"{source}: not a regular file (a directory?); give the data file")
    window = _frames_pair(frames, source)
    if layout == "numpy" or (layout == "auto" and source.suffix in NUMPY_SUFFIXES):
        return load_numpy(
            source,
            q=q,
            q_rel_tolerance=q_rel_tolerance,
            phi=phi_list,
            phi_tolerance=phi_tolerance,
            frames=window,
            dt=dt,
            nonfinite=nonfinite,
        )
    selection: dict[str, Any] = {
        "q": float(q),
        "q_rel_tolerance": float(q_rel_tolerance),
        "phi": phi_list,
        "phi_tolerance": float(phi_tolerance),
        "frames": None if window is None else list(window),
        "dt": None if dt is None else float(dt),
        "layout": layout,
    }
    if nonfinite != "mask":
        selection["nonfinite"] = nonfinite
    entry: Path | None = None
    key = ""
    identity_before = _identity(source)
    # the content hash, once per load: the cache key and the sha256 that results record
    digest = file_sha256(source) if (checksum or cache_dir is not None) else None
    if cache_dir is not None:
        key = cache_key(source, selection, digest)
        entry = cache_path(Path(cache_dir), source, key)
        cached = read_cache(entry, key=key, source=source)
        if cached is not None:
            logger.info("%s: loaded from cache %s", source.name, entry)
            return cached

    c2, phi_sel, q_bins, q_ring, frame_dt, window, name, truth = _read_stack(
        source,
        q=q,
        q_rel_tolerance=q_rel_tolerance,
        phi=phi_list,
        phi_tolerance=phi_tolerance,
        frames=window,
        dt=dt,
        layout=layout,
        strict=nonfinite == "error",
    )
    if _identity(source) != identity_before:  # the hash may not be of what was read
        raise DataError(f"{source}: the file changed while it was read; run again")
    dataset = Dataset(
        c2=c2,
        phi=phi_sel,
        q=q_ring,
        dt=frame_dt,
        frames=window,
        layout=name,  # type: ignore[arg-type]
        source=source,
        source_sha256=digest,
        truth=truth,
        nonfinite=nonfinite,
    )
    if entry is not None:
        try:
            write_cache(entry, dataset, key=key, selection=selection, q_per_angle=q_bins)
        except OSError as exc:
            logger.warning("could not write the cache entry %s (%s)", entry, exc)
    return dataset


def _identity(source: Path) -> tuple[int, int]:
    st = source.stat()
    return st.st_size, st.st_mtime_ns
