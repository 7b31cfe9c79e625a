"""The forward model: analytic limits, symmetry, exact integrals, Jacobian, backends."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.integrate import quad

from homodyne import model as M

Q, GAP = 0.0054, 2.0e6
LAMINAR = [1324.1, -0.014, -0.674, 0.003, -0.909, 0.0, 5.0]


def frames(n: int, dt: float = 0.1, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n) * dt


def test_static_single_exponential_limit() -> None:
    """alpha = 0, D_offset = 0: c2 = offset + contrast * exp(-q² D0 |t2 - t1|)."""
    t = frames(50)
    c2 = M.c2_matrix([800.0, 0.0, 0.0], t, [0.0], Q, GAP, 0.3, 1.0, "static_isotropic")[0]
    tau = np.abs(t[:, None] - t[None, :])
    np.testing.assert_allclose(c2, 1.0 + 0.3 * np.exp(-Q * Q * 800.0 * tau), rtol=1e-13)


def test_laminar_perpendicular_equals_static() -> None:
    t = frames(60)
    phi0 = 12.0
    p = [900.0, 0.3, 5.0, 0.02, -0.5, 1e-3, phi0]
    flow = M.c2_matrix(p, t, [phi0 + 90.0, phi0 - 90.0], Q, GAP, 0.2, 1.0, "laminar_flow")
    static = M.c2_matrix(p[:3], t, [0.0], Q, GAP, 0.2, 1.0, "static_isotropic")[0]
    np.testing.assert_allclose(flow[0], static, rtol=1e-12)
    np.testing.assert_allclose(flow[1], static, rtol=1e-12)


def test_constant_shear_sinc_squared_with_zeros() -> None:
    """J = 0, constant shear: c2 - offset = contrast sinc²(q L cos(φ0-φ) gdot τ / 2)."""
    t = frames(80, dt=0.05)
    gdot, phi = 2e-4, 30.0
    p = [1e-12, 0.0, 0.0, gdot, 0.0, 0.0, 0.0]
    c2 = M.c2_matrix(p, t, [phi], Q, GAP, 0.4, 1.0, "laminar_flow")[0]
    tau = t[None, :] - t[:, None]
    x = Q * GAP * np.cos(np.deg2rad(phi)) * gdot * tau / 2
    np.testing.assert_allclose(c2 - 1.0, 0.4 * np.sinc(x / np.pi) ** 2, rtol=1e-9, atol=1e-15)
    # the first zero of sinc² sits at x = π
    tau0 = 2 * np.pi / (Q * GAP * np.cos(np.deg2rad(phi)) * gdot)
    g = M.g1_squared_pairs(
        p,
        np.array([1.0, 1.0 + tau0]),
        np.array([phi]),
        Q,
        GAP,
        np.array([0]),
        np.array([1]),
        "laminar_flow",
    )
    assert g[0, 0] < 1e-20


def test_symmetry_and_diagonal() -> None:
    t = frames(40)
    phi = np.array([-3.0, 10.0, 100.0])
    c2 = M.c2_matrix(LAMINAR, t, phi, Q, GAP, [0.1, 0.2, 0.3], [1.0, 1.01, 0.99], "laminar_flow")
    np.testing.assert_array_equal(c2, np.swapaxes(c2, 1, 2))
    np.testing.assert_allclose(
        np.diagonal(c2, axis1=1, axis2=2), np.array([[1.1], [1.21], [1.29]]) * np.ones((1, 40))
    )


@pytest.mark.parametrize(
    "params",
    [
        LAMINAR,
        [500.0, 0.7, -3.0, 0.01, 0.4, -2e-3, -4.0],
        [2000.0, -1.0, 1.0, 1e-3, -1.0, 0.0, 0.0],
    ],
)
def test_exact_integrals_match_brute_force_quadrature(params: list[float]) -> None:
    """Closed-form integrals vs adaptive quadrature of J and gdot (also at alpha = -1)."""
    t = frames(30, dt=0.2, start=3)
    phi = np.array([-8.0, 20.0, 175.0])
    iu, ju = M.triangle_indices(t.size)
    pick = np.array([0, 5, 77, 200, len(iu) - 1])
    g = M.g1_squared_pairs(params, t, phi, Q, GAP, iu, ju, "laminar_flow")
    D0, alpha, Doff, g0, beta, goff, phi0 = params
    for k in pick:
        t1, t2 = t[iu[k]], t[ju[k]]
        IJ = quad(lambda s: D0 * s**alpha + Doff, t1, t2, epsabs=0, epsrel=1e-13)[0]
        IG = quad(lambda s: g0 * s**beta + goff, t1, t2, epsabs=0, epsrel=1e-13)[0]
        for a, ph in enumerate(phi):
            x = Q * GAP * np.cos(np.deg2rad(phi0 - ph)) * IG / 2
            ref = np.exp(-Q * Q * abs(IJ)) * (np.sin(x) / x) ** 2
            assert g[a, k] == pytest.approx(ref, rel=1e-9)


def test_antiderivative_continuous_through_minus_one() -> None:
    log_t = np.log(np.array([0.5, 2.0, 30.0]))
    exact = log_t
    for eps in (0.0, 1e-9, -1e-9, 1e-7):
        np.testing.assert_allclose(M.power_law_antiderivative(log_t, -1.0 + eps), exact, rtol=1e-6)


def test_factorised_diffusion_equals_direct_and_handles_negative_rates() -> None:
    t = frames(70)
    iu, ju = M.triangle_indices(t.size)
    for p in ([1324.1, -0.014, -0.674], [50.0, 0.5, -40.0], [5e5, 1.5, 0.0]):
        F = p[0] * M.power_law_antiderivative(np.log(t), p[1]) + p[2] * t
        fast = M._diffusion_pairs(F, iu, ju, Q, np)
        direct = np.exp(-Q * Q * np.abs(F[ju] - F[iu]))
        np.testing.assert_allclose(fast, direct, rtol=1e-11, atol=1e-300)
    warn = M.negative_rate_warnings([50.0, 0.5, -40.0], t, "static_isotropic")
    assert warn and "negative" in warn[0]


def test_angle_groups_share_results() -> None:
    t = frames(30)
    iu, ju = M.triangle_indices(t.size)
    phi = np.array([3.0, 183.0, -177.0, 45.0, 363.0])
    uniq, _group = M.angle_groups(phi)
    assert uniq.size == 2
    g = M.g1_squared_pairs(LAMINAR, t, phi, Q, GAP, iu, ju, "laminar_flow")
    for a in range(phi.size):
        single = M.g1_squared_pairs(LAMINAR, t, phi[a : a + 1], Q, GAP, iu, ju, "laminar_flow")[0]
        np.testing.assert_allclose(g[a], single, rtol=1e-12)
    np.testing.assert_allclose(g[0], g[1], rtol=1e-12)


@pytest.mark.parametrize(
    "mode,params",
    [
        ("laminar_flow", LAMINAR),
        ("laminar_flow", [700.0, 0.4, 12.0, 0.02, 0.3, 1e-3, -7.0]),
        ("static_anisotropic", [900.0, -0.4, 15.0]),
    ],
)
def test_analytic_jacobian_matches_finite_differences(mode: str, params: list[float]) -> None:
    t = frames(25, start=4)
    phi = np.array([-8.5, 1.9, 60.0, 176.8])
    iu, ju = M.triangle_indices(t.size)
    g, jac = M.g1_squared_pairs_and_jacobian(params, t, phi, Q, GAP, iu, ju, mode)
    np.testing.assert_allclose(
        np.broadcast_to(g, (jac.shape[1], iu.size)),
        np.broadcast_to(
            M.g1_squared_pairs(params, t, phi, Q, GAP, iu, ju, mode), (jac.shape[1], iu.size)
        ),
        rtol=1e-12,
        # Near the zeros of sinc² the Jacobian path's angle-addition form (a difference of
        # products) keeps absolute, not relative, accuracy; g1² itself is of order 1.
        atol=1e-15,
    )
    for k in range(len(params)):
        h = (
            1e-6 * abs(params[0]),
            1e-5,
            1e-3,
            1e-7 * max(abs(params[3 % len(params)]), 1e-3),
            1e-5,
            1e-8,
            1e-5,
        )[k]
        up, dn = list(params), list(params)
        up[k] += h
        dn[k] -= h
        fd = (
            M.g1_squared_pairs(up, t, phi, Q, GAP, iu, ju, mode)
            - M.g1_squared_pairs(dn, t, phi, Q, GAP, iu, ju, mode)
        ) / (2 * h)
        scale = np.abs(fd).max() + 1e-300
        np.testing.assert_allclose(
            jac[k], np.broadcast_to(fd, jac[k].shape), atol=2e-6 * scale, err_msg=f"parameter {k}"
        )


def test_max_lag_triangle() -> None:
    iu, ju = M.triangle_indices(10, max_lag=3)
    assert np.all(ju - iu <= 3) and np.all(ju > iu)
    assert iu.size == 9 + 8 + 7


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        M.g1_squared_pairs(
            [1.0, 0.0, 0.0], frames(5), np.array([0.0]), Q, GAP, *M.triangle_indices(5), "flow"
        )


def _reference(params: list[float], mode: str) -> tuple[np.ndarray, tuple]:
    t = frames(40, start=2)
    phi = np.array([-8.5, 1.9, 45.0, 91.0, 176.8])
    iu, ju = M.triangle_indices(t.size)
    args = (t, phi, Q, GAP, iu, ju)
    return M.c2_pairs(
        params,
        *args,
        np.array([0.2, 0.3, 0.25, 0.1, 0.3]),
        np.array([1.0, 1.01, 0.99, 1.0, 1.0]),
        mode,
    ), args


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")
@pytest.mark.parametrize(
    "mode,params", [("laminar_flow", LAMINAR), ("static_anisotropic", LAMINAR[:3])]
)
def test_jax_namespace_agrees_to_1e12(mode: str, params: list[float], tmp_path) -> None:
    import subprocess
    import sys

    # JAX's x64 switch is process-wide: evaluate in a fresh interpreter.
    tmp = tmp_path / "out.npy"
    code = f"""
