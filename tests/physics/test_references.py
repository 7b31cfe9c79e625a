"""The package's model against references it did not compute.

Every expected value here comes from :mod:`tests.physics.reference` (quadrature of the
rates and a per-pair loop), from numbers worked out by hand in the test, or from
high-precision arithmetic (mpmath). None is produced by :mod:`homodyne.model`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from homodyne import model
from homodyne.config import config_from_dict, template
from homodyne.data.dataset import Dataset
from homodyne.parameters import default_parameters
from homodyne.problem import Problem

from . import reference as ref

Q, GAP = 0.0054, 2.0e6

#: Laminar points whose shear factor matters at q L / 2 = 5400 over a 3 s window.
LAMINAR_POINTS = {
    "aging+flow": {
        "D0": 1324.1,
        "alpha": -0.3,
        "D_offset": 20.0,
        "gamma_dot_t0": 0.002,
        "beta": -0.4,
        "gamma_dot_t_offset": 1.5e-4,
        "phi0": 7.0,
    },
    # alpha = -1 (J ∝ 1/t: the logarithmic antiderivative), beta just off -1 (series branch)
    "log-branch": {
        "D0": 150.0,
        "alpha": -1.0,
        "D_offset": 3.0,
        "gamma_dot_t0": 0.001,
        "beta": -1.0 + 3e-7,
        "gamma_dot_t_offset": 0.0,
        "phi0": -4.0,
    },
    # J changes sign inside the window (per-pair |∫J| branch), shear rate grows with t
    "sign-change": {
        "D0": 400.0,
        "alpha": 0.5,
        "D_offset": -500.0,
        "gamma_dot_t0": 4e-4,
        "beta": 0.7,
        "gamma_dot_t_offset": -2e-4,
        "phi0": 3.0,
    },
}
#: Angles 90° and 180° apart, a sector across the 0/360 seam, and unrelated angles.
ANGLES = [0.0, 90.0, 180.0, 270.0, 45.0, 225.0, -10.0, 350.0, 10.0, 100.0]


def _vector(p: dict[str, float], mode: str) -> list[float]:
    return [p[name] for name in model.MODES[mode]]


def _times(n: int = 30, dt: float = 0.1, first: int = 1) -> np.ndarray:
    return dt * np.arange(first, first + n, dtype=float)


@pytest.fixture(scope="module", params=sorted(LAMINAR_POINTS))
def laminar_case(request: pytest.FixtureRequest):
    p = LAMINAR_POINTS[request.param]
    t = _times()
    pairs = ref.upper_pairs(t.size)
    expected = ref.g1_squared(p, t, ANGLES, Q, GAP, pairs, "laminar_flow")
    return p, t, pairs, expected


def test_reference_has_a_real_shear_signal(laminar_case) -> None:
    """The reference cases are not trivial: angles 90° apart differ by a lot."""
    _, _, _, expected = laminar_case
    assert np.max(np.abs(expected[0] - expected[1])) > 0.05
    assert np.max(np.abs(expected[0] - expected[4])) > 0.05


def test_traced_path_equals_quadrature(laminar_case) -> None:
    p, t, pairs, expected = laminar_case
    iu = np.array([i for i, _ in pairs])
    ju = np.array([j for _, j in pairs])
    got = model.g1_squared_pairs(
        _vector(p, "laminar_flow"), t, np.array(ANGLES), Q, GAP, iu, ju, "laminar_flow"
    )
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("jacobian", [False, True])
def test_classical_path_equals_quadrature(laminar_case, jacobian: bool) -> None:
    p, t, pairs, expected = laminar_case
    iu = np.array([i for i, _ in pairs])
    ju = np.array([j for _, j in pairs])
    got, _ = model.g1_squared_pairs_and_jacobian(
        _vector(p, "laminar_flow"),
        t,
        np.array(ANGLES),
        Q,
        GAP,
        iu,
        ju,
        "laminar_flow",
        jacobian=jacobian,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_problem_c2_equals_quadrature_with_per_angle_scaling(laminar_case) -> None:
    """The whole chain data → Problem → c2, with a different contrast/offset per angle."""
    p, t, _pairs, expected = laminar_case
    n = t.size
    contrast = np.linspace(0.1, 0.4, len(ANGLES))
    offset = np.linspace(0.9, 1.1, len(ANGLES))
    stack = np.ones((len(ANGLES), n, n))
    params = default_parameters("laminar_flow")
    prob = Problem.from_arrays(stack, t, ANGLES, Q, params, gap=GAP, noise_model="unit")
    got = prob.c2(np.array(_vector(p, "laminar_flow")), contrast, offset)
    want = offset[:, None] + contrast[:, None] * expected
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_phi0_rotates_the_angle_that_sees_no_flow() -> None:
    """At φ = φ0 + 90° the shear factor is 1 (static); at φ = φ0 it is not."""
    p = dict(LAMINAR_POINTS["aging+flow"], phi0=-25.0)
    t = _times(12)
    pairs = ref.upper_pairs(t.size)
    iu = np.array([i for i, _ in pairs])
    ju = np.array([j for _, j in pairs])
    phis = np.array([65.0, 245.0, -25.0])
    got = model.g1_squared_pairs(
        _vector(p, "laminar_flow"), t, phis, Q, GAP, iu, ju, "laminar_flow"
    )
    static = ref.g1_squared(p, t, [0.0], Q, GAP, pairs, "static_anisotropic")[0]
    np.testing.assert_allclose(got[0], static, rtol=1e-12)
    np.testing.assert_allclose(got[1], static, rtol=1e-12)
    assert np.max(static - got[2]) > 0.05


def test_window_keeps_the_time_origin() -> None:
    """Frames 101..130 are at t = 10.1..13.0 s: the aging decay there is the reference's."""
    p = LAMINAR_POINTS["aging+flow"]
    t = _times(first=101)
    pairs = ref.upper_pairs(t.size, max_lag=6)
    expected = ref.g1_squared(p, t, [0.0, 90.0], Q, GAP, pairs, "laminar_flow")
    iu, ju = model.triangle_indices(t.size, 6)
    got = model.g1_squared_pairs(
        _vector(p, "laminar_flow"), t, np.array([0.0, 90.0]), Q, GAP, iu, ju, "laminar_flow"
    )
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-13)


