"""Fixtures of the data-layer tests: small real HDF5 files of both layouts in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datahelpers import FRAME_TIME, N_FRAMES, PHI_VALUES, Q_VALUES, random_symmetric_stack

from homodyne.data import write_aps_old, write_aps_u


@pytest.fixture(scope="session")
def stack() -> np.ndarray:
    """The (n_q, n_phi, n, n) truth written into the fixture files (do not modify)."""
    out = random_symmetric_stack((len(Q_VALUES), len(PHI_VALUES)), N_FRAMES, seed=42)
    out.flags.writeable = False
    return out


@pytest.fixture
def write_file(tmp_path: Path, stack: np.ndarray) -> Callable[..., Path]:
    """Write ``stack`` in the given layout to a new file in tmp_path and return its path."""
    counter = iter(range(1_000))

    def write(layout: str, *, frame_time: float | None = FRAME_TIME, **kwargs: object) -> Path:
        path = tmp_path / f"{layout}_{next(counter)}.h5"
        writer = write_aps_u if layout == "aps_u" else write_aps_old
        return writer(path, stack, Q_VALUES, PHI_VALUES, frame_time=frame_time, **kwargs)

    return write


@pytest.fixture(params=["aps_u", "aps_old"])
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data_file(write_file: Callable[..., Path], layout: str) -> Path:
    """A fixture file in each layout (the test runs once per layout)."""
    return write_file(layout)