import jax; jax.config.update('jax_enable_x64', True); jax.config.update('jax_platforms', 'cpu')
import jax.numpy as jnp, numpy as np
from homodyne import model as M
t = np.arange(2, 42) * 0.1; phi = np.array([-8.5, 1.9, 45.0, 91.0, 176.8]); iu, ju = M.triangle_indices(t.size)
f = jax.jit(lambda p: M.c2_pairs([p[i] for i in range({len(params)})], t, phi, {Q}, {GAP}, iu, ju, jnp.array([0.2, 0.3, 0.25, 0.1, 0.3]), jnp.array([1.0, 1.01, 0.99, 1.0, 1.0]), '{mode}', jnp))
np.save(r'{tmp}', np.asarray(f(jnp.array({params!r}))))
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    got = np.load(tmp)
    ref, _ = _reference(params, mode)
    np.testing.assert_allclose(got, np.broadcast_to(ref, got.shape), rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(importlib.util.find_spec("pytensor") is None, reason="PyTensor not installed")
@pytest.mark.parametrize(
    "mode,params", [("laminar_flow", LAMINAR), ("static_anisotropic", LAMINAR[:3])]
)
def test_pytensor_namespace_agrees_to_1e12(mode: str, params: list[float], tmp_path) -> None:
    import subprocess
    import sys

    tmp = tmp_path / "out.npy"
    code = f"""
import numpy as np, pytensor, pytensor.tensor as pt
from homodyne import model as M
t = np.arange(2, 42) * 0.1; phi = np.array([-8.5, 1.9, 45.0, 91.0, 176.8]); iu, ju = M.triangle_indices(t.size)
p = pt.dvector('p')
out = M.c2_pairs([p[i] for i in range({len(params)})], t, phi, {Q}, {GAP}, iu, ju, pt.as_tensor(np.array([0.2, 0.3, 0.25, 0.1, 0.3])), pt.as_tensor(np.array([1.0, 1.01, 0.99, 1.0, 1.0])), '{mode}', pt)
f = pytensor.function([p], out)
np.save(r'{tmp}', np.asarray(f(np.array({params!r}))))
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    got = np.load(tmp)
    ref, _ = _reference(params, mode)
    np.testing.assert_allclose(got, np.broadcast_to(ref, got.shape), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("phi0", [5.0, -3.0])
def test_numpy_fitting_path_equals_generic_model(phi0: float) -> None:
    """The NumPy evaluation used by the fitter is the same function as the namespace model."""
    t = frames(90, start=2)
    phi = np.array([-8.5, 1.9, phi0 + 90.0, 120.0, 176.8, 181.0])  # includes θ = 0
    iu, ju = M.triangle_indices(t.size)
    p = [1324.1, -0.014, -0.674, 0.003, -0.909, 1e-4, phi0]
    fast, none = M.g1_squared_pairs_and_jacobian(
        p, t, phi, Q, GAP, iu, ju, "laminar_flow", jacobian=False
    )
    assert none is None
    generic = M.g1_squared_pairs(p, t, phi, Q, GAP, iu, ju, "laminar_flow")
    np.testing.assert_allclose(fast, generic, rtol=1e-10, atol=1e-15)
    with_jac, _ = M.g1_squared_pairs_and_jacobian(p, t, phi, Q, GAP, iu, ju, "laminar_flow")
    np.testing.assert_allclose(with_jac, generic, rtol=1e-10, atol=1e-15)
