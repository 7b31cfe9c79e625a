"""APS (8-ID-I before the upgrade) result files: reader of the bin table and writer.

Layout::

    xpcs/dqlist                            (1, N)   q of bin k = 1..N [1/Å]
    xpcs/dphilist                          (1, N)   φ of bin k [deg]
    exchange/C2T_all/c2_NNNNN              (M, M)   half matrix of bin k = NNNNN (5 digits)
    entry/instrument/detector_1/frame_time ()       seconds per frame (optional)

Bin k's q and φ are entry k - 1 of ``dqlist`` and ``dphilist``. Bins without a matrix
in ``exchange/C2T_all`` are not available.
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
    parse_bin_key,
    read_vector,
    require_group,
    write_frame_time,
    write_half_matrix,
)

__all__ = [
    "C2_GROUP",
    "LAYOUT",
    "PHI_KEY",
    "Q_KEY",
    "ApsOldWriter",
    "is_aps_old",
    "read_bin_table",
    "write_aps_old",
]

LAYOUT = "aps_old"
Q_KEY = "xpcs/dqlist"
PHI_KEY = "xpcs/dphilist"
C2_GROUP = "exchange/C2T_all"
_MARKERS = (C2_GROUP, Q_KEY)


def is_aps_old(h5: h5py.File) -> bool:
    """Whether the open file looks like the old APS layout."""
    return any(key in h5 for key in _MARKERS)


def read_bin_table(h5: h5py.File, path: Path) -> BinTable:
    """The (q, φ) and matrix key of every bin that has a matrix, by ascending bin number."""
    q_list = read_vector(h5, Q_KEY, path)
    phi_list = read_vector(h5, PHI_KEY, path)
    if q_list.size != phi_list.size:
        raise DataError(
            f"{path}: '{Q_KEY}' has {q_list.size} entries but '{PHI_KEY}' has {phi_list.size}"
        )
    group = require_group(h5, C2_GROUP, path)
    numbers = sorted(k for k in (parse_bin_key(name) for name in group) if k is not None)
    if not numbers:
        raise DataError(f"{path}: '{C2_GROUP}' holds no c2_NNNNN datasets")
    beyond = [k for k in numbers if not 1 <= k <= q_list.size]
    if beyond:
        raise DataError(
            f"{path}: '{C2_GROUP}' has matrices for bins {beyond[:8]} but '{Q_KEY}' lists "
            f"only bins 1..{q_list.size}"
        )
    index = np.asarray(numbers, dtype=np.int64) - 1
    return BinTable(
        numbers=index + 1,
        q=q_list[index],
        phi=phi_list[index],
        keys=tuple(bin_key(C2_GROUP, k) for k in numbers),
    )


class ApsOldWriter:
    """Write an old-layout APS file one bin at a time; ``dqlist``/``dphilist`` on close.

    >>> with ApsOldWriter(path, frame_time=0.1) as w:   # doctest: +SKIP
    ...     w.add_bin(0.0054, 7.4, c2_full)            # becomes bin 1: c2_00001
    """

    def __init__(self, path: str | Path, *, frame_time: float | None, dtype: Any = np.float64):
        self.path = Path(path)
        self._dtype = dtype
        self._q: list[float] = []
        self._phi: list[float] = []
        self._h5: h5py.File | None = h5py.File(self.path, "w")
        try:
            self._h5.create_group(C2_GROUP)
            write_frame_time(self._h5, frame_time)
        except BaseException:
            self._h5.close()
            raise

    def add_bin(self, q: float, phi: float, c2_full: Any) -> int:
        """Append a bin at (q, φ) holding the full symmetric matrix ``c2_full`` (stored as a
        half matrix); returns its 1-based bin number."""
        if self._h5 is None:
            raise ValueError(f"{self.path}: writer is closed")
        number = len(self._q) + 1
        write_half_matrix(self._h5, bin_key(C2_GROUP, number), c2_full, self._dtype)
        self._q.append(float(q))
        self._phi.append(float(phi))
        return number

    def close(self) -> None:
        """Write the (1, N) ``dqlist`` and ``dphilist`` and close the file (idempotent)."""
        if self._h5 is None:
            return
        try:
            self._h5.create_dataset(Q_KEY, data=np.asarray([self._q], dtype=np.float64))
            self._h5.create_dataset(PHI_KEY, data=np.asarray([self._phi], dtype=np.float64))
        finally:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> ApsOldWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_aps_old(
    path: str | Path,
    c2: Any,
    q_values: Iterable[float],
    phi_values: Iterable[float],
    *,
    frame_time: float | None,
    dtype: Any = np.float64,
) -> Path:
    """Write full symmetric matrices ``c2[iq, iphi]`` (shape (n_q, n_phi, n, n)) as an
    old-layout file, bins numbered q-major (k = iq * n_phi + iphi + 1). Returns the path."""
    c2 = np.asarray(c2)
    q_values, phi_values = list(q_values), list(phi_values)
    if c2.ndim != 4 or c2.shape[:2] != (len(q_values), len(phi_values)):
        raise ValueError(
            f"c2 must have shape (n_q, n_phi, n, n) = ({len(q_values)}, {len(phi_values)}, n, n), "
            f"got {c2.shape}"
        )
    with ApsOldWriter(path, frame_time=frame_time, dtype=dtype) as writer:
        for iq, q in enumerate(q_values):
            for iphi, phi in enumerate(phi_values):
                writer.add_bin(q, phi, c2[iq, iphi])
    return Path(path)
