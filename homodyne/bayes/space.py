"""The sampling space: reparameterisation of the sampled quantities and the whitening.

Each sampled quantity is mapped to an unbounded coordinate (logit of its position inside
its bounds, in log space for positive parameters whose bounds span two decades or more;
power laws with offset through their value at a reference time), and the vector of
these coordinates is whitened with the inverse square root of the Gauss-Newton (Fisher)
information at the starting point.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AnalysisError, ConfigError
from ..model import g1_squared_pairs_and_jacobian
from ..parameters import Parameters
from ..problem import Problem
from .priors import NOISE_PRIOR, PriorSpec

__all__ = ["LOG_SPACE_RATIO", "REPARAM_CHOICES", "PowerLawMap", "SamplingSpace", "choose_space"]

#: The values of ``mcmc.reparam``.
REPARAM_CHOICES = ("auto", "plain", "power_law")

log = logging.getLogger(__name__)

#: A positive parameter is sampled in log space when max/min reaches this ratio.
LOG_SPACE_RATIO = 100.0
#: The centre of the whitened coordinates is kept at least this fraction of the bound
#: width inside the bounds: a start on a bound (a classical optimum that hit it) would
#: make the local information of that coordinate vanish and its scale meaningless.
_EDGE = 0.01


@dataclass(frozen=True)
class PowerLawMap:
    """Sample the amplitude of a power law with offset, f(t) = A0 t^e + c, through f(t_ref).

    For J(t) = D0 t^alpha + D_offset (and the shear rate alike) the data constrain the
    value of f inside the frame window far better than D0 and D_offset separately: with
    alpha near 0 they trade off along a ridge that only the bounds end. The amplitude's
    coordinate is therefore ``value = A0 t_ref^e + c`` (f at the reference time t_ref,
    the geometric mean of the frame times), and A0 = (value - c) exp(-e ln t_ref); the
    exponent e and the offset c keep their own (logit) coordinates. The log-Jacobian of
    value → A0 is -e ln t_ref. Points where value - c <= 0 or A0 leaves its bounds have
    zero density.
    """

    amp: int  # slot of the amplitude (holds `value` before the map, A0 after)
    exp: int  # slot of the exponent (already transformed), or -1 when e is fixed
    off: int  # slot of the offset, or -1 when c is fixed
    exp_const: float
    off_const: float
    log_tref: float
    amp_bounds: tuple[float, float]

    def forward(self, cols: list[Any], xp: Any) -> tuple[Any, Any]:
        """Replace value by A0 in ``cols``; return (log-Jacobian, log-indicator)."""
        value = cols[self.amp]
        c = cols[self.off] if self.off >= 0 else self.off_const
        e = cols[self.exp] if self.exp >= 0 else self.exp_const
        a = value - c
        ok = a > 0
        a_safe = xp.where(ok, a, 1.0)
        log_a0 = xp.log(a_safe) - e * self.log_tref
        lo, hi = self.amp_bounds
        ok = (
            ok & (log_a0 >= math.log(lo)) & (log_a0 <= math.log(hi))
            if lo > 0
            else ok & (log_a0 <= math.log(hi))
        )
        cols[self.amp] = xp.exp(xp.clip(log_a0, -700.0, 700.0))
        return -e * self.log_tref + 0.0 * value, xp.where(ok, 0.0, -np.inf)

    def inverse(self, theta: np.ndarray) -> np.ndarray:
        """θ (A0, e, c in their slots) → the value coordinate."""
        out = np.array(theta, dtype=float, copy=True)
        e = theta[..., self.exp] if self.exp >= 0 else self.exp_const
        c = theta[..., self.off] if self.off >= 0 else self.off_const
        out[..., self.amp] = theta[..., self.amp] * np.exp(e * self.log_tref) + c
        return out


@dataclass(frozen=True)
class SamplingSpace:
    """The bijection between the sampled vector z ∈ R^k and the model quantities θ.

    ``y = centre + z @ root.T``; coordinate i of y gives ``u_i = lo_i + (hi_i - lo_i)
    sigmoid(y_i)`` (``bounded``) or ``u_i = y_i``, then ``exp(u_i)`` for ``logscale``
    coordinates; finally each :class:`PowerLawMap` turns (value, slope) into (amplitude,
    exponent). ``root`` is a square root of the inverse Gauss-Newton information in y at
    the starting point, so z is close to standard normal.
    """

    names: tuple[str, ...]  # names of the sampled coordinates (before the power-law maps)
    lo: np.ndarray  # (k,) lower bound of u (log of the bound for log-scale coordinates)
    hi: np.ndarray  # (k,)
    bounded: np.ndarray  # (k,) bool
    logscale: np.ndarray  # (k,) bool
    centre: np.ndarray  # (k,) y at z = 0
    root: np.ndarray  # (k, k): y = centre + root @ z
    log_det_root: float
    power_laws: tuple[PowerLawMap, ...] = ()

    @property
    def k(self) -> int:
        return len(self.names)

    def coordinates(self, y: Any, xp: Any) -> tuple[Any, Any]:
        """Coordinate-wise part: y → θ' (before the power-law maps) and its log-Jacobian terms."""
        width = np.where(self.bounded, self.hi - np.where(self.bounded, self.lo, 0.0), 1.0)
        lo = np.where(self.bounded, self.lo, 0.0)
        s = 0.5 * (1.0 + xp.tanh(0.5 * y))  # sigmoid, stable for any y
        ay = xp.abs(y)
        log_s1s = -ay - 2.0 * xp.log1p(xp.exp(-ay))  # log(s (1 - s))
        u = xp.where(self.bounded, lo + width * s, y)
        lj = xp.where(self.bounded, np.log(width) + log_s1s, 0.0)
        safe_u = xp.where(self.logscale, u, 0.0)
        theta = xp.where(self.logscale, xp.exp(safe_u), u)
        lj = lj + xp.where(self.logscale, safe_u, 0.0)
        return theta, lj

    def transform(self, z: Any, xp: Any, centre: Any = None, root_t: Any = None) -> tuple[Any, Any]:
        """θ and log|dθ/dz| (with -inf outside the support) for z of shape (k,) or (..., k).

        ``centre`` and ``root_t`` (= root.T) may be given as backend variables (shared
        data rather than constants compiled into the program)."""
        centre = self.centre if centre is None else centre
        root_t = self.root.T if root_t is None else root_t
        y = centre + xp.dot(z, root_t)
        theta, lj = self.coordinates(y, xp)
        total = xp.sum(lj, axis=-1) + self.log_det_root
        if self.power_laws:
            cols = [theta[..., i] for i in range(self.k)]
            for pl in self.power_laws:
                ljp, ind = pl.forward(cols, xp)
                total = total + ljp + ind
            theta = xp.stack(cols, axis=-1)
        return theta, total

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return np.asarray(self.transform(np.asarray(z, dtype=float), np)[0])

    def to_y(self, theta: np.ndarray, edge: float = 1e-12) -> np.ndarray:
        """Inverse map θ → y; bounded coordinates are kept ``edge`` (fraction of the
        width) inside their bounds."""
        theta = np.asarray(theta, dtype=float)
        for pl in self.power_laws:
            theta = pl.inverse(theta)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(self.logscale, np.log(np.maximum(theta, 1e-300)), theta)
            frac = (u - self.lo) / (self.hi - self.lo)
        frac = np.clip(np.where(self.bounded, frac, 0.5), edge, 1.0 - edge)
        return np.where(self.bounded, np.log(frac) - np.log1p(-frac), u)

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        return np.linalg.solve(self.root, (self.to_y(theta) - self.centre).T).T

    def describe(self) -> dict[str, Any]:
        coords = []
        for i, name in enumerate(self.names):
            if self.bounded[i]:
                kind = (
                    "logit of log(value) within log bounds"
                    if self.logscale[i]
                    else "logit within bounds"
                )
            else:
                kind = "log(value)" if self.logscale[i] else "value (unbounded)"
            coords.append({"name": name, "coordinate": kind})
        return {
            "coordinates": coords,
            "power_laws": [
                {"amplitude": self.names[pl.amp], "reference_time_s": math.exp(pl.log_tref)}
                for pl in self.power_laws
            ],
            "whitening": "z = root^-1 (y - centre), root = (Gauss-Newton information in y at the start)^(-1/2)",
        }


