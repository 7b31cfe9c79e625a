"""Problem.from_arrays: what it keeps, masks and refuses, checked on hand-built stacks."""

from __future__ import annotations

import numpy as np
import pytest

from homodyne.errors import DataError
from homodyne.parameters import default_parameters
from homodyne.problem import Problem, estimate_noise

PARAMS = default_parameters("static_anisotropic")


def _stack(n: int, angles: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c2 = 1.0 + 0.01 * rng.normal(size=(angles, n, n))
    return 0.5 * (c2 + np.transpose(c2, (0, 2, 1)))


def _t(n: int) -> np.ndarray:
    return 0.1 * np.arange(1, n + 1)


def test_defaults_estimate_the_noise_and_keep_the_settings() -> None:
    n = 10
    c2 = _stack(n)
    prob = Problem.from_arrays(c2, _t(n), [0.0, 90.0], 0.01, PARAMS)
    assert prob.noise_model == "estimate"
    np.testing.assert_array_equal(prob.sigma, estimate_noise(prob.data, prob.iu, prob.ju, n))
    assert np.all(prob.sigma > 0)
    prob = Problem.from_arrays(
        c2, _t(n), [0.0, 90.0], 0.01, PARAMS, noise_model="unit", scaling_mode="shared",
        contrast_bounds=(0.01, 0.5), offset_bounds=(0.9, 1.1), max_lag=4,
        provenance={"source": "hand"},
    )  # fmt: skip
    assert prob.noise_model == "unit" and prob.scaling_mode == "shared"
    assert prob.contrast_bounds == (0.01, 0.5) and prob.offset_bounds == (0.9, 1.1)
    assert prob.max_lag == 4 and prob.provenance == {"source": "hand"}
    np.testing.assert_array_equal(prob.sigma, [1.0, 1.0])


def test_three_frames_are_enough_two_are_not() -> None:
    prob = Problem.from_arrays(_stack(3), _t(3), [0.0, 90.0], 0.01, PARAMS, noise_model="unit")
    assert prob.n_pairs == 3
    with pytest.raises(DataError, match="at least 3 frames"):
        Problem.from_arrays(_stack(2), _t(2), [0.0, 90.0], 0.01, PARAMS, noise_model="unit")


def test_stride_one_keeps_every_frame() -> None:
    prob = Problem.from_arrays(
        _stack(7), _t(7), [0.0, 90.0], 0.01, PARAMS, noise_model="unit", frame_stride=1
    )
    assert prob.n_frames == 7 and prob.frame_stride == 1


def test_masking_records_what_was_left_out() -> None:
    """n = 4: six pairs; NaN at (0, 1) for angle 0 and at (1, 3), (2, 3) for angle 90."""
    c2 = _stack(4)
    c2[0, 0, 1] = np.nan
    c2[1, 1, 3] = np.inf
    c2[1, 2, 3] = np.nan
    prob = Problem.from_arrays(c2, _t(4), [0.0, 90.0], 0.01, PARAMS, noise_model="unit")
    assert prob.provenance["masked"] == {
        "nonfinite_values": 3,
        "pairs_left_out": 3,
        "per_angle": {"0": 1, "90": 2},
    }
    # exactly three finite pairs remain (the minimum): kept, in order, with their values
    assert list(zip(prob.iu.tolist(), prob.ju.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 2)]
    np.testing.assert_array_equal(prob.data, c2[:, [0, 0, 1], [2, 3, 2]])
    # one more and too few remain
    c2[0, 1, 2] = np.nan
    with pytest.raises(DataError, match=r"4 NaN/inf values off the diagonal .*too few finite"):
        Problem.from_arrays(c2, _t(4), [0.0, 90.0], 0.01, PARAMS, noise_model="unit")
    with pytest.raises(DataError, match=r"angle 0°: 2, angle 90°: 2\); set data.nonfinite"):
        Problem.from_arrays(c2, _t(4), [0.0, 90.0], 0.01, PARAMS, nonfinite="error")


def test_masking_counts_pairs_left_out_not_pairs_kept() -> None:
    c2 = _stack(6)
    c2[0, 0, 5] = np.nan  # one of 15 pairs
    prob = Problem.from_arrays(c2, _t(6), [0.0, 90.0], 0.01, PARAMS, noise_model="unit")
    assert prob.provenance["masked"]["pairs_left_out"] == 1 and prob.n_pairs == 14
