"""Shared constants and helpers of the data-layer tests (imported by the test modules;
fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

#: The grid every fixture file uses: 3 q rings x 5 angles x 12 frames.
Q_VALUES = (0.0044, 0.0054, 0.0064)
PHI_VALUES = (-8.5, -3.2, 1.9, 7.4, 171.6)
N_FRAMES = 12
FRAME_TIME = 0.1


def random_symmetric_stack(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Random full symmetric n x n matrices with leading shape ``shape`` (distinct values)."""
    rng = np.random.default_rng(seed)
    upper = np.triu(1.0 + 0.3 * rng.random((*shape, n, n)))
    return upper + np.swapaxes(np.triu(upper, 1), -1, -2)


def c2_key(path: Path, bin_number: int) -> str:
    """Key of bin ``bin_number``'s matrix in the file at ``path`` (whatever its layout)."""
    with h5py.File(path, "r") as h5:
        group = "exchange/C2T_all" if "exchange" in h5 else "xpcs/twotime/correlation_map"
    return f"{group}/c2_{bin_number:05d}"