def _fisher(problem: Problem, free_index: np.ndarray, start: dict[str, Any]) -> np.ndarray:
    """Gauss-Newton information of (free θ, contrast, offset) at the starting point."""
    P, S = free_index.size, problem.n_scaling
    k = P + 2 * S
    F = np.zeros((k, k))
    values, con, _off = start["values"], start["contrast"], start["offset"]
    sidx = problem.scaling_index()
    w = 1.0 / (problem.sigma * start["sigma_scale"]) ** 2
    static = problem.mode != "laminar_flow"
    cached = None
    for a in range(problem.n_angles):
        if static:
            if cached is None:
                cached = g1_squared_pairs_and_jacobian(
                    values,
                    problem.t,
                    problem.phi[:1],
                    problem.q,
                    problem.gap,
                    problem.iu,
                    problem.ju,
                    problem.mode,
                )
            g, dg = cached
        else:
            g, dg = g1_squared_pairs_and_jacobian(
                values,
                problem.t,
                problem.phi[a : a + 1],
                problem.q,
                problem.gap,
                problem.iu,
                problem.ju,
                problem.mode,
            )
        if dg is None:  # pragma: no cover - the Jacobian was asked for
            raise RuntimeError("the model returned no Jacobian")
        g = g[0]
        d = dg[free_index, 0]  # (P, m)
        s = int(sidx[a])
        c, ci, oi = con[s], P + s, P + S + s
        F[:P, :P] += w[a] * c * c * (d @ d.T)
        F[:P, ci] += w[a] * c * (d @ g)
        F[:P, oi] += w[a] * c * d.sum(axis=1)
        F[ci, ci] += w[a] * float(g @ g)
        F[ci, oi] += w[a] * float(g.sum())
        F[oi, oi] += w[a] * g.size
    iu = np.triu_indices(k, 1)
    F[(iu[1], iu[0])] = F[iu]
    return F


