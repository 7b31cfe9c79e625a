"""APS-U (8-ID-I after the upgrade) result files: reader of the bin table and writer.

Layout::

    xpcs/qmap/dynamic_v_list_dim0          (n_q,)    q values [1/Å]
    xpcs/qmap/dynamic_v_list_dim1          (n_phi,)  φ values [deg]
    xpcs/twotime/processed_bins            (B,)      1-based bin numbers that hold a matrix
    xpcs/twotime/correlation_map/c2_NNNNN  (N, N)    half matrix of bin NNNNN (5 digits)
    entry/instrument/detector_1/frame_time ()        seconds per frame (optional)

Bin b is at q index ``(b - 1) // n_phi`` and φ index ``(b - 1) % n_phi`` (q-major grid).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from homodyne.errors import DataError

from .hdf5_io import (
    BinTable,
    bin_key,
    read_vector,
    require_group,
    write_frame_time,
    write_half_matrix,
)

__all__ = [
    "BINS_KEY",
    "C2_GROUP",
    "LAYOUT",
    "PHI_KEY",
    "Q_KEY",
    "ApsUWriter",
    "is_aps_u",
    "read_bin_table",
    "write_aps_u",
]

LAYOUT = "aps_u"
Q_KEY = "xpcs/qmap/dynamic_v_list_dim0"
PHI_KEY = "xpcs/qmap/dynamic_v_list_dim1"
BINS_KEY = "xpcs/twotime/processed_bins"
C2_GROUP = "xpcs/twotime/correlation_map"
#: Any of these marks a file as APS-U (the reader then asks for every key it needs).
_MARKERS = (Q_KEY, "xpcs/twotime")


def is_aps_u(h5: h5py.File) -> bool:
    """Whether the open file looks like the APS-U layout."""
    return any(key in h5 for key in _MARKERS)


def read_bin_table(h5: h5py.File, path: Path) -> BinTable:
    """The (q, φ) of every processed bin and the key of its matrix, in processed order."""
    q_grid = read_vector(h5, Q_KEY, path)
    phi_grid = read_vector(h5, PHI_KEY, path)
    numbers = read_vector(h5, BINS_KEY, path, integer=True)
    require_group(h5, C2_GROUP, path)
    n_q, n_phi = q_grid.size, phi_grid.size
    out_of_grid = numbers[(numbers < 1) | (numbers > n_q * n_phi)]
    if out_of_grid.size:
        raise DataError(
            f"{path}: '{BINS_KEY}' holds bin numbers {out_of_grid[:8].tolist()} outside "
            f"1..{n_q * n_phi} (= {n_q} q x {n_phi} phi)"
        )
    if np.unique(numbers).size != numbers.size:
        raise DataError(f"{path}: '{BINS_KEY}' lists some bin numbers more than once")
    index = numbers - 1
    return BinTable(
        numbers=numbers,
        q=q_grid[index // n_phi],
        phi=phi_grid[index % n_phi],
        keys=tuple(bin_key(C2_GROUP, b) for b in numbers),
    )


class ApsUWriter:
    """Write an APS-U file one bin at a time (so large files need one matrix in memory).

    >>> with ApsUWriter(path, q_values, phi_values, frame_time=0.1) as w:   # doctest: +SKIP
    ...     w.write_bin(0, 3, c2_full)

    ``processed_bins`` is written on close, listing the bins written, in ascending order.
    """

    def __init__(
        self,
        path: str | Path,
        q_values: Iterable[float],
        phi_values: Iterable[float],
        *,
        frame_time: float | None,
        dtype: Any = np.float64,
    ) -> None:
        self.path = Path(path)
        self._q = np.asarray(list(q_values), dtype=np.float64)
        self._phi = np.asarray(list(phi_values), dtype=np.float64)
        if self._q.ndim != 1 or self._q.size == 0 or self._phi.ndim != 1 or self._phi.size == 0:
            raise ValueError("q_values and phi_values must be non-empty 1-D sequences")
        self._dtype = dtype
        self._bins: list[int] = []
        self._h5: h5py.File | None = h5py.File(self.path, "w")
        try:
            self._h5.create_dataset(Q_KEY, data=self._q)
            self._h5.create_dataset(PHI_KEY, data=self._phi)
            self._h5.create_group(C2_GROUP)
            write_frame_time(self._h5, frame_time)
        except BaseException:
            self._h5.close()
            raise

    def write_bin(self, q_index: int, phi_index: int, c2_full: Any) -> int:
        """Store the full symmetric matrix of grid point (q_index, phi_index) as a half
        matrix; returns its 1-based bin number."""
        if self._h5 is None:
            raise ValueError(f"{self.path}: writer is closed")
        if not (0 <= q_index < self._q.size and 0 <= phi_index < self._phi.size):
            raise IndexError(f"grid point ({q_index}, {phi_index}) outside the q x phi grid")
        number = q_index * self._phi.size + phi_index + 1
        write_half_matrix(self._h5, bin_key(C2_GROUP, number), c2_full, self._dtype)
        self._bins.append(number)
        return number

    def close(self) -> None:
        """Write ``processed_bins`` and close the file (idempotent)."""
        if self._h5 is None:
            return
        try:
            self._h5.create_dataset(BINS_KEY, data=np.array(sorted(self._bins), dtype=np.int64))
        finally:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> ApsUWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_aps_u(
    path: str | Path,
    c2: Any,
    q_values: Iterable[float],
    phi_values: Iterable[float],
    *,
    frame_time: float | None,
    bins: Iterable[tuple[int, int]] | None = None,
    dtype: Any = np.float64,
) -> Path:
    """Write full symmetric matrices ``c2[iq, iphi]`` (shape (n_q, n_phi, n, n)) as an APS-U
    file. ``bins`` limits the grid points written (default: all). Returns the path."""
    c2 = np.asarray(c2)
    q_values, phi_values = list(q_values), list(phi_values)
    if c2.ndim != 4 or c2.shape[:2] != (len(q_values), len(phi_values)):
        raise ValueError(
            f"c2 must have shape (n_q, n_phi, n, n) = ({len(q_values)}, {len(phi_values)}, n, n), "
            f"got {c2.shape}"
        )
    grid = bins if bins is not None else np.ndindex(c2.shape[:2])
    with ApsUWriter(path, q_values, phi_values, frame_time=frame_time, dtype=dtype) as writer:
        for iq, iphi in grid:
            writer.write_bin(int(iq), int(iphi), c2[iq, iphi])
    return Path(path)
