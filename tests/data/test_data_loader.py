"""load_dataset: q and φ selection, frame windows, frame time, and every failure mode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from datahelpers import FRAME_TIME, N_FRAMES, PHI_VALUES, Q_VALUES, c2_key

from homodyne.data import FRAME_TIME_KEY, load_dataset, write_aps_old
from homodyne.errors import ConfigError, DataError


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException], *fragments: str) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    return msg


# --------------------------------------------------------------------------- q and φ
def test_nearest_q_within_tolerance_is_used(data_file: Path, stack: np.ndarray) -> None:
    ds = load_dataset(data_file, q=0.00555)  # 2.8 % from 0.0054
    assert ds.q == pytest.approx(0.0054)
    np.testing.assert_array_equal(ds.c2, stack[1])


def test_q_outside_tolerance_lists_the_available_q(data_file: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=0.0059)  # 8.5 % and 9.3 % from its neighbours
    one_line_error(err, data_file.name, "q = 0.0059", "[0.0044, 0.0054, 0.0064]")
    assert load_dataset(data_file, q=0.0059, q_rel_tolerance=0.1).q == pytest.approx(0.0054)


def test_requested_angles_come_in_the_requested_order(data_file: Path, stack: np.ndarray) -> None:
    ds = load_dataset(data_file, q=Q_VALUES[0], phi=[7.4, -8.5, 171.3])
    np.testing.assert_array_equal(ds.phi, [7.4, -8.5, 171.6])  # the stored angles
    np.testing.assert_array_equal(ds.c2, stack[0, [3, 0, 4]])


def test_angle_matching_wraps_modulo_360(data_file: Path, stack: np.ndarray) -> None:
    ds = load_dataset(data_file, q=Q_VALUES[2], phi=[351.5, -188.4])
    np.testing.assert_array_equal(ds.phi, [-8.5, 171.6])
    np.testing.assert_array_equal(ds.c2, stack[2, [0, 4]])


def test_angle_outside_tolerance_lists_the_angles_at_that_q(data_file: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[1], phi=[1.9, 5.0])
    one_line_error(
        err, data_file.name, "phi = 5 deg", "q = 0.0054", "[-8.5, -3.2, 1.9, 7.4, 171.6]"
    )
    ds = load_dataset(data_file, q=Q_VALUES[1], phi=[5.0], phi_tolerance=2.5)
    assert ds.phi.tolist() == [7.4]


def test_two_requests_matching_one_stored_angle_are_refused(data_file: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[0], phi=[1.8, 2.0])
    one_line_error(err, "1.9 deg more than once")


def test_sector_q_values_that_differ_in_the_last_digits_form_one_ring(tmp_path: Path) -> None:
    m = np.eye(4) + 1.0
    with h5py.File(tmp_path / "old.h5", "w") as h5:
        h5["xpcs/dqlist"] = [[0.0054, 0.0054 * (1 + 1e-5), 0.0054 * (1 - 2e-5), 0.0064]]
        h5["xpcs/dphilist"] = [[0.0, 90.0, 180.0, 0.0]]
        for k in range(1, 5):
            h5[f"exchange/C2T_all/c2_{k:05d}"] = np.triu(m * k)
    ds = load_dataset(tmp_path / "old.h5", q=0.0054, dt=1.0)
    np.testing.assert_array_equal(ds.phi, [0.0, 90.0, 180.0])
    np.testing.assert_array_equal(ds.c2[:, 0, 1], [1.0, 2.0, 3.0])
    assert ds.q == pytest.approx(0.0054, rel=1e-5)


# --------------------------------------------------------------------------- frames
def test_frame_window_is_one_based_inclusive(data_file: Path, stack: np.ndarray) -> None:
    ds = load_dataset(data_file, q=Q_VALUES[1], frames=(3, 7))
    assert ds.n_frames == 5 and ds.frames == (3, 7)
    assert ds.t[0] == pytest.approx(3 * FRAME_TIME)
    np.testing.assert_allclose(ds.t, np.arange(3, 8) * FRAME_TIME)
    np.testing.assert_array_equal(ds.c2, stack[1][:, 2:7, 2:7])


def test_full_window_by_default_and_edges_accepted(data_file: Path, stack: np.ndarray) -> None:
    assert load_dataset(data_file, q=Q_VALUES[0]).frames == (1, N_FRAMES)
    ds = load_dataset(data_file, q=Q_VALUES[0], frames=(N_FRAMES - 1, N_FRAMES))
    np.testing.assert_array_equal(ds.c2, stack[0][:, -2:, -2:])


@pytest.mark.parametrize("frames", [(0, 5), (5, N_FRAMES + 1), (7, 3), (5, 5)])
def test_frames_out_of_range_state_the_valid_range(
    data_file: Path, frames: tuple[int, int]
) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[0], frames=frames)
    one_line_error(err, data_file.name, f"frames {frames}", f"1..{N_FRAMES}")


@pytest.mark.parametrize("frames", [(1.5, 4), (1, 2, 3), "1-4", (True, 4)])
def test_malformed_frames_are_refused(data_file: Path, frames: object) -> None:
    with pytest.raises(DataError, match="two integers"):
        load_dataset(data_file, q=Q_VALUES[0], frames=frames)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- frame time
def test_dt_from_the_caller_when_the_file_has_none(
    write_file: Callable[..., Path], layout: str
) -> None:
    path = write_file(layout, frame_time=None)
    assert load_dataset(path, q=Q_VALUES[0], dt=0.25).dt == 0.25
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, path.name, FRAME_TIME_KEY, "no dt was given")


def test_file_frame_time_wins_over_a_different_dt_with_a_warning(
    data_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="homodyne.data"):
        ds = load_dataset(data_file, q=Q_VALUES[0], dt=0.5)
    assert ds.dt == FRAME_TIME
    assert "overrides the configured dt = 0.5" in caplog.text


def test_invalid_frame_time_in_the_file(tmp_path: Path, stack: np.ndarray) -> None:
    path = write_aps_old(tmp_path / "f.h5", stack, Q_VALUES, PHI_VALUES, frame_time=None)
    with h5py.File(path, "a") as h5:
        h5[FRAME_TIME_KEY] = -1.0
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, FRAME_TIME_KEY, "one positive number")


# --------------------------------------------------------------------------- failures
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "nope.h5", q=0.005)
    one_line_error(err, "nope.h5", "not found")


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, q=0.005)
    one_line_error(err, "notes.h5", "not an HDF5 file")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(tmp_path, q=0.005)


def test_unknown_layout_lists_the_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["measurement/data"] = [1.0]
    with pytest.raises(DataError) as err:
        load_dataset(path, q=0.005)
    one_line_error(err, "unknown HDF5 layout", "['measurement']")


@pytest.mark.parametrize(
    ("layout_name", "key"),
    [
        ("aps_u", "xpcs/twotime/processed_bins"),
        ("aps_u", "xpcs/qmap/dynamic_v_list_dim1"),
        ("aps_u", "xpcs/twotime/correlation_map"),
        ("aps_old", "xpcs/dphilist"),
        ("aps_old", "exchange/C2T_all"),
    ],
)
def test_missing_keys_are_named(
    write_file: Callable[..., Path], layout_name: str, key: str
) -> None:
    path = write_file(layout_name)
    with h5py.File(path, "a") as h5:
        del h5[key]
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, path.name, f"'{key}'", "missing HDF5")


def test_missing_matrix_of_a_selected_bin_is_named(write_file: Callable[..., Path]) -> None:
    path = write_file("aps_u")
    key = c2_key(path, 7)  # q index 1, phi index 1
    with h5py.File(path, "a") as h5:
        del h5[key]
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[1])
    one_line_error(err, path.name, f"missing HDF5 dataset '{key}'")
    assert load_dataset(path, q=Q_VALUES[0]).n_angles == len(PHI_VALUES)  # other rings fine


def test_group_where_a_dataset_belongs(write_file: Callable[..., Path]) -> None:
    path = write_file("aps_u")
    with h5py.File(path, "a") as h5:
        del h5["xpcs/twotime/processed_bins"]
        h5.create_group("xpcs/twotime/processed_bins")
    with pytest.raises(DataError, match="'xpcs/twotime/processed_bins' should be an HDF5 dataset"):
        load_dataset(path, q=Q_VALUES[0])


def test_nan_in_a_stored_matrix_names_key_angle_and_count(data_file: Path) -> None:
    key = c2_key(data_file, 8)  # q index 1, phi index 2 (1.9 deg)
    with h5py.File(data_file, "a") as h5:
        half = h5[key][()]
        half[0, 3] = np.nan
        half[2, 5] = np.inf
        half[4, 4] = np.nan
        h5[key][...] = half
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[1], nonfinite="error")
    one_line_error(err, data_file.name, "phi = 1.9 deg", "2 NaN/inf")
    ds = load_dataset(data_file, q=Q_VALUES[1])  # default: masked, counted
    assert ds.n_nonfinite[2] == 2 and ds.n_nonfinite.sum() == 2
    ds = load_dataset(data_file, q=Q_VALUES[1], frames=(6, 12), nonfinite="error")
    assert ds.n_angles == len(PHI_VALUES)  # bad values outside the window


def test_half_matrices_of_different_sizes(data_file: Path) -> None:
    key = c2_key(data_file, 2)
    with h5py.File(data_file, "a") as h5:
        del h5[key]
        h5[key] = np.triu(np.ones((N_FRAMES - 2, N_FRAMES - 2)))
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[0])
    one_line_error(
        err, "differ in size", f"{key}: {N_FRAMES - 2}x{N_FRAMES - 2}", f"{N_FRAMES}x{N_FRAMES}"
    )


def test_non_square_half_matrix(data_file: Path) -> None:
    key = c2_key(data_file, 1)
    with h5py.File(data_file, "a") as h5:
        del h5[key]
        h5[key] = np.ones((N_FRAMES, N_FRAMES + 1))
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[0])
    one_line_error(err, key, "square half matrix", f"({N_FRAMES}, {N_FRAMES + 1})")


def test_full_matrix_stored_where_a_half_belongs(data_file: Path) -> None:
    key = c2_key(data_file, 3)
    with h5py.File(data_file, "a") as h5:
        half = h5[key][()]
        h5[key][...] = half + np.triu(half, 1).T
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[0])
    one_line_error(err, key, "upper-triangular half matrix")


def test_processed_bins_outside_the_grid(write_file: Callable[..., Path]) -> None:
    path = write_file("aps_u")
    with h5py.File(path, "a") as h5:
        del h5["xpcs/twotime/processed_bins"]
        h5["xpcs/twotime/processed_bins"] = [1, 2, 99]
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, "[99]", "outside 1..15")


def test_aps_old_lists_of_different_length(write_file: Callable[..., Path]) -> None:
    path = write_file("aps_old")
    with h5py.File(path, "a") as h5:
        del h5["xpcs/dphilist"]
        h5["xpcs/dphilist"] = np.zeros((1, 3))
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, "'xpcs/dqlist' has 15 entries but 'xpcs/dphilist' has 3")


def test_aps_old_matrix_without_q_entry(write_file: Callable[..., Path]) -> None:
    path = write_file("aps_old")
    with h5py.File(path, "a") as h5:
        h5["exchange/C2T_all/c2_00016"] = np.eye(N_FRAMES)
    with pytest.raises(DataError) as err:
        load_dataset(path, q=Q_VALUES[0])
    one_line_error(err, "bins [16]", "1..15")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"q": 0.0}, "q must be"),
        ({"q": -0.005}, "q must be"),
        ({"q": 0.005, "q_rel_tolerance": 0}, "q_rel_tolerance"),
        ({"q": 0.005, "phi_tolerance": -1}, "phi_tolerance"),
        ({"q": 0.005, "dt": 0}, "dt must be"),
        ({"q": 0.005, "layout": "aps_x"}, "layout must be"),
        ({"q": 0.005, "phi": []}, "non-empty"),
    ],
)
def test_malformed_arguments_raise_config_error(
    data_file: Path, kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_dataset(data_file, **kwargs)  # type: ignore[arg-type]


def test_checksum_can_be_skipped(data_file: Path) -> None:
    assert load_dataset(data_file, q=Q_VALUES[0], checksum=False).source_sha256 is None


def test_truncated_file(data_file: Path) -> None:
    size = data_file.stat().st_size
    with open(data_file, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(DataError) as err:
        load_dataset(data_file, q=Q_VALUES[2])
    one_line_error(err, data_file.name)