#: The power-law coordinates are used only while the starting amplitude and exponent lie
#: at least this fraction of their bound width (log width for positive amplitudes) inside
#: their bounds: their bounds are hard walls in those coordinates, and a posterior that
#: reaches them makes NUTS diverge (there the logit coordinates are the better choice).
POWER_LAW_MARGIN = 0.25


def _near_bounds(value: float, lo: float, hi: float, log: bool) -> bool:
    if log:
        if lo <= 0 or value <= 0:
            return True
        value, lo, hi = math.log(value), math.log(lo), math.log(hi)
    width = hi - lo
    return value - lo < POWER_LAW_MARGIN * width or hi - value < POWER_LAW_MARGIN * width


def _power_law(
    params: Parameters,
    free_names: Sequence[str],
    amp: str,
    exp: str,
    off: str,
    log_tref: float,
    start: Mapping[str, float],
    choice: str,
) -> PowerLawMap | None:
    """The (value, slope, offset) map of one power law, when its amplitude is free.

    ``choice`` (``mcmc.reparam``): ``auto`` (used unless the start is near the
    amplitude's or exponent's bounds), ``plain`` (never) or ``power_law`` (always).
    """
    if amp not in free_names or choice == "plain":
        return None
    if choice == "auto":
        pa = params[amp]
        if _near_bounds(start[amp], pa.min, pa.max, pa.min > 0):
            log.info("MCMC: %s starts near a bound; sampling it in logit coordinates", amp)
            return None
    slot = {n: j for j, n in enumerate(free_names)}
    return PowerLawMap(
        amp=slot[amp],
        exp=slot.get(exp, -1),
        off=slot.get(off, -1),
        exp_const=float(params[exp].value),
        off_const=float(params[off].value),
        log_tref=log_tref,
        amp_bounds=(float(params[amp].min), float(params[amp].max)),
    )


#: In the automatic choice, a power-law map is kept only while its zero-density walls
#: (f(t_ref) - c = 0 and the bounds of the amplitude) lie at least this many posterior
#: standard deviations (Gauss-Newton estimate at the start) away from the start; closer,
#: NUTS would diverge at a wall.
POWER_LAW_WALL_SD = 5.0
#: ... and while every exponent's posterior sd stays below this fraction of its bound
#: width (otherwise no power-law map is used).
POWER_LAW_EXPONENT_SPREAD = 0.05