# --------------------------------------------------------------------------- hand-computed
def test_static_single_exponential_by_hand() -> None:
    """alpha = 0, D_offset = 0: c2 = offset + contrast exp(-q² D0 |t2 - t1|) (physics.md §5)."""
    t = np.array([0.5, 1.0, 2.0])
    d0, q = 1000.0, 0.01  # q² D0 = 0.1 per second
    c2 = model.c2_matrix([d0, 0.0, 0.0], t, np.array([0.0]), q, GAP, 0.2, 1.0, "static_isotropic")
    # lags 0.5, 1.5 and 1.0 s
    assert c2[0, 0, 1] == pytest.approx(1.0 + 0.2 * math.exp(-0.05), rel=1e-14)
    assert c2[0, 0, 2] == pytest.approx(1.0 + 0.2 * math.exp(-0.15), rel=1e-14)
    assert c2[0, 1, 2] == pytest.approx(1.0 + 0.2 * math.exp(-0.10), rel=1e-14)
    assert c2[0, 2, 1] == c2[0, 1, 2]
    np.testing.assert_allclose(np.diag(c2[0]), 1.2, rtol=0, atol=1e-15)


def test_power_law_integral_by_hand() -> None:
    """J = 3 t² + 1 from 1 to 2 s: ∫ = (8 - 1) + 1 = 8 Å²; q² = 1e-2 gives exp(-0.08)."""
    t = np.array([1.0, 2.0])
    got = model.g1_squared_pairs(
        [3.0, 2.0, 1.0],
        t,
        np.array([0.0]),
        0.1,
        GAP,
        np.array([0]),
        np.array([1]),
        "static_isotropic",
    )
    assert got[0, 0] == pytest.approx(math.exp(-0.08), rel=1e-14)


