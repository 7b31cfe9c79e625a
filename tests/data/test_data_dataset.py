"""Dataset: validation on construction, derived sets, frame/time conventions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datahelpers import random_symmetric_stack

from homodyne.data import Dataset
from homodyne.errors import DataError


def make(n_angles: int = 3, n: int = 5, **overrides: object) -> Dataset:
    fields: dict[str, object] = {
        "c2": random_symmetric_stack((n_angles,), n, seed=1),
        "phi": np.linspace(-5.0, 5.0, n_angles),
        "q": 0.0054,
        "dt": 0.1,
        "frames": (3, 3 + n - 1),
    }
    fields.update(overrides)
    return Dataset(**fields)  # type: ignore[arg-type]


def test_frames_are_one_based_inclusive_and_t_is_frame_times_dt() -> None:
    ds = make(n=5, frames=(3, 7))
    assert ds.n_frames == 5 and ds.n_angles == 3
    np.testing.assert_array_equal(ds.frame_numbers, [3, 4, 5, 6, 7])
    np.testing.assert_allclose(ds.t, [0.3, 0.4, 0.5, 0.6, 0.7], rtol=0, atol=1e-15)
    assert ds.c2.dtype == np.float64 and ds.layout == "synthetic" and ds.source is None


def test_arrays_are_read_only_views_and_the_callers_array_stays_writable() -> None:
    c2 = random_symmetric_stack((2,), 4)
    ds = make(n_angles=2, n=4, c2=c2, frames=(1, 4))
    assert np.shares_memory(ds.c2, c2)  # no copy of a float64 stack
    with pytest.raises(ValueError):
        ds.c2[0, 0, 0] = 5.0
    with pytest.raises(ValueError):
        ds.phi[0] = 5.0
    c2[0, 0, 0] = 5.0  # the caller's array is untouched by the read-only flag
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.q = 1.0  # type: ignore[misc]


def test_non_finite_values_name_the_file_the_angle_and_the_count() -> None:
    c2 = random_symmetric_stack((3,), 5)
    c2[1, 0, 2] = c2[1, 2, 0] = np.nan
    c2[1, 1, 3] = c2[1, 3, 1] = -np.inf
    c2[1, 4, 4] = np.inf  # on the diagonal: never used, never counted
    ds = make(c2=c2, source=Path("/data/run7.h5"))  # default: accepted and counted
    assert ds.n_nonfinite.tolist() == [0, 2, 0]
    with pytest.raises(DataError) as err:
        make(c2=c2, source=Path("/data/run7.h5"), nonfinite="error")
    msg = str(err.value)
    assert "/data/run7.h5" in msg
    assert "angle 1 (phi = 0 deg): 2 NaN/inf" in msg
    assert "angle 0" not in msg and "angle 2" not in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"c2": np.ones((5, 5))}, "shape (n_angles, n, n)"),
        ({"c2": np.ones((3, 5, 4))}, "shape (n_angles, n, n)"),
        ({"c2": np.ones((0, 5, 5))}, "no angle"),
        ({"phi": [1.0, 2.0]}, "phi has 2 values"),
        ({"phi": [1.0, np.nan, 2.0]}, "non-finite"),
        ({"frames": (3, 8)}, "give 6"),
        ({"frames": (0, 4)}, "1 <= start <= end"),
        ({"frames": (7, 3)}, "1 <= start <= end"),
        ({"frames": (3.5, 7)}, "integers"),
        ({"frames": 3}, "(start, end) pair"),
        ({"q": 0.0}, "q must be"),
        ({"q": np.nan}, "q must be"),
        ({"dt": -0.1}, "dt must be"),
        ({"layout": "aps_x"}, "unknown layout"),
        ({"sigma": [0.1, 0.2]}, "one value per angle"),
        ({"sigma": [0.1, -0.2, 0.1]}, "positive"),
        ({"c2": np.full((3, 5, 5), "a")}, "real numbers"),
    ],
)
def test_invalid_fields_raise_data_error(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataError) as err:
        make(**overrides)
    assert fragment in str(err.value)


def test_a_single_frame_is_rejected_because_it_has_no_pair() -> None:
    with pytest.raises(DataError, match="at least 2 frames"):
        make(n=1, frames=(4, 4))


def test_asymmetric_matrices_are_rejected() -> None:
    c2 = random_symmetric_stack((3,), 5)
    c2[2, 0, 1] += 1e-3
    with pytest.raises(DataError, match=r"angle 2 .* not symmetric"):
        make(c2=c2)


def test_scalar_sigma_is_broadcast_per_angle() -> None:
    ds = make(sigma=0.01)
    np.testing.assert_array_equal(ds.sigma, [0.01, 0.01, 0.01])


def test_select_angles_by_indices_keeps_their_order_and_copies() -> None:
    ds = make(n_angles=4, sigma=[0.1, 0.2, 0.3, 0.4])
    sub = ds.select_angles([3, 1])
    np.testing.assert_array_equal(sub.c2, ds.c2[[3, 1]])
    np.testing.assert_array_equal(sub.phi, ds.phi[[3, 1]])
    np.testing.assert_array_equal(sub.sigma, [0.4, 0.2])
    assert not np.shares_memory(sub.c2, ds.c2)
    assert (sub.q, sub.dt, sub.frames) == (ds.q, ds.dt, ds.frames)


def test_select_angles_by_mask() -> None:
    ds = make(n_angles=4)
    sub = ds.select_angles(np.array([True, False, True, False]))
    np.testing.assert_array_equal(sub.phi, ds.phi[[0, 2]])


@pytest.mark.parametrize(
    ("selection", "fragment"),
    [
        ([], "empty"),
        (np.zeros(4, dtype=bool), "empty"),
        (np.ones(3, dtype=bool), "mask has shape"),
        ([4], "out of range"),
        ([0.5], "boolean mask or integer"),
    ],
)
def test_select_angles_rejects_bad_selections(selection: object, fragment: str) -> None:
    with pytest.raises(DataError) as err:
        make(n_angles=4).select_angles(selection)  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_select_frames_is_a_window_of_absolute_frame_numbers() -> None:
    ds = make(n=5, frames=(3, 7))
    sub = ds.select_frames((4, 6))
    assert sub.frames == (4, 6)
    np.testing.assert_allclose(sub.t, [0.4, 0.5, 0.6])
    np.testing.assert_array_equal(sub.c2, ds.c2[:, 1:4, 1:4])
    assert np.shares_memory(sub.c2, ds.c2)
    with pytest.raises(DataError, match="not a window"):
        ds.select_frames((2, 6))
    with pytest.raises(DataError, match="not a window"):
        ds.select_frames((6, 4))


def test_decimate_keeps_every_kth_frame_at_its_true_time() -> None:
    ds = make(n=5, frames=(3, 7))
    dec = ds.decimate(2)
    assert dec.frames == (3, 7) and dec.frame_step == 2 and dec.n_frames == 3
    np.testing.assert_allclose(dec.t, [0.3, 0.5, 0.7])
    np.testing.assert_array_equal(dec.c2, ds.c2[:, ::2, ::2])
    dec3 = ds.decimate(3)  # frames 3 and 6: the window ends at the last kept frame
    assert dec3.frames == (3, 6)
    np.testing.assert_allclose(dec3.t, [0.3, 0.6])
    np.testing.assert_allclose(dec.select_frames((5, 7)).t, [0.5, 0.7])
    with pytest.raises(DataError, match="not a window"):
        dec.select_frames((4, 7))  # frame 4 is not held after decimation
    with pytest.raises(DataError, match="step must be >= 1"):
        ds.decimate(0)


def test_frame_step_must_divide_the_window() -> None:
    c2 = random_symmetric_stack((1,), 3)
    with pytest.raises(DataError, match="multiple of the step"):
        Dataset(c2=c2, phi=np.zeros(1), q=0.005, dt=0.1, frames=(1, 6), frame_step=2)
    ds = Dataset(c2=c2, phi=np.zeros(1), q=0.005, dt=0.1, frames=(1, 5), frame_step=2)
    np.testing.assert_allclose(ds.t, [0.1, 0.3, 0.5])


def test_nan_on_the_diagonal_only_is_accepted_even_when_strict() -> None:
    c2 = random_symmetric_stack((3,), 5)
    c2[0, 3, 3] = np.nan
    ds = make(c2=c2, nonfinite="error")
    assert ds.n_nonfinite.tolist() == [0, 0, 0]


def test_unmirrored_nan_is_a_symmetry_error() -> None:
    c2 = random_symmetric_stack((3,), 5)
    c2[0, 1, 4] = np.nan  # c2[0, 4, 1] stays finite
    with pytest.raises(DataError, match="not symmetric"):
        make(c2=c2)