def choose_space(
    problem: Problem,
    free_index: np.ndarray,
    free_names: tuple[str, ...],
    priors: tuple[PriorSpec, ...],
    start: dict[str, Any],
    reparam: str = "auto",
) -> tuple[SamplingSpace, np.ndarray]:
    """The sampling space of a problem: which power-law maps to use, and the whitening.

    ``reparam`` is the configuration's ``mcmc.reparam`` (auto, plain or power_law).
    Returns the space and the (bound-safe) starting θ.
    """
    if reparam not in REPARAM_CHOICES:
        raise ConfigError(
            f"mcmc.reparam must be one of {', '.join(REPARAM_CHOICES)}, got {reparam!r}"
        )
    params = problem.parameters
    log_tref = float(np.mean(np.log(problem.t)))
    at = dict(zip(params.names, start["values"], strict=True))
    laws = [("D0", "alpha", "D_offset")]
    if problem.mode == "laminar_flow":
        laws.append(("gamma_dot_t0", "beta", "gamma_dot_t_offset"))
    maps = [_power_law(params, free_names, *law, log_tref, at, reparam) for law in laws]
    power_laws = tuple(m for m in maps if m is not None)
    space, theta_c = _sampling_space(problem, free_index, free_names, priors, start, power_laws)
    if reparam == "auto":
        # A loosely determined exponent (the data barely constrain the shape of J(t) or
        # of the shear rate) bends the ridges that the value coordinates straighten;
        # then every amplitude keeps its logit coordinate (seen: 13-19% divergent draws
        # on the 60-frame demo with either value coordinate kept, none without).
        loose = any(_exponent_spread(space, pl) > POWER_LAW_EXPONENT_SPREAD for pl in power_laws)
        close = [
            pl for pl in power_laws if loose or _wall_distance_sd(space, pl) < POWER_LAW_WALL_SD
        ]
        if close:
            for pl in close:
                log.info(
                    "MCMC: the data determine the power law of %s too loosely for its "
                    "value coordinate (a zero-density wall within %.0f posterior sd, or an "
                    "exponent sd above %.0f%% of its bounds); sampling %s in logit coordinates",
                    free_names[pl.amp],
                    POWER_LAW_WALL_SD,
                    100 * POWER_LAW_EXPONENT_SPREAD,
                    free_names[pl.amp],
                )
            power_laws = tuple(pl for pl in power_laws if pl not in close)
            space, theta_c = _sampling_space(
                problem, free_index, free_names, priors, start, power_laws
            )
    return space, theta_c


def _coordinate_slope(space: SamplingSpace, slot: int) -> float:
    """dθ/dy of one coordinate of the coordinate-wise map, at the centre."""
    h = 1e-6 * max(1.0, abs(space.centre[slot]))
    yp, ym = space.centre.copy(), space.centre.copy()
    yp[slot] += h
    ym[slot] -= h
    return float(
        (space.coordinates(yp, np)[0][slot] - space.coordinates(ym, np)[0][slot]) / (2 * h)
    )


def _exponent_spread(space: SamplingSpace, pl: PowerLawMap) -> float:
    """Posterior sd of a power law's exponent (linearised) as a fraction of its bound width
    (0 when the exponent is fixed)."""
    if pl.exp < 0:
        return 0.0
    sd = abs(_coordinate_slope(space, pl.exp)) * float(np.linalg.norm(space.root[pl.exp]))
    return sd / float(space.hi[pl.exp] - space.lo[pl.exp])


def _wall_distance_sd(space: SamplingSpace, pl: PowerLawMap) -> float:
    """Distance of the start from the nearest zero-density wall of a power-law map, in
    posterior standard deviations (linearised at the start, from the whitening).

    The walls are f(t_ref) - c = 0 and the bounds of the amplitude A0 = (f(t_ref) - c)
    t_ref^(-e), which a poorly determined exponent e moves by large factors."""
    cov_y = space.root @ space.root.T
    theta0, _ = space.coordinates(space.centre, np)

    value = float(space.centre[pl.amp])
    c = float(theta0[pl.off]) if pl.off >= 0 else pl.off_const
    e = float(theta0[pl.exp]) if pl.exp >= 0 else pl.exp_const
    gap = value - c
    if gap <= 0:
        return 0.0
    g_gap = np.zeros(space.k)  # d(value - c)/dy
    g_gap[pl.amp] = 1.0
    if pl.off >= 0:
        g_gap[pl.off] = -_coordinate_slope(space, pl.off)
    g_log_a0 = g_gap / gap  # d log A0/dy
    if pl.exp >= 0:
        g_log_a0[pl.exp] = -pl.log_tref * _coordinate_slope(space, pl.exp)
    sd_gap = math.sqrt(max(float(g_gap @ cov_y @ g_gap), 1e-300))
    sd_log_a0 = math.sqrt(max(float(g_log_a0 @ cov_y @ g_log_a0), 1e-300))
    log_a0 = math.log(gap) - e * pl.log_tref
    lo, hi = pl.amp_bounds
    room = math.log(hi) - log_a0
    if lo > 0:
        room = min(room, log_a0 - math.log(lo))
    return float(min(gap / sd_gap, room / sd_log_a0))