def test_constant_shear_zeros_by_hand() -> None:
    """J = 0, gdot constant: sinc² vanishes where q L |cos φ| gdot τ / 2 = π (physics.md §5)."""
    q, gap, gdot = 0.01, 1.0e4, 0.05  # q L / 2 = 50; at φ = 0 x = 2.5 τ
    tau = math.pi / 2.5
    t = np.array([1.0, 1.0 + tau, 1.0 + 2 * tau, 1.0 + tau / 2])
    params = [1e-30, 0.0, 0.0, 1e-30, 0.0, gdot, 0.0]
    iu, ju = np.array([0, 0, 0]), np.array([1, 2, 3])
    got = model.g1_squared_pairs(params, t, np.array([0.0, 60.0]), q, gap, iu, ju, "laminar_flow")
    assert abs(got[0, 0]) < 1e-28 and abs(got[0, 1]) < 1e-28  # x = π and 2π
    assert got[0, 2] == pytest.approx((math.sin(math.pi / 2) / (math.pi / 2)) ** 2, rel=1e-13)
    # at 60°, cos = 1/2: x = π/2 at lag τ
    assert got[1, 0] == pytest.approx((2 / math.pi) ** 2, rel=1e-13)


def _static_config(mode: str):
    cfg = template(mode, data_file=None)
    cfg["noise"]["model"] = "unit"
    return config_from_dict(cfg)


def test_static_isotropic_averages_every_angle_by_hand() -> None:
    """Three sectors with constant c2 1.1, 1.2 and 1.6 average to 1.3 on every pair."""
    n = 8
    levels = np.array([1.1, 1.2, 1.6])
    c2 = levels[:, None, None] * np.ones((3, n, n))
    c2[2, 0, 5] = c2[2, 5, 0] = 1.9  # one pair differs: (1.1 + 1.2 + 1.9) / 3 = 1.4
    ds = Dataset(c2=c2, phi=np.array([0.0, 40.0, 90.0]), q=Q, dt=0.1, frames=(1, n))
    prob = Problem.from_config(_static_config("static_isotropic"), ds)
    assert prob.n_angles == 1 and prob.data.shape == (1, n * (n - 1) // 2)
    index = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(prob.iu, prob.ju, strict=True))}
    expect = np.full(prob.n_pairs, 1.3)
    expect[index[(0, 5)]] = 1.4
    np.testing.assert_allclose(prob.data[0], expect, rtol=1e-15)


def test_static_anisotropic_keeps_each_angle_and_shares_the_decay() -> None:
    """Each sector keeps its own data and scaling; the physics is the same at every angle."""
    n = 6
    phi = np.array([0.0, 90.0, 180.0])
    c2 = np.stack([np.full((n, n), 1.0 + 0.1 * (a + 1)) for a in range(3)])
    ds = Dataset(c2=c2, phi=phi, q=0.01, dt=0.5, frames=(1, n))
    prob = Problem.from_config(_static_config("static_anisotropic"), ds)
    np.testing.assert_array_equal(prob.phi, phi)
    np.testing.assert_allclose(prob.data[:, 0], [1.1, 1.2, 1.3])
    # D0 = 1000, q = 0.01: exp(-0.1 per s); pair (0, 2) is 1 s apart
    contrast, offset = np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.9, 1.1])
    model_c2 = prob.c2(np.array([1000.0, 0.0, 0.0]), contrast, offset)
    k = int(np.nonzero((prob.iu == 0) & (prob.ju == 2))[0][0])
    np.testing.assert_allclose(model_c2[:, k], offset + contrast * math.exp(-0.1), rtol=1e-14)


