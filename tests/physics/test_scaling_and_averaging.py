"""The classical fit's scaling step and the static-isotropic average, by hand.

``Engine.initial_scaling`` profiles contrast and offset out of the fit: per angle (one
pair per sector) or shared (one pair for all). ``isotropic_average`` turns the sectors of a
static isotropic measurement into one data set. The references are plain least squares
(``numpy.linalg.lstsq``) and means computed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from homodyne import model
from homodyne.optimization.engine import Engine
from homodyne.parameters import default_parameters
from homodyne.problem import Problem, isotropic_average

TRUTH = np.array([2500.0, -0.2, 15.0, 8e-4, -0.3, 1e-4, 4.0])
PHI = np.array([0.0, 50.0, 90.0])
T = 0.2 * np.arange(1, 11)
Q = 0.0054


def _problem(scaling: str, contrast, offset, sigma=(0.01, 0.02, 0.04)) -> Problem:
    c2 = model.c2_matrix(
        TRUTH, T, PHI, Q, 2e6, np.asarray(contrast), np.asarray(offset), "laminar_flow"
    )
    return Problem.from_arrays(
        c2, T, PHI, Q, default_parameters("laminar_flow"),
        noise_model="fixed", sigma=np.asarray(sigma), scaling_mode=scaling,
    )  # fmt: skip


def _lstsq(g: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    A = np.column_stack([g, np.ones_like(g)])
    c, o = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(c), float(o)


def test_per_angle_scaling_recovers_each_sector() -> None:
    contrast, offset = [0.2, 0.31, 0.12], [1.0, 0.97, 1.04]
    prob = _problem("per_angle", contrast, offset)
    eng = Engine(prob)
    con, off = eng.initial_scaling(TRUTH)
    np.testing.assert_allclose(con, contrast, rtol=1e-9)
    np.testing.assert_allclose(off, offset, rtol=1e-12)
    # the same with the model values passed in
    g = model.g1_squared_pairs(
        TRUTH, prob.t, prob.phi, Q, prob.gap, prob.iu, prob.ju, "laminar_flow"
    )
    con2, off2 = eng.initial_scaling(TRUTH, g)
    np.testing.assert_allclose(con2, contrast, rtol=1e-9)
    np.testing.assert_allclose(off2, offset, rtol=1e-12)


def test_shared_scaling_is_the_pooled_least_squares() -> None:
    """Sectors with different true scalings: one pair, fitted to all of them at once."""
    prob = _problem("shared", [0.2, 0.31, 0.12], [1.0, 0.97, 1.04])
    eng = Engine(prob)
    con, off = eng.initial_scaling(TRUTH)
    assert con.shape == off.shape == (1,)
    g = model.g1_squared_pairs(
        TRUTH, prob.t, prob.phi, Q, prob.gap, prob.iu, prob.ju, "laminar_flow"
    )
    c, o = _lstsq(g.ravel(), prob.data.ravel())
    assert con[0] == pytest.approx(c, rel=1e-9) and off[0] == pytest.approx(o, rel=1e-12)
    # not the fit of any single sector
    for a in range(3):
        assert abs(_lstsq(g[a], prob.data[a])[0] - c) > 1e-3


def test_scaling_is_kept_inside_the_bounds() -> None:
    """A true contrast above contrast_max (1.0) is returned at the bound, per angle."""
    prob = _problem("per_angle", [0.2, 1.4, 0.12], [1.0, 0.97, 1.04])
    con, off = Engine(prob).initial_scaling(TRUTH)
    assert con[1] == prob.contrast_bounds[1]
    assert prob.offset_bounds[0] <= off[1] <= prob.offset_bounds[1]
    np.testing.assert_allclose(con[[0, 2]], [0.2, 0.12], rtol=1e-9)


@pytest.mark.parametrize("scaling", ["per_angle", "shared"])
def test_profiled_chi2_is_the_weighted_cost_at_the_profiled_scaling(scaling: str) -> None:
    rng = np.random.default_rng(3)
    prob = _problem(scaling, [0.2, 0.31, 0.12], [1.0, 0.97, 1.04])
    prob.data = prob.data + rng.normal(0.0, 0.01, prob.data.shape)
    eng = Engine(prob)
    th = TRUTH * np.array([1.1, 1.0, 0.9, 1.0, 1.0, 1.2, 1.0])
    g = model.g1_squared_pairs(th, prob.t, prob.phi, Q, prob.gap, prob.iu, prob.ju, "laminar_flow")
    if scaling == "per_angle":
        co = np.array([_lstsq(g[a], prob.data[a]) for a in range(3)])
    else:
        co = np.array([_lstsq(g.ravel(), prob.data.ravel())] * 3)
    r = (co[:, 1:2] + co[:, 0:1] * g - prob.data) / prob.sigma[:, None]
    before = eng.n_eval
    assert eng.profiled_chi2(th) == pytest.approx(float(np.sum(r * r)), rel=1e-9)
    eng.profiled_chi2(th)
    assert eng.n_eval == before + 2


def test_isotropic_average_by_hand() -> None:
    c2 = np.stack([np.full((4, 4), v) for v in (1.1, 1.2, 1.6)])
    c2[1, 0, 3] = 2.0  # (1.1 + 2.0 + 1.6) / 3
    avg, phi = isotropic_average(c2, np.array([0.0, 40.0, 95.0]))
    assert avg.shape == (1, 4, 4) and phi.shape == (1,)
    want = np.full((4, 4), 1.3)
    want[0, 3] = 4.7 / 3
    np.testing.assert_allclose(avg[0], want, rtol=1e-15)
    assert phi[0] == pytest.approx(45.0, rel=1e-15)
    # integer input is averaged in floating point
    avg, _ = isotropic_average(np.array([[[1, 2]], [[2, 5]]]), np.array([0, 1]))
    np.testing.assert_array_equal(avg, [[[1.5, 3.5]]])