#: Largest shift of the whitening centre away from a bound, as a fraction of the span.
_MAX_MARGIN = 0.1


def whitening_root(info: np.ndarray) -> tuple[np.ndarray, float]:
    """(root, log|det root|) of an information matrix: root @ root.T = info⁻¹, with its
    eigenvalues floored at 1e-14 of the largest (at least 1e-14)."""
    lam, V = np.linalg.eigh(0.5 * (info + info.T))
    lam = np.maximum(lam, max(lam.max(), 1.0) * 1e-14)
    return V * (1.0 / np.sqrt(lam)), float(-0.5 * np.sum(np.log(lam)))


def _away_from_bounds(
    problem: Problem,
    free_index: np.ndarray,
    start: dict[str, Any],
    proto: SamplingSpace,
    y0: np.ndarray,
    theta_c: np.ndarray,
) -> np.ndarray:
    """y0 with a bounded coordinate that starts on its bound moved one posterior sd inside.

    A classical optimum on a bound (an offset at its lower bound, say) is a poor centre for
    the whitening: in the logit coordinate the data's information there is smaller by the
    factor s(1 - s) of the sigmoid, so the whitening scale of that coordinate comes out
    many times the posterior's width in the bulk (which lies within about one sd of the
    bound, not at it), its correlations are those of the wrong point, and NUTS needs a
    tiny step size or diverges (seen: step sizes near 0.01 and divergent draws in the
    simulation-based calibration, tests/calibration). The sd is the Gauss-Newton estimate
    at the start; the shift is at most :data:`_MAX_MARGIN` of the bounds' span, and only a
    start on a bound (held :data:`_EDGE` inside it) is moved.
    """
    k = proto.k
    P, S = free_index.size, problem.n_scaling
    F = _fisher(problem, free_index, start)
    sd = np.full(k, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam, V = np.linalg.eigh(0.5 * (F + F.T))
        keep = lam > max(float(lam.max()), 0.0) * 1e-12
        if keep.any():
            cov = (V[:, keep] / lam[keep]) @ V[:, keep].T
            sd[: P + 2 * S] = np.sqrt(np.maximum(np.diag(cov), 0.0))
            sd[: P + 2 * S][~np.isfinite(sd[: P + 2 * S])] = np.inf
    # the same width in the coordinate u (log value for log-scale coordinates)
    sd_u = np.where(proto.logscale, sd / np.maximum(np.abs(theta_c), 1e-300), sd)
    width = np.where(proto.bounded, proto.hi - proto.lo, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        margin = np.minimum(
            np.nan_to_num(sd_u / width, nan=_MAX_MARGIN, posinf=_MAX_MARGIN), _MAX_MARGIN
        )
    frac0 = 0.5 * (1.0 + np.tanh(0.5 * y0))
    # Only a start on a bound (the classical optimum there, held _EDGE inside by to_y) is
    # moved: one farther in is in the posterior's own region, and moving a coordinate the
    # data barely constrain away from it (D_offset of a static run, from 0.94 of its span
    # to the middle) cost a third of its ESS in tests/mcmc/test_backends.py.
    on_bound = np.minimum(frac0, 1.0 - frac0) <= _EDGE * (1.0 + 1e-6)
    frac = np.where(on_bound, np.clip(frac0, margin, 1.0 - margin), frac0)
    moved = np.where(proto.bounded & on_bound, np.log(frac) - np.log1p(-frac), y0)
    for i in np.flatnonzero(proto.bounded & (np.abs(moved - y0) > 1e-9)):
        log.info(
            "MCMC: %s starts on a bound; the sampling space is "
            "centred %.3g of its bound width inside",
            proto.names[i],
            float(min(frac[i], 1.0 - frac[i])),
        )
    return moved


def _sampling_space(
    problem: Problem,
    free_index: np.ndarray,
    free_names: tuple[str, ...],
    priors: tuple[PriorSpec, ...],
    start: dict[str, Any],
    power_laws: tuple[PowerLawMap, ...],
) -> tuple[SamplingSpace, np.ndarray]:
    """The whitened sampling space for the given power-law maps, and the (bound-safe) start θ."""
    params = problem.parameters
    S = problem.n_scaling
    P = len(free_names)
    k = P + 2 * S + 1
    names = [
        *free_names,
        *(f"contrast[{i}]" for i in range(S)),
        *(f"offset[{i}]" for i in range(S)),
        "sigma_scale",
    ]
    lo = np.empty(k)
    hi = np.empty(k)
    bounded = np.ones(k, dtype=bool)
    logscale = np.zeros(k, dtype=bool)
    for j, n in enumerate(free_names):
        p = params[n]
        lo[j], hi[j] = p.min, p.max
        if p.min > 0 and p.max / p.min >= LOG_SPACE_RATIO:
            logscale[j] = True
            lo[j], hi[j] = math.log(p.min), math.log(p.max)
    for pl in power_laws:
        names[pl.amp] = "J_ref" if names[pl.amp] == "D0" else "gdot_ref"
        bounded[pl.amp], logscale[pl.amp], lo[pl.amp], hi[pl.amp] = (
            False,
            False,
            -math.inf,
            math.inf,
        )
    lo[P : P + S], hi[P : P + S] = problem.contrast_bounds
    lo[P + S : P + 2 * S], hi[P + S : P + 2 * S] = problem.offset_bounds
    bounded[-1], logscale[-1], lo[-1], hi[-1] = False, True, -math.inf, math.inf
    theta0 = np.concatenate(
        [start["values"][free_index], start["contrast"], start["offset"], [start["sigma_scale"]]]
    )
    proto = SamplingSpace(
        tuple(names), lo, hi, bounded, logscale, np.zeros(k), np.eye(k), 0.0, power_laws
    )
    y0 = proto.to_y(theta0, edge=_EDGE)
    theta_c = proto.to_theta(y0)  # the start, moved inside the bounds where it sat on one
    if not np.all(np.isfinite(theta_c)) or not np.isfinite(proto.transform(y0, np)[1]):
        raise AnalysisError(
            f"the MCMC starting point is outside the support: {dict(zip(names, theta0, strict=True))}"
        )
    y0 = _away_from_bounds(problem, free_index, start, proto, y0, theta_c)
    theta_c = proto.to_theta(y0)
    # dθ/dy at the centre, by central differences of the (cheap, NumPy) map.
    J = np.empty((k, k))
    for i in range(k):
        h = 1e-6 * max(1.0, abs(y0[i]))
        yp, ym = y0.copy(), y0.copy()
        yp[i] += h
        ym[i] -= h
        J[:, i] = (proto.to_theta(yp) - proto.to_theta(ym)) / (2 * h)
    F = np.zeros((k, k))
    start_c = dict(start)
    start_c["values"] = start["values"].copy()
    start_c["values"][free_index] = theta_c[:P]
    start_c["contrast"], start_c["offset"] = theta_c[P : P + S], theta_c[P + S : P + 2 * S]
    F[:-1, :-1] = _fisher(problem, free_index, start_c)
    F[-1, -1] = 2.0 * problem.n_data / theta_c[-1] ** 2  # information of sigma_scale
    Fy = J.T @ F @ J
    # Curvature of the log-Jacobian of the logit maps and of the priors; a weak floor for
    # the unbounded value/slope coordinates (prior-scale widths, used only if the data say nothing).
    s = 0.5 * (1.0 + np.tanh(0.5 * y0))
    curv = np.where(bounded, 2.0 * s * (1 - s), 0.0)
    for j, pr in enumerate(priors):
        if pr.dist == "Normal":
            curv[j] += (J[j, j] / pr.sigma) ** 2
        elif pr.dist == "LogNormal":
            curv[j] += (J[j, j] / theta_c[j] / pr.sigma) ** 2
    for pl in power_laws:
        c = theta_c[pl.off] if pl.off >= 0 else pl.off_const
        a = max(abs(y0[pl.amp] - c), 1e-12)
        curv[pl.amp] += 1.0 / max(abs(y0[pl.amp]), a) ** 2
    if NOISE_PRIOR.sigma is None:  # pragma: no cover - a LogNormal prior has a sigma
        raise RuntimeError("the noise prior has no sigma")
    curv[-1] += 1.0 / NOISE_PRIOR.sigma**2
    Fy[np.diag_indices(k)] += curv
    root, log_jac = whitening_root(Fy)
    space = SamplingSpace(
        tuple(names),
        lo,
        hi,
        bounded,
        logscale,
        y0,
        root,
        log_jac,
        power_laws,
    )
    return space, theta_c