def test_max_lag_selects_the_band_of_pairs() -> None:
    """Only pairs with j - i <= max_lag are data; each is the matrix entry at (i, j)."""
    n, lag = 9, 3
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c2 = np.stack([1.0 + 1e-3 * (ii * n + jj) + 0.01 * a for a in range(2)])
    c2 = np.where(ii < jj, c2, np.transpose(c2, (0, 2, 1)))
    prob = Problem.from_arrays(
        c2,
        _times(n),
        [0.0, 90.0],
        Q,
        default_parameters("static_anisotropic"),
        noise_model="unit",
        max_lag=lag,
    )
    want = ref.upper_pairs(n, max_lag=lag)
    assert list(zip(prob.iu.tolist(), prob.ju.tolist(), strict=True)) == want
    assert prob.n_pairs == sum(n - d for d in range(1, lag + 1))
    for k, (i, j) in enumerate(want):
        assert prob.data[1, k] == pytest.approx(1.01 + 1e-3 * (i * n + j), rel=1e-15)


# --------------------------------------------------------------------------- sinc² series
mpmath = pytest.importorskip("mpmath")


def _sinc2_exact(x: float) -> float:
    with mpmath.workdps(50):
        xm = mpmath.mpf(x)
        return float((mpmath.sin(xm) / xm) ** 2)


#: x across the Taylor branch (|x| < 1e-2), its edge, and just outside it.
SINC_X = np.concatenate(
    [
        np.geomspace(1e-9, 1e-2, 40, endpoint=False),
        [9.999e-3, 1e-2, 1.0001e-2, 2e-2, 0.3, 1.7, 40.0],
    ]
)


def test_sinc_squared_matches_mpmath_to_the_claimed_accuracy() -> None:
    """model._SERIES_X says the series is accurate to < 1e-15 where it is used."""
    xs = np.concatenate([SINC_X, -SINC_X])
    got = model.sinc_squared(xs)
    want = np.array([_sinc2_exact(x) for x in xs])
    err = np.abs(got - want)
    assert err.max() < 1e-15, (xs[err.argmax()], err.max())
    assert model.sinc_squared(np.array([0.0]))[0] == 1.0


