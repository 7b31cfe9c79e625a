"""filter_angles: closed intervals, wrapping modulo 360°, fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from homodyne.data import DEFAULT_ANGLE_RANGES, filter_angles, in_angle_range
from homodyne.errors import ConfigError, DataError

PHI = np.array([-8.5, -3.2, 1.9, 7.4, 45.0, 90.0, 171.6, 176.8, 182.1, 187.3, 270.0])


def test_default_ranges_keep_the_flow_angles() -> None:
    idx = filter_angles(PHI, DEFAULT_ANGLE_RANGES)
    np.testing.assert_array_equal(PHI[idx], [-8.5, -3.2, 1.9, 7.4, 171.6, 176.8, 182.1, 187.3])
    assert idx.dtype == np.intp


def test_bounds_are_inclusive() -> None:
    phi = [-10.0, 10.0, 10.000001, -10.000001, 170.0, 190.0]
    np.testing.assert_array_equal(filter_angles(phi, [(-10, 10), (170, 190)]), [0, 1, 4, 5])


@pytest.mark.parametrize(
    ("angle", "lo", "hi", "inside"),
    [
        (350.0, -10, 10, True),
        (-350.0, -10, 10, True),
        (370.0, -10, 10, True),
        (349.9, -10, 10, False),
        (-170.0, 170, 190, True),
        (-190.0, 170, 190, True),
        (530.0, 170, 190, True),
        (-169.9, 170, 190, False),
        (-90.0, 260, 280, True),
        (720.0, 0, 0, True),
        (123.4, -180, 180, True),
        (5.0, 350, 370, True),
    ],
)
def test_angles_wrap_modulo_360(angle: float, lo: float, hi: float, inside: bool) -> None:
    assert bool(in_angle_range([angle], lo, hi)[0]) is inside
    if inside:
        assert filter_angles([angle], [(lo, hi)], fallback="error").tolist() == [0]
    else:
        with pytest.raises(DataError):
            filter_angles([angle], [(lo, hi)], fallback="error")


def test_overlapping_ranges_give_each_index_once_in_order() -> None:
    idx = filter_angles(PHI, [(170, 180), (-10, 175), (-30, 0)])
    np.testing.assert_array_equal(idx, np.flatnonzero((PHI >= -30) & (PHI <= 180)))


def test_empty_ranges_mean_no_filtering() -> None:
    np.testing.assert_array_equal(filter_angles(PHI, []), np.arange(PHI.size))


def test_no_match_falls_back_to_all_angles_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="homodyne.data"):
        idx = filter_angles([30.0, 60.0], [(-10, 10)])
    np.testing.assert_array_equal(idx, [0, 1])
    assert "no angle of [30.0, 60.0] deg lies in the ranges [(-10.0, 10.0)]" in caplog.text


def test_no_match_can_be_an_error() -> None:
    with pytest.raises(DataError) as err:
        filter_angles([30.0, 60.0], [(-10, 10), (170, 190)], fallback="error")
    msg = str(err.value)
    assert "[30.0, 60.0]" in msg and "(170.0, 190.0)" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "ranges",
    [[(-10, 10, 5)], [(10, -10)], [(np.nan, 10)], [(-10, "x")], (-10, 10), ["ab"]],
)
def test_malformed_ranges_are_config_errors(ranges: object) -> None:
    with pytest.raises(ConfigError):
        filter_angles(PHI, ranges)  # type: ignore[arg-type]


def test_bad_fallback_and_non_finite_angles() -> None:
    with pytest.raises(ConfigError, match="fallback"):
        filter_angles(PHI, [(-10, 10)], fallback="some")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="finite"):
        filter_angles([0.0, np.nan], [(-10, 10)])
