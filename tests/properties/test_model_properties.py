"""Property-based tests (hypothesis) of the model's symmetries and limits.

Parameters are drawn inside the default bounds of docs/physics.rst; every property is a
fact of the physics (docs/physics.rst, physics.md §5), not of the implementation.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from homodyne import model
from tests.physics import reference as ref

Q, GAP = 0.0054, 2.0e6
N = 12

finite = {"allow_nan": False, "allow_infinity": False}
laminar_params = st.fixed_dictionaries(
    {
        "D0": st.floats(1.0, 1e4, **finite),
        "alpha": st.floats(-2.0, 2.0, **finite),
        "D_offset": st.floats(-1.0, 100.0, **finite),
        "gamma_dot_t0": st.floats(1e-6, 1e-2, **finite),
        "beta": st.floats(-2.0, 2.0, **finite),
        "gamma_dot_t_offset": st.floats(-1e-3, 1e-3, **finite),
        "phi0": st.floats(-10.0, 10.0, **finite),
    }
)
#: Angles on a 0.001° grid: angle_groups merges sectors that agree to 1e-9° (by design).
angle = st.integers(-360_000, 360_000).map(lambda k: k / 1000.0)
dt = st.floats(0.01, 0.5, **finite)
first_frame = st.integers(1, 200)

SETTINGS = settings(max_examples=40, deadline=None)


def _vec(p: dict[str, float]) -> list[float]:
    return [p[k] for k in model.MODES["laminar_flow"]]


def _times(step: float, first: int) -> np.ndarray:
    return step * np.arange(first, first + N, dtype=float)


def _g1(p, t, phis, q=Q, mode="laminar_flow", iu=None, ju=None):
    if iu is None:
        iu, ju = model.triangle_indices(t.size)
    vec = _vec(p) if mode == "laminar_flow" else _vec(p)[:3]
    return model.g1_squared_pairs(vec, t, np.asarray(phis, dtype=float), q, GAP, iu, ju, mode)


@SETTINGS
@given(laminar_params, angle, dt, first_frame)
def test_phi_and_phi_plus_180_are_the_same_sector(p, phi, step, first) -> None:
    """cos(φ0 - φ - 180°) = -cos(φ0 - φ) and sinc² is even: evaluated separately, not grouped."""
    t = _times(step, first)
    a = _g1(p, t, [phi])
    b = _g1(p, t, [phi + 180.0])
    c = _g1(p, t, [phi - 360.0])
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(c, a, rtol=1e-9, atol=1e-14)


@SETTINGS
@given(laminar_params, st.lists(angle, min_size=1, max_size=4), dt, first_frame)
def test_many_angles_at_once_equal_one_at_a_time(p, base, step, first) -> None:
    """Any list of angles (with copies shifted by 90°, 180° and 360°) gives, angle by angle,
    what each angle gives alone: the shared evaluation of sectors is exact and merges only
    sectors that really are the same."""
    phis = [*base, *(x + 90.0 for x in base), *(x + 180.0 for x in base), base[0] + 360.0]
    t = _times(step, first)
    together = _g1(p, t, phis)
    for a, phi in enumerate(phis):
        np.testing.assert_allclose(together[a], _g1(p, t, [phi])[0], rtol=1e-12, atol=1e-15)
    iu, ju = model.triangle_indices(t.size)
    classical, _ = model.g1_squared_pairs_and_jacobian(
        _vec(p), t, np.array(phis), Q, GAP, iu, ju, "laminar_flow", jacobian=False
    )
    np.testing.assert_allclose(classical, together, rtol=1e-8, atol=1e-12)


@SETTINGS
@given(laminar_params, angle, dt, first_frame, st.floats(0.01, 1.0), st.floats(0.5, 1.5))
def test_c2_is_symmetric_in_t1_t2_with_contrast_on_the_diagonal(
    p, phi, step, first, contrast, offset
) -> None:
    t = _times(step, first)
    c2 = model.c2_matrix(_vec(p), t, np.array([phi]), Q, GAP, contrast, offset, "laminar_flow")[0]
    np.testing.assert_array_equal(c2, c2.T)
    np.testing.assert_allclose(np.diag(c2), offset + contrast, rtol=1e-15)
    upper = c2[np.triu_indices(N, 1)]
    assert np.all(upper <= offset + contrast + 1e-12) and np.all(upper >= offset - 1e-15)


@SETTINGS
@given(laminar_params, angle, dt, first_frame)
def test_zero_shear_and_the_neutral_angle_are_static(p, phi, step, first) -> None:
    t = _times(step, first)
    static = _g1(p, t, [phi], mode="static_anisotropic")
    no_shear = dict(p, gamma_dot_t0=0.0, gamma_dot_t_offset=0.0)
    np.testing.assert_allclose(_g1(no_shear, t, [phi]), static, rtol=1e-15, atol=0)
    neutral = _g1(p, t, [p["phi0"] + 90.0, p["phi0"] - 90.0])
    np.testing.assert_allclose(neutral, np.vstack([static, static]), rtol=1e-12, atol=1e-300)


@SETTINGS
@given(laminar_params, angle, dt, first_frame)
def test_small_q_limit(p, phi, step, first) -> None:
    """1 - g1² = q² (|∫J| + (L cos(φ0-φ) Γ)² / 12) + O(q⁴) as q → 0 (quadrature reference)."""
    t = _times(step, first)
    pairs = [(0, 1), (0, N - 1), (3, 8)]
    iu = np.array([i for i, _ in pairs])
    ju = np.array([j for _, j in pairs])
    c = math.cos(math.radians(p["phi0"] - phi))
    lead = []
    for i, j in pairs:
        ij = ref.rate_integral(t[i], t[j], p["D0"], p["alpha"], p["D_offset"])
        gam = ref.rate_integral(t[i], t[j], p["gamma_dot_t0"], p["beta"], p["gamma_dot_t_offset"])
        lead.append(abs(ij) + (GAP * c * gam) ** 2 / 12.0)
    lead = np.array(lead)
    # q small enough that q² · lead ≈ 1e-7: the O(q⁴) remainder is ~1e-7 relative
    q = math.sqrt(1e-7 / max(lead.max(), 1e-300))
    got = (1.0 - _g1(p, t, [phi], q=q, iu=iu, ju=ju)[0]) / q**2
    big = lead > 1e-3 * lead.max()  # pairs whose 1 - g1² is resolved in float64
    np.testing.assert_allclose(got[big], lead[big], rtol=2e-5)


@SETTINGS
@given(laminar_params, angle, dt, first_frame)
def test_g1_squared_is_a_decay_in_zero_one(p, phi, step, first) -> None:
    g = _g1(p, _times(step, first), [phi])
    assert np.all(np.isfinite(g)) and np.all(g >= 0) and np.all(g <= 1.0 + 1e-15)