@pytest.mark.parametrize("jacobian", [False, True])
def test_classical_series_branch_matches_mpmath(jacobian: bool) -> None:
    """The Taylor branch of the NumPy Jacobian path (x = θ ΔG below 1e-2) against mpmath.

    J ≈ 0 and a constant shear rate make x = θ gdot τ exactly known per pair; lags are
    chosen so x spans the series branch. The path itself is accurate to ~1e-13 here.
    """
    q, gap, gdot = 0.01, 2.0, 1.0  # θ = q L cos(φ0 - φ) / 2 = 0.01 cos(.)
    t = 1.0 + np.array([0.0, 0.05, 0.2, 0.5, 0.8, 0.99])
    params = [1e-30, 0.0, 0.0, 1e-30, 0.0, gdot, 0.0]
    iu, ju = model.triangle_indices(t.size)
    phis = np.array([0.0, 30.0])
    got, _ = model.g1_squared_pairs_and_jacobian(
        params, t, phis, q, gap, iu, ju, "laminar_flow", jacobian=jacobian
    )
    for a, phi in enumerate(phis):
        theta = 0.5 * q * gap * math.cos(math.radians(phi))
        want = [_sinc2_exact(theta * (t[j] - t[i])) for i, j in zip(iu, ju, strict=True)]
        np.testing.assert_allclose(got[a], want, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- scaling
def _scaling_cost(c: float, o: float, g: np.ndarray, y: np.ndarray) -> float:
    r = o + c * g - y
    return float(r @ r)


def _brute_force_scaling(g, y, cb, ob, n_grid: int = 4001) -> tuple[float, float, float]:
    """Grid over contrast; for each contrast the best offset is the clipped mean residual
    (the cost is a convex parabola in the offset), so only the contrast is searched."""
    best = (math.inf, 0.0, 0.0)
    cs = np.linspace(cb[0], cb[1], n_grid)
    os_ = np.clip((y.sum() - cs * g.sum()) / g.size, ob[0], ob[1])
    r = os_[:, None] + cs[:, None] * g[None, :] - y[None, :]
    costs = np.einsum("ij,ij->i", r, r)
    k = int(np.argmin(costs))
    best = (float(costs[k]), float(cs[k]), float(os_[k]))
    # refine around the best grid point
    step = (cb[1] - cb[0]) / (n_grid - 1)
    cs = np.linspace(max(cb[0], best[1] - step), min(cb[1], best[1] + step), 2001)
    os_ = np.clip((y.sum() - cs * g.sum()) / g.size, ob[0], ob[1])
    r = os_[:, None] + cs[:, None] * g[None, :] - y[None, :]
    costs = np.einsum("ij,ij->i", r, r)
    k = int(np.argmin(costs))
    return float(costs[k]), float(cs[k]), float(os_[k])


def test_profile_scaling_beats_a_brute_force_bounded_search() -> None:
    """400 random cases, many with the truth outside the bounds (active edges and corners)."""
    from homodyne.optimization.classical import profile_scaling

    rng = np.random.default_rng(20240611)
    cb, ob = (1e-4, 1.0), (0.5, 1.5)
    worse = []
    for case in range(400):
        m = int(rng.integers(5, 60))
        g = np.exp(-rng.uniform(0.0, 5.0) * rng.uniform(0, 1, m))  # decays in (0, 1]
        if case % 4 == 0:
            g = rng.uniform(-0.2, 1.2, m)
        c_true = rng.uniform(-0.5, 1.8)
        o_true = rng.uniform(0.2, 1.8)
        y = o_true + c_true * g + rng.normal(0, rng.uniform(0.001, 0.3), m)
        c, o = profile_scaling(g, y, 1.0, cb, ob)
        assert cb[0] <= c <= cb[1] and ob[0] <= o <= ob[1], (case, c, o)
        got = _scaling_cost(c, o, g, y)
        best, _, _ = _brute_force_scaling(g, y, cb, ob)
        if got > best * (1 + 1e-9) + 1e-12:
            worse.append((case, got, best))
    assert not worse, f"{len(worse)} of 400 cases worse than the brute-force search: {worse[:3]}"


def test_profile_scaling_matches_an_independent_bounded_solver() -> None:
    """scipy's bounded linear least squares gives the same minimiser where it is unique."""
    from scipy.optimize import lsq_linear

    from homodyne.optimization.classical import profile_scaling

    rng = np.random.default_rng(99)
    cb, ob = (1e-4, 1.0), (0.5, 1.5)
    for _ in range(100):
        m = 40
        g = np.exp(-rng.uniform(0.5, 4.0) * np.linspace(0, 1, m))
        y = rng.uniform(0.3, 1.7) + rng.uniform(-0.4, 1.6) * g + rng.normal(0, 0.02, m)
        sol = lsq_linear(
            np.stack([g, np.ones(m)], axis=1),
            y,
            bounds=([cb[0], ob[0]], [cb[1], ob[1]]),
            method="bvls",
            tol=1e-14,
        )
        c, o = profile_scaling(g, y, 1.0, cb, ob)
        np.testing.assert_allclose([c, o], sol.x, rtol=1e-7, atol=1e-9)


def test_negative_rate_warnings_count_the_frames_by_hand() -> None:
    """J = 2√t - 3.5 on t = 1, 2, 4, 9 s: -1.5, -0.67, 0.5, 2.5 (two negative, min -1.5);
    gdot = 1e-3/t - 3e-4: 7e-4, 2e-4, -5e-5, -1.89e-4 (two negative, min -1.889e-4)."""
    t = np.array([1.0, 2.0, 4.0, 9.0])
    params = [2.0, 0.5, -3.5, 1e-3, -1.0, -3e-4, 0.0]
    warn = model.negative_rate_warnings(params, t, "laminar_flow")
    assert len(warn) == 2
    assert "negative on 2 of 4 frame times (min -1.5 Å²/s)" in warn[0]
    assert warn[1].startswith("gdot(t) is negative on 2 of 4 frame times (min -0.0001889 1/s)")
    assert model.negative_rate_warnings(params[:3], t, "static_isotropic") == warn[:1]
    assert (
        model.negative_rate_warnings([2.0, 0.5, 0.0, 1e-3, -1.0, 0.0, 0.0], t, "laminar_flow") == []
    )


def test_a_rate_of_exactly_zero_is_not_negative() -> None:
    """J(1 s) = 2 - 2 = 0 and gdot(1 s) = 1e-3 - 1e-3 = 0: no warning at the boundary."""
    t = np.array([1.0, 4.0])
    assert model.negative_rate_warnings(
        [2.0, 0.5, -2.0, 1e-3, -1.0, -1e-3, 0.0], t, "laminar_flow"
    ) == [
        "gdot(t) is negative on 1 of 2 frame times (min -0.00075 1/s); the accumulated strain is used as written."
    ]


def test_from_arrays_defaults_and_input_checks() -> None:
    """One (n, n) matrix is one angle; the default gap is 2e6 Å (a 200 µm cell); shape
    mismatches name what disagrees."""
    from homodyne.errors import DataError

    params = default_parameters("static_isotropic")
    t = _times(5)
    one = np.ones((5, 5))
    prob = Problem.from_arrays(one, t, 0.0, Q, params, noise_model="unit")
    assert prob.data.shape == (1, 10) and prob.gap == 2.0e6 and prob.phi.tolist() == [0.0]
    with pytest.raises(DataError, match=r"c2 must have shape \(n_angles, n, n\); got \(1, 5, 4\)"):
        Problem.from_arrays(np.ones((1, 5, 4)), t, [0.0], Q, params, noise_model="unit")
    with pytest.raises(DataError, match="c2 holds 1 angles but 2 angles were given"):
        Problem.from_arrays(one, t, [0.0, 1.0], Q, params, noise_model="unit")
    with pytest.raises(DataError, match="c2 matrices are 5 x 5 but 4 frame times were given"):
        Problem.from_arrays(one, t[:4], [0.0], Q, params, noise_model="unit")


@pytest.mark.parametrize("u", [0.0, 5e-7, -8e-7, 2e-6, -0.3, 0.7])
def test_exponent_derivative_of_the_antiderivative_matches_mpmath(u: float) -> None:
    """d/du [(exp(u ln t) - 1) / u] (the Jacobian's column for alpha and beta), through the
    series branch (|u| < 1e-6) and outside it, against mpmath's derivative at 40 digits."""
    log_t = np.log(np.array([0.1, 0.7, 2.0, 50.0, 400.0]))

    def h(uu, lt):
        return mpmath.expm1(uu * lt) / uu if uu != 0 else lt

    want = []
    with mpmath.workdps(40):
        for lt in log_t:
            lt_m = mpmath.mpf(float(lt))
            if u == 0.0:
                want.append(float(lt_m**2 / 2))
            else:
                want.append(float(mpmath.diff(lambda x, lt_m=lt_m: h(x, lt_m), mpmath.mpf(u))))
    got = model._antiderivative_du(log_t, u - 1.0)
    # just outside the series branch the closed form loses digits to cancellation
    # ((L e^{uL} - h) / u at u = 2e-6: ~1e-10 relative); elsewhere it is near round-off
    rtol = 1e-9 if 1e-6 <= abs(u) < 1e-3 else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([0.0, 0.1, 0.2, 0.3], "frame times must be positive and increasing"),
        ([0.1, 0.3, 0.2, 0.4], "frame times must be positive and increasing"),
        ([0.1, 0.2, 0.2, 0.4], "frame times must be positive and increasing"),
    ],
)
def test_from_arrays_rejects_bad_frame_times(times: list[float], match: str) -> None:
    from homodyne.errors import DataError

    with pytest.raises(DataError, match=match):
        Problem.from_arrays(
            np.ones((4, 4)),
            times,
            0.0,
            Q,
            default_parameters("static_isotropic"),
            noise_model="unit",
        )


