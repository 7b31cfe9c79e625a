"""Deterministic simulated problems for the MCMC tests (independent of homodyne.data).

c2 = model + Gaussian noise on the upper triangle (diagonal included), mirrored to the
lower triangle: the same noise model as the package's simulator.
"""

from __future__ import annotations

import numpy as np

from homodyne.model import MODES, c2_matrix
from homodyne.parameters import default_parameters
from homodyne.problem import Problem

#: Static truth: alpha and D_offset away from 0 so that the three are distinguishable.
STATIC = {"D0": 1324.1, "alpha": -0.3, "D_offset": 20.0}
STATIC_DESIGN = {"phi": (0.0, 60.0, 120.0), "n": 50, "dt": 1.0, "noise": 0.004, "seed": 11}

#: Laminar truth: a slower shear than the realistic point so that a 50-frame window
#: resolves the flow decorrelation at every angle, and D0 large enough for the diffusion
#: decay to show at 90°.
LAMINAR = {
    "D0": 5000.0,
    "alpha": -0.1,
    "D_offset": 10.0,
    "gamma_dot_t0": 0.001,
    "beta": -0.5,
    "gamma_dot_t_offset": 1e-4,
    "phi0": 3.0,
}
LAMINAR_DESIGN = {"phi": (-4.0, 30.0, 60.0, 90.0), "n": 50, "dt": 0.2, "noise": 0.004, "seed": 3}

Q = 0.0054
GAP = 2.0e6


def simulate(
    mode: str, truth: dict, phi, n: int, dt: float, noise: float, seed: int
) -> tuple[Problem, np.ndarray, np.ndarray]:
    """A Problem with per-angle contrast/offset; returns (problem, contrast, offset)."""
    rng = np.random.default_rng(seed)
    phi = np.asarray(phi, dtype=float)
    A = phi.size
    t = dt * np.arange(1, n + 1)
    contrast = np.linspace(0.22, 0.32, A)
    offset = np.linspace(0.99, 1.01, A)
    c2 = c2_matrix([truth[k] for k in MODES[mode]], t, phi, Q, GAP, contrast, offset, mode)
    iu, ju = np.triu_indices(n)
    for a in range(A):
        c2[a, iu, ju] += rng.normal(0.0, noise, iu.size)
        c2[a, ju, iu] = c2[a, iu, ju]
    problem = Problem.from_arrays(c2, t, phi, Q, default_parameters(mode), gap=GAP)
    return problem, contrast, offset


def static_problem() -> tuple[Problem, np.ndarray, np.ndarray]:
    return simulate("static_anisotropic", STATIC, **STATIC_DESIGN)


def laminar_problem() -> tuple[Problem, np.ndarray, np.ndarray]:
    return simulate("laminar_flow", LAMINAR, **LAMINAR_DESIGN)


def large_laminar_problem() -> tuple[Problem, np.ndarray, np.ndarray]:
    """The laminar truth on 160 frames: 4 x 12 720 pairs = 50 880 values, just above the
    size from which ``chain_method = "auto"`` runs CPU chains in worker processes."""
    return simulate("laminar_flow", LAMINAR, **{**LAMINAR_DESIGN, "n": 160})
