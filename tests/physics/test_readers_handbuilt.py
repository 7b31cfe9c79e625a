"""The loaders against files they did not write.

Each file is built here with plain h5py from the layout documented in
docs/data_formats.rst (and physics.md §4): upper-triangular half matrices, 1-based bin
numbers, q-major APS-U grid, (1, N) old-APS bin lists, frame time in
entry/instrument/detector_1/frame_time. Nothing from homodyne.data writes them, so a
writer and a reader that agree with each other but not with the format cannot pass.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from homodyne.data import load_dataset

N = 7
DT = 0.04


def _sym(rng: np.random.Generator, level: float) -> np.ndarray:
    """A distinct symmetric matrix; every entry differs from its neighbours."""
    a = level + 0.01 * rng.random((N, N))
    return np.triu(a) + np.triu(a, 1).T


def _half(full: np.ndarray) -> np.ndarray:
    out = np.zeros_like(full)
    iu = np.triu_indices(full.shape[0])
    out[iu] = full[iu]
    return out


@pytest.fixture
def aps_u_file(tmp_path: Path):
    """2 q rings x 3 sectors; bin b → q index (b-1)//3, φ index (b-1)%3; bin 3 missing."""
    rng = np.random.default_rng(5)
    qs = np.array([0.0031, 0.0054])
    phis = np.array([-5.0, 85.0, 175.0])
    fulls = {b: _sym(rng, 1.0 + b / 10) for b in (1, 2, 4, 5, 6)}
    path = tmp_path / "aps_u_handmade.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("xpcs/qmap/dynamic_v_list_dim0", data=qs)
        h5.create_dataset("xpcs/qmap/dynamic_v_list_dim1", data=phis)
        h5.create_dataset("xpcs/twotime/processed_bins", data=np.array([1, 2, 4, 5, 6]))
        for b, full in fulls.items():
            h5.create_dataset(f"xpcs/twotime/correlation_map/c2_{b:05d}", data=_half(full))
        h5.create_dataset("entry/instrument/detector_1/frame_time", data=DT)
    return path, qs, phis, fulls


@pytest.fixture
def aps_old_file(tmp_path: Path):
    """Four bins with q and φ listed per bin in (1, N) arrays; two rings, bins out of order."""
    rng = np.random.default_rng(6)
    dq = np.array([[0.0054, 0.0031, 0.0054, 0.0054]])
    dphi = np.array([[10.0, 0.0, 190.0, -80.0]])
    fulls = {k: _sym(rng, 1.0 + k / 10) for k in (1, 2, 3, 4)}
    path = tmp_path / "aps_old_handmade.hdf"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("xpcs/dqlist", data=dq)
        h5.create_dataset("xpcs/dphilist", data=dphi)
        for k in (4, 2, 1, 3):  # creation order must not matter
            h5.create_dataset(f"exchange/C2T_all/c2_{k:05d}", data=_half(fulls[k]))
    return path, dq, dphi, fulls


def test_aps_u_ring_is_read_from_the_documented_grid(aps_u_file) -> None:
    path, _qs, phis, fulls = aps_u_file
    ds = load_dataset(path, q=0.0054)
    assert ds.layout == "aps_u" and ds.q == pytest.approx(0.0054)
    assert ds.dt == pytest.approx(DT)  # from the file, no dt argument given
    # q index 1 holds bins 4, 5, 6 → φ indices 0, 1, 2
    np.testing.assert_array_equal(ds.phi, phis)
    for a, b in enumerate((4, 5, 6)):
        np.testing.assert_array_equal(ds.c2[a], fulls[b])
    np.testing.assert_allclose(ds.t, DT * np.arange(1, N + 1))


def test_aps_u_first_ring_with_an_unprocessed_bin(aps_u_file) -> None:
    path, _qs, phis, fulls = aps_u_file
    ds = load_dataset(path, q=0.0031)
    np.testing.assert_array_equal(ds.phi, phis[:2])  # bin 3 is not processed
    np.testing.assert_array_equal(ds.c2[0], fulls[1])
    np.testing.assert_array_equal(ds.c2[1], fulls[2])


def test_aps_u_angle_and_frame_selection(aps_u_file) -> None:
    path, _qs, _phis, fulls = aps_u_file
    ds = load_dataset(path, q=0.0054, phi=[175.0, -5.0], frames=(3, 6))
    np.testing.assert_array_equal(ds.phi, [175.0, -5.0])
    np.testing.assert_array_equal(ds.c2[0], fulls[6][2:6, 2:6])
    np.testing.assert_array_equal(ds.c2[1], fulls[4][2:6, 2:6])
    np.testing.assert_allclose(ds.t, DT * np.arange(3, 7))


def test_aps_old_bins_are_matched_by_their_listed_q_and_phi(aps_old_file) -> None:
    path, _dq, _dphi, fulls = aps_old_file
    ds = load_dataset(path, q=0.0054, dt=0.25)
    assert ds.layout == "aps_old"
    assert ds.dt == 0.25  # no frame time in this file: the argument is used
    # bins 1, 3, 4 are at q = 0.0054, in ascending bin order
    np.testing.assert_array_equal(ds.phi, [10.0, 190.0, -80.0])
    for a, k in enumerate((1, 3, 4)):
        np.testing.assert_array_equal(ds.c2[a], fulls[k])
    other = load_dataset(path, q=0.0031, dt=0.25)
    np.testing.assert_array_equal(other.phi, [0.0])
    np.testing.assert_array_equal(other.c2[0], fulls[2])


def test_aps_old_diagonal_is_counted_once(aps_old_file) -> None:
    """Full = H + Hᵀ - diag(H): the stored diagonal must come back unchanged, not doubled."""
    path, _dq, _dphi, fulls = aps_old_file
    ds = load_dataset(path, q=0.0054, dt=0.25, phi=[-80.0])
    np.testing.assert_array_equal(np.diag(ds.c2[0]), np.diag(fulls[4]))
