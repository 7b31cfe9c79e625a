"""Memory behaviour of the loader on a beamline-sized stack: 23 angles x 1000 frames.

The result is 23 x 1000 x 1000 float64 = 184 MB. The loader fills one preallocated
array in place, so the traced peak (NumPy allocations, via tracemalloc) must stay well
under two copies; the test allows 1.5 copies (one result plus n x n temporaries).
"""

from __future__ import annotations

import shutil
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homodyne.data import ApsUWriter, load_dataset

N_ANGLES, N_FRAMES = 23, 1000
STACK_BYTES = N_ANGLES * N_FRAMES * N_FRAMES * 8
ALLOWED = 1.5 * STACK_BYTES


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 23 x 1000 APS-U file with float32 half matrices (92 MB), written bin by bin."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "big.h5"
    lag = np.abs(np.subtract.outer(np.arange(N_FRAMES), np.arange(N_FRAMES)))
    decay = 1.0 + 0.2 * np.exp(-lag / 150.0)
    with ApsUWriter(
        path, [0.0054], np.linspace(-11.0, 11.0, N_ANGLES), frame_time=0.1, dtype=np.float32
    ) as writer:
        for a in range(N_ANGLES):
            writer.write_bin(0, a, decay + 0.001 * a)
    del lag, decay
    yield path
    shutil.rmtree(folder, ignore_errors=True)  # do not leave ~300 MB in the temp folder


def traced_peak(call: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``call`` and return its result and the traced peak above the starting level."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return result, peak


def test_loading_23_x_1000_holds_less_than_two_copies(big_file: Path) -> None:
    ds, peak = traced_peak(lambda: load_dataset(big_file, q=0.0054))
    assert ds.c2.shape == (N_ANGLES, N_FRAMES, N_FRAMES) and ds.c2.nbytes == STACK_BYTES
    assert ds.c2[22, 10, 500] == pytest.approx(1.0 + 0.2 * np.exp(-490 / 150) + 0.022, rel=1e-6)
    assert peak >= STACK_BYTES  # the measurement sees the result itself
    assert peak < ALLOWED, f"peak {peak / 1e6:.0f} MB for a {STACK_BYTES / 1e6:.0f} MB stack"


def test_cache_write_and_hit_hold_less_than_two_copies(big_file: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    try:
        first, peak_miss = traced_peak(
            lambda: load_dataset(big_file, q=0.0054, frames=(1, 1000), cache_dir=cache_dir)
        )
        del first
        hit, peak_hit = traced_peak(
            lambda: load_dataset(big_file, q=0.0054, frames=(1, 1000), cache_dir=cache_dir)
        )
        assert hit.n_frames == N_FRAMES and len(list(cache_dir.glob("*.npz"))) == 1
        assert peak_miss < ALLOWED, f"cache miss peak {peak_miss / 1e6:.0f} MB"
        assert peak_hit < ALLOWED, f"cache hit peak {peak_hit / 1e6:.0f} MB"
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