def test_from_arrays_frame_stride_and_bad_values() -> None:
    """frame_stride keeps frames 0, 2, 4, ...; too few frames and NaN/inf are refused with
    the angle and count named."""
    from homodyne.errors import DataError

    n = 7
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c2 = (1.0 + 1e-3 * np.minimum(ii, jj) + 1e-4 * np.maximum(ii, jj))[None]
    params = default_parameters("static_isotropic")
    prob = Problem.from_arrays(c2, _times(n), [0.0], Q, params, noise_model="unit", frame_stride=2)
    np.testing.assert_allclose(prob.t, _times(n)[::2])
    kept = [0, 2, 4, 6]
    want = [1.0 + 1e-3 * kept[i] + 1e-4 * kept[j] for i, j in ref.upper_pairs(4)]
    np.testing.assert_allclose(prob.data[0], want, rtol=1e-15)
    assert prob.frame_stride == 2
    with pytest.raises(DataError, match="at least 3 frames are needed to fit, got 2"):
        Problem.from_arrays(c2, _times(n), [0.0], Q, params, noise_model="unit", frame_stride=4)
    bad = np.repeat(c2, 2, axis=0)
    bad[1, 0, 3] = np.nan
    bad[1, 1, 2] = np.inf
    with pytest.raises(
        DataError, match=r"c2 contains 2 NaN/inf values off the diagonal \(angle 90°: 2\)"
    ):
        Problem.from_arrays(
            bad, _times(n), [0.0, 90.0], Q, params, noise_model="unit", nonfinite="raise"
        )
    masked = Problem.from_arrays(bad, _times(n), [0.0, 90.0], Q, params, noise_model="unit")
    assert masked.n_pairs == n * (n - 1) // 2 - 2  # the two pairs left out at every angle


