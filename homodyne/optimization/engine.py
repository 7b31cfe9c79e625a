"""The residuals and normal equations of the classical fit, angle by angle.

:class:`Engine` evaluates r = (offset_a + contrast_a · g1²_a(θ) - c2_a) / σ_a and
accumulates JᵀJ and Jᵀr from the analytic Jacobian of :mod:`homodyne.model`, chunk by
chunk of angles (memory stays at a few arrays of one angle's pairs), sharing the model
evaluation of angles with one sinc² factor. :func:`profile_scaling` is the closed-form
bounded contrast and offset for given model values. Used by
:mod:`homodyne.optimization.classical`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model import angle_groups, g1_squared_pairs_and_jacobian
from ..problem import Problem

__all__ = ["Engine", "profile_scaling"]

#: Target number of pair values per chunk of work (bounds temporary memory).
_CHUNK_VALUES = 2_000_000


def profile_scaling(
    g: np.ndarray,
    y: np.ndarray,
    w: float,
    cbounds: tuple[float, float],
    obounds: tuple[float, float],
) -> tuple[float, float]:
    """Best (contrast, offset) for y ≈ offset + contrast · g inside the bounds (closed form).

    Weighted linear least squares in two variables with box bounds: the unconstrained
    solution if feasible, otherwise the best of the solutions on the four edges.
    ``w`` is a common weight (it does not change the minimiser for one angle).
    """
    n = g.size
    sg, sy = g.sum(), y.sum()
    sgg, sgy = float(g @ g), float(g @ y)
    det = n * sgg - sg * sg
    cands = []
    if det > 1e-300 * max(1.0, n * sgg):
        c = (n * sgy - sg * sy) / det
        o = (sy - c * sg) / n
        if cbounds[0] <= c <= cbounds[1] and obounds[0] <= o <= obounds[1]:
            return float(c), float(o)
    for c in cbounds:
        o = min(max((sy - c * sg) / n, obounds[0]), obounds[1])
        cands.append((c, o))
    for o in obounds:
        c = (sgy - o * sg) / sgg if sgg > 0 else cbounds[0]
        cands.append((min(max(c, cbounds[0]), cbounds[1]), o))

    def cost(co: tuple[float, float]) -> float:
        c, o = co
        return float(c * c * sgg + n * o * o + 2 * c * o * sg - 2 * c * sgy - 2 * o * sy)

    best = min(cands, key=cost)
    return float(best[0]), float(best[1])


# =========================================================================== the engine
class Engine:
    """Residuals, cost and normal equations of a problem over the free variables.

    Variables z = [free physics (k) | contrast (S) | offset (S)], S = n_scaling.
    """

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        params = problem.parameters
        self.free = np.nonzero(params.free_mask)[0]
        self.k = self.free.size
        self.S = problem.n_scaling
        self.base = params.values()
        lo, hi = params.lower()[self.free], params.upper()[self.free]
        # Rates whose positive bounds span decades are fitted in log space (better
        # conditioned steps); errors are mapped back with the delta method.
        self.logmask = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) > 100.0)
        self.lower = np.concatenate(
            [
                self.to_internal(lo),
                np.full(self.S, problem.contrast_bounds[0]),
                np.full(self.S, problem.offset_bounds[0]),
            ]
        )
        self.upper = np.concatenate(
            [
                self.to_internal(hi),
                np.full(self.S, problem.contrast_bounds[1]),
                np.full(self.S, problem.offset_bounds[1]),
            ]
        )
        self.unique_phi, self.group = angle_groups(problem.phi)
        self.sidx = problem.scaling_index()
        self.w = 1.0 / problem.sigma
        per_chunk = max(1, _CHUNK_VALUES // max(problem.n_pairs, 1))
        self.chunks = [
            np.arange(s, min(s + per_chunk, self.unique_phi.size))
            for s in range(0, self.unique_phi.size, per_chunk)
        ]
        self.members = [np.nonzero(self.group == u)[0] for u in range(self.unique_phi.size)]
        self.n_eval = 0

    # -- vector helpers
    def to_internal(self, free_values: np.ndarray) -> np.ndarray:
        """Free physical values → internal variables (log for the log-scaled ones)."""
        v = np.array(free_values, dtype=float)
        v[self.logmask] = np.log(v[self.logmask])
        return v

    def to_physical(self, z_free: np.ndarray) -> np.ndarray:
        v = np.array(z_free, dtype=float)
        v[self.logmask] = np.exp(v[self.logmask])
        return v

    def with_free(self, free_values: np.ndarray) -> np.ndarray:
        """The full parameter vector with the free entries set to physical values."""
        th = self.base.copy()
        th[self.free] = free_values
        return th

    def theta(self, z: np.ndarray) -> np.ndarray:
        return self.with_free(self.to_physical(z[: self.k]))

    def chain(self, z: np.ndarray) -> np.ndarray:
        """d(physical)/d(internal) for the free physics parameters."""
        return np.where(self.logmask, self.to_physical(z[: self.k]), 1.0)

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.theta(z), z[self.k : self.k + self.S], z[self.k + self.S :]

    def _static(self) -> bool:
        return self.p.mode != "laminar_flow"

    def _g1sq_chunks(self, th: np.ndarray, with_jac: bool) -> Any:
        """(unique-angle indices, g1² (U, m), d g1² (P, U, m) or None) per chunk."""
        p = self.p
        chunks = [np.array([0])] if self._static() else self.chunks
        for chunk in chunks:
            phis = p.phi[:1] if self._static() else self.unique_phi[chunk]
            g, dg = g1_squared_pairs_and_jacobian(
                th, p.t, phis, p.q, p.gap, p.iu, p.ju, p.mode, jacobian=with_jac
            )
            yield chunk, g, dg

    def _angles_of(self, u: int) -> np.ndarray:
        return np.arange(self.p.n_angles) if self._static() else self.members[u]

    # -- cost
    def g1sq_all(self, th: np.ndarray) -> np.ndarray:
        """g1² for every angle (A, m)."""
        out = np.empty_like(self.p.data)
        for chunk, g, _ in self._g1sq_chunks(th, False):
            for ci, u in enumerate(chunk):
                out[self._angles_of(u)] = g[ci]
        return out

    def cost_terms(self, z: np.ndarray) -> np.ndarray:
        """χ² contribution of each angle."""
        th, con, off = self.split(z)
        self.n_eval += 1
        chi = np.empty(self.p.n_angles)
        for chunk, g, _ in self._g1sq_chunks(th, False):
            for ci, u in enumerate(chunk):
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    r = (off[s] + con[s] * g[ci] - self.p.data[a]) * self.w[a]
                    chi[a] = float(r @ r)
        return chi

    def cost(self, z: np.ndarray) -> float:
        return 0.5 * float(self.cost_terms(z).sum())

    def residuals(self, z: np.ndarray) -> np.ndarray:
        th, con, off = self.split(z)
        self.n_eval += 1
        g = self.g1sq_all(th)
        s = self.sidx
        r: np.ndarray = (off[s, None] + con[s, None] * g - self.p.data) * self.w[:, None]
        return r.ravel()

    # -- normal equations
    def normal_equations(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """JᵀJ, Jᵀr and cost at z, accumulated angle by angle.

        The physics columns of J for angle a are contrast_a · w_a · D (D = ∂g1²/∂θ of
        the angle's group, times the log-space chain factor), so D Dᵀ is formed once per
        group of angles sharing g1² and scaled per angle; no per-angle copy of J is made.
        """
        th, con, off = self.split(z)
        chain = self.chain(z)
        k, S = self.k, self.S
        nv = k + 2 * S
        H = np.zeros((nv, nv))
        b = np.zeros(nv)
        cost = 0.0
        self.n_eval += 1
        all_free = k == len(self.base)
        for chunk, g, dg in self._g1sq_chunks(th, True):
            for ci, u in enumerate(chunk):
                gu = g[ci]
                D = dg[:, ci] if all_free else dg[self.free, ci]  # (k, m)
                DDt = (D @ D.T) * np.outer(chain, chain)
                Dg = (D @ gu) * chain
                D1 = D.sum(axis=1) * chain
                gg, g1, m = float(gu @ gu), float(gu.sum()), gu.size
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    w2 = self.w[a] ** 2
                    r = off[s] + con[s] * gu - self.p.data[a]  # unweighted
                    cost += 0.5 * w2 * float(r @ r)
                    ci_, oi = k + s, k + S + s
                    H[:k, :k] += (con[s] ** 2 * w2) * DDt
                    hpc = (con[s] * w2) * Dg
                    hpo = (con[s] * w2) * D1
                    H[:k, ci_] += hpc
                    H[ci_, :k] += hpc
                    H[:k, oi] += hpo
                    H[oi, :k] += hpo
                    H[ci_, ci_] += w2 * gg
                    H[ci_, oi] += w2 * g1
                    H[oi, ci_] += w2 * g1
                    H[oi, oi] += w2 * m
                    b[:k] += (con[s] * w2) * (D @ r) * chain
                    b[ci_] += w2 * float(gu @ r)
                    b[oi] += w2 * float(r.sum())
        return H, b, cost

    def dense_jacobian(self, z: np.ndarray) -> np.ndarray:
        """The full Jacobian (n_data, n_vars) for scipy's solvers."""
        th, con, _off = self.split(z)
        A, m = self.p.data.shape
        k, S = self.k, self.S
        J = np.zeros((A, m, k + 2 * S))
        dchain = self.chain(z)[:, None]
        for chunk, g, dg in self._g1sq_chunks(th, True):
            for ci, u in enumerate(chunk):
                for a in self._angles_of(u):
                    s = self.sidx[a]
                    w = self.w[a]
                    J[a, :, :k] = (dg[self.free, ci] * dchain * (con[s] * w)).T
                    J[a, :, k + s] = g[ci] * w
                    J[a, :, k + S + s] = w
        return J.reshape(A * m, -1)

    def initial_scaling(
        self, th: np.ndarray, g: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form contrast/offset for given physics (profiling out the scaling)."""
        if g is None:
            g = self.g1sq_all(th)
        pb = self.p
        con = np.empty(self.S)
        off = np.empty(self.S)
        if self.S == pb.n_angles:
            for a in range(pb.n_angles):
                con[a], off[a] = profile_scaling(
                    g[a], pb.data[a], 1.0, pb.contrast_bounds, pb.offset_bounds
                )
        else:
            con[0], off[0] = profile_scaling(
                g.ravel(), pb.data.ravel(), 1.0, pb.contrast_bounds, pb.offset_bounds
            )
        return con, off

    def profiled_chi2(self, th: np.ndarray) -> float:
        """χ² with contrast and offset at their closed-form optimum (one model evaluation)."""
        self.n_eval += 1
        g = self.g1sq_all(th)
        con, off = self.initial_scaling(th, g)
        s = self.sidx
        r = (off[s, None] + con[s, None] * g - self.p.data) * self.w[:, None]
        return float(np.sum(r * r))


# =========================================================================== solvers
