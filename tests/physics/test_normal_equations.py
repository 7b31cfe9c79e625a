"""The classical fit's normal equations against a finite-difference Jacobian.

``Engine.normal_equations`` accumulates JᵀJ, Jᵀr and the cost angle by angle from the
analytic Jacobian of the model. Here J is instead taken by central differences of the
weighted residuals, which are evaluated independently through ``Problem.c2`` (the traced
path of the model), so a wrong term of the accumulation (a scaling column, a cross term,
a weight, the log-space chain rule) shows. JᵀJ at the optimum is the inverse covariance
the fit reports.
"""

from __future__ import annotations

import numpy as np
import pytest

from homodyne import model
from homodyne.optimization.engine import Engine
from homodyne.parameters import default_parameters
from homodyne.problem import Problem

TRUTH = [2500.0, -0.2, 15.0, 8e-4, -0.3, 1e-4, 4.0]


def _problem(scaling: str) -> Problem:
    rng = np.random.default_rng(4)
    t = 0.2 * np.arange(1, 13)
    phi = np.array([0.0, 50.0, 90.0, 180.0])
    contrast, offset = np.array([0.2, 0.25, 0.3, 0.22]), np.array([1.0, 0.99, 1.01, 1.02])
    c2 = model.c2_matrix(TRUTH, t, phi, 0.0054, 2e6, contrast, offset, "laminar_flow")
    c2 = c2 + rng.normal(0, 0.003, c2.shape)
    c2 = 0.5 * (c2 + np.transpose(c2, (0, 2, 1)))
    sigma = np.array([0.003, 0.004, 0.002, 0.005])
    return Problem.from_arrays(
        c2, t, phi, 0.0054, default_parameters("laminar_flow"),
        noise_model="fixed", sigma=sigma, scaling_mode=scaling,
    )  # fmt: skip


def _residuals(problem: Problem, engine: Engine, z: np.ndarray) -> np.ndarray:
    k, S = engine.k, problem.n_scaling
    theta = problem.parameters.values()
    theta[engine.free] = np.where(engine.logmask, np.exp(z[:k]), z[:k])
    con, off = z[k : k + S], z[k + S :]
    mu = problem.c2(theta, con, off)
    return ((mu - problem.data) / problem.sigma[:, None]).ravel()


@pytest.mark.parametrize("scaling", ["per_angle", "shared"])
def test_normal_equations_equal_finite_difference_jacobian(scaling: str) -> None:
    problem = _problem(scaling)
    engine = Engine(problem)
    S = problem.n_scaling
    z_free = [np.log(2300.0), -0.25, 12.0, np.log(9e-4), -0.35, 1.2e-4, 3.0]
    z = np.array([*z_free, *np.linspace(0.21, 0.27, S), *np.linspace(0.995, 1.015, S)])
    assert list(engine.logmask[:7]) == [True, False, False, True, False, False, False]
    r0 = _residuals(problem, engine, z)
    J = np.empty((r0.size, z.size))
    for i in range(z.size):
        h = 1e-6 * max(abs(z[i]), 1e-3)
        up, down = z.copy(), z.copy()
        up[i] += h
        down[i] -= h
        J[:, i] = (_residuals(problem, engine, up) - _residuals(problem, engine, down)) / (2 * h)
    H, b, cost = engine.normal_equations(z)
    assert cost == pytest.approx(0.5 * float(r0 @ r0), rel=1e-10)
    scale = np.sqrt(np.outer(np.diag(J.T @ J), np.diag(J.T @ J)))
    np.testing.assert_allclose(H / scale, (J.T @ J) / scale, atol=2e-6)
    np.testing.assert_allclose(b, J.T @ r0, rtol=2e-5, atol=2e-5 * np.abs(J.T @ r0).max())
    assert engine.cost(z) == pytest.approx(cost, rel=1e-12)
    np.testing.assert_allclose(engine.residuals(z), r0, rtol=1e-9, atol=1e-9)