@pytest.mark.parametrize("case", ["series-branch", "decreasing-F"])
def test_jacobian_where_the_other_tests_do_not_reach(case: str) -> None:
    """The analytic Jacobian against central differences of the traced model: in the Taylor
    branch of sinc² (|x| < 1e-2, where its derivative has its own series) and where J < 0
    makes F decrease (the sign of d|ΔF|)."""
    t = _times(8)
    if case == "series-branch":  # θ ΔG stays below 1e-2 for every pair
        p = [800.0, -0.3, 5.0, 2e-7, -0.2, 1e-7, 2.0]
    else:  # J = 50 t^0.5 - 90 < 0 on the window; |x| up to a few
        p = [50.0, 0.5, -90.0, 2e-4, -0.4, 5e-5, 2.0]
    phis = np.array([0.0, 60.0])
    iu, ju = model.triangle_indices(t.size)
    _g, jac = model.g1_squared_pairs_and_jacobian(p, t, phis, Q, GAP, iu, ju, "laminar_flow")
    if case == "series-branch":
        x = 0.5 * Q * GAP * np.cos(np.radians(2.0 - phis))
        assert np.all(np.abs(x[:, None] * 2e-7 * 0.8 * 10) < 1e-2)
    for k in range(7):
        # the shear columns are ~1e-7 in the series branch: a wider step keeps round-off
        # of the ~1 values of g1² below the tolerance
        rel = 1e-3 if (case == "series-branch" and k >= 3) else 1e-6
        h = rel * max(abs(p[k]), 1e-3)
        up, down = list(p), list(p)
        up[k] += h
        down[k] -= h
        fd = (
            model.g1_squared_pairs(up, t, phis, Q, GAP, iu, ju, "laminar_flow")
            - model.g1_squared_pairs(down, t, phis, Q, GAP, iu, ju, "laminar_flow")
        ) / (2 * h)
        scale = np.abs(fd).max() + 1e-300
        np.testing.assert_allclose(jac[k] / scale, fd / scale, atol=1e-5, err_msg=str(k))
