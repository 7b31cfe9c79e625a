"""The two APS layouts: what the writers put in the file, and write → read round trips."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from datahelpers import FRAME_TIME, N_FRAMES, PHI_VALUES, Q_VALUES

from homodyne.data import (
    FRAME_TIME_KEY,
    ApsOldWriter,
    ApsUWriter,
    load_dataset,
    write_aps_u,
)
from homodyne.errors import DataError


def test_aps_u_writer_produces_the_documented_keys(
    write_file: Callable[..., Path], stack: np.ndarray
) -> None:
    path = write_file("aps_u")
    n_phi = len(PHI_VALUES)
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(h5["xpcs/qmap/dynamic_v_list_dim0"][()], Q_VALUES)
        np.testing.assert_array_equal(h5["xpcs/qmap/dynamic_v_list_dim1"][()], PHI_VALUES)
        bins = h5["xpcs/twotime/processed_bins"][()]
        np.testing.assert_array_equal(bins, np.arange(1, len(Q_VALUES) * n_phi + 1))
        assert float(h5[FRAME_TIME_KEY][()]) == FRAME_TIME
        for b in bins:
            half = h5[f"xpcs/twotime/correlation_map/c2_{b:05d}"][()]
            iq, iphi = (b - 1) // n_phi, (b - 1) % n_phi
            np.testing.assert_array_equal(half, np.triu(stack[iq, iphi]))


def test_aps_old_writer_produces_the_documented_keys(
    write_file: Callable[..., Path], stack: np.ndarray
) -> None:
    path = write_file("aps_old")
    n_bins = len(Q_VALUES) * len(PHI_VALUES)
    with h5py.File(path, "r") as h5:
        dq, dphi = h5["xpcs/dqlist"][()], h5["xpcs/dphilist"][()]
        assert dq.shape == dphi.shape == (1, n_bins)
        np.testing.assert_array_equal(dq[0], np.repeat(Q_VALUES, len(PHI_VALUES)))
        np.testing.assert_array_equal(dphi[0], np.tile(PHI_VALUES, len(Q_VALUES)))
        assert float(h5[FRAME_TIME_KEY][()]) == FRAME_TIME
        assert sorted(h5["exchange/C2T_all"]) == [f"c2_{k:05d}" for k in range(1, n_bins + 1)]
        np.testing.assert_array_equal(h5["exchange/C2T_all/c2_00007"][()], np.triu(stack[1, 1]))


@pytest.mark.parametrize("iq", range(len(Q_VALUES)))
def test_round_trip_gives_the_same_stack(
    data_file: Path, layout: str, stack: np.ndarray, iq: int
) -> None:
    ds = load_dataset(data_file, q=Q_VALUES[iq])
    assert ds.layout == layout
    assert ds.q == pytest.approx(Q_VALUES[iq], rel=1e-12)
    assert ds.dt == FRAME_TIME and ds.frames == (1, N_FRAMES)
    np.testing.assert_array_equal(ds.phi, PHI_VALUES)
    np.testing.assert_array_equal(ds.c2, stack[iq])  # exact: half + halfᵀ - diag is exact
    assert ds.source == data_file.absolute()
    assert ds.source_sha256 == hashlib.sha256(data_file.read_bytes()).hexdigest()


def test_round_trip_through_float32_storage(
    write_file: Callable[..., Path], layout: str, stack: np.ndarray
) -> None:
    ds = load_dataset(write_file(layout, dtype=np.float32), q=Q_VALUES[0])
    assert ds.c2.dtype == np.float64
    np.testing.assert_array_equal(ds.c2, stack[0].astype(np.float32).astype(np.float64))


def test_full_matrix_is_half_plus_transpose_minus_diagonal(tmp_path: Path) -> None:
    """A hand-made file (no writer involved) checks the reconstruction rule itself."""
    half = np.array([[2.0, 3.0, 5.0], [0.0, 7.0, 11.0], [0.0, 0.0, 13.0]])
    path = tmp_path / "hand.h5"
    with h5py.File(path, "w") as h5:
        h5["xpcs/qmap/dynamic_v_list_dim0"] = [0.005]
        h5["xpcs/qmap/dynamic_v_list_dim1"] = [10.0, 20.0]
        h5["xpcs/twotime/processed_bins"] = [2]  # q index 0, phi index 1
        h5["xpcs/twotime/correlation_map/c2_00002"] = half
    ds = load_dataset(path, q=0.005, dt=0.5)
    expected = half + half.T - np.diag(np.diag(half))
    np.testing.assert_array_equal(ds.c2[0], expected)
    np.testing.assert_array_equal(ds.phi, [20.0])
    assert ds.dt == 0.5


def test_aps_u_bin_numbers_map_q_major(tmp_path: Path, stack: np.ndarray) -> None:
    path = write_aps_u(
        tmp_path / "sparse.h5",
        stack,
        Q_VALUES,
        PHI_VALUES,
        frame_time=0.1,
        bins=[(1, 3), (1, 0), (2, 2)],
    )
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(h5["xpcs/twotime/processed_bins"][()], [6, 9, 13])
    ds = load_dataset(path, q=Q_VALUES[1])
    np.testing.assert_array_equal(ds.phi, [PHI_VALUES[0], PHI_VALUES[3]])
    np.testing.assert_array_equal(ds.c2, stack[1, [0, 3]])
    with pytest.raises(DataError, match=r"angles available there: \[1\.9\]"):
        load_dataset(path, q=Q_VALUES[2], phi=[7.4])


def test_streaming_writers_write_one_bin_at_a_time(tmp_path: Path, stack: np.ndarray) -> None:
    with ApsUWriter(tmp_path / "u.h5", Q_VALUES, PHI_VALUES, frame_time=None) as w:
        assert w.write_bin(2, 4, stack[2, 4]) == 15
    with ApsOldWriter(tmp_path / "old.h5", frame_time=None) as w_old:
        assert w_old.add_bin(0.007, 33.0, stack[0, 0]) == 1
    ds_u = load_dataset(tmp_path / "u.h5", q=Q_VALUES[2], dt=0.2)
    ds_old = load_dataset(tmp_path / "old.h5", q=0.007, dt=0.2)
    np.testing.assert_array_equal(ds_u.c2[0], stack[2, 4])
    np.testing.assert_array_equal(ds_old.c2[0], stack[0, 0])
    assert ds_old.phi.tolist() == [33.0]


def test_writers_refuse_asymmetric_matrices_and_bad_grids(tmp_path: Path) -> None:
    m = np.arange(9.0).reshape(3, 3)
    with ApsUWriter(tmp_path / "u.h5", [0.005], [0.0], frame_time=0.1) as w:
        with pytest.raises(ValueError, match="not symmetric"):
            w.write_bin(0, 0, m)
        with pytest.raises(IndexError):
            w.write_bin(1, 0, np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        write_aps_u(tmp_path / "v.h5", np.ones((2, 2, 3, 3)), [0.005], [0.0], frame_time=0.1)


def test_explicit_layout_must_match_the_file(data_file: Path, layout: str) -> None:
    other = "aps_old" if layout == "aps_u" else "aps_u"
    assert load_dataset(data_file, q=Q_VALUES[0], layout=layout).layout == layout  # type: ignore[arg-type]
    with pytest.raises(DataError, match=f"does not look like the {other} layout"):
        load_dataset(data_file, q=Q_VALUES[0], layout=other)  # type: ignore[arg-type]
