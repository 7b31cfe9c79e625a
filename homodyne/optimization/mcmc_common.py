"""Backend-neutral pieces of the Bayesian (MCMC) analysis.

Both MCMC backends, PyMC on the CPU (:mod:`.mcmc_cpu_backend`) and NumPyro/JAX
(:mod:`.mcmc_gpu_backend`), sample the *same* posterior, built from the same pieces:

* the forward model :func:`homodyne.model.c2_pairs`, evaluated with the backend's array
  namespace (``pytensor.tensor`` or ``jax.numpy``) on the strict upper triangle;
* the priors of :class:`PriorSpec` (one per free physical parameter, from the
  configuration; every prior truncated to the parameter's bounds), uniform priors on the
  per-angle contrast and offset inside their bounds, and a weak log-normal prior on a
  noise multiplier ``sigma_scale`` (c2 ~ Normal(model, sigma_scale · σ_angle));
* the reparameterisation of :class:`SamplingSpace`: each sampled quantity is mapped to an
  unbounded coordinate (logit of its position inside its bounds, in log space for
  positive parameters whose bounds span two decades or more), and the vector of these
  coordinates is whitened with the inverse square root of the Gauss-Newton (Fisher)
  information at the starting point. NUTS then explores a nearly isotropic unit-scale
  posterior instead of one whose widths span ten orders of magnitude with strong
  correlations (the geometry that kept a predecessor at maximum tree depth). The map is
  a smooth bijection with its log-Jacobian added to the log density, so the posterior of
  the physical parameters is exactly the one defined by the priors and the likelihood.

This module imports neither stack (no PyMC/PyTensor, no JAX/NumPyro); ArviZ and
matplotlib are imported inside the functions that need them. It also holds the shared
result type :class:`MCMCResult` (InferenceData, JSON summary, verdict, files, plots) and
the :class:`MCMCBackend` record that backends register through the entry-point group
``homodyne.mcmc_backends``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnalysisError, BackendUnavailableError, ConfigError, DataError
from ..model import c2_pairs, g1_squared_pairs_and_jacobian
from ..parameters import Parameters
from ..problem import Problem

__all__ = [
    "HDI_PROB",
    "NOISE_PRIOR",
    "MCMCBackend",
    "MCMCResult",
    "MCMCSettings",
    "PosteriorSpec",
    "PriorSpec",
    "SamplingSpace",
    "build_idata",
    "build_posterior_spec",
    "build_result",
    "initial_points",
    "prepare_problem",
    "resolve_config",
    "resolve_settings",
    "verdict",
]

log = logging.getLogger(__name__)

#: Probability mass of the reported highest-density intervals (ArviZ's default, 3%-97%).
HDI_PROB = 0.94
#: A positive parameter is sampled in log space when max/min reaches this ratio.
LOG_SPACE_RATIO = 100.0
#: The centre of the whitened coordinates is kept at least this fraction of the bound
#: width inside the bounds: a start on a bound (a classical optimum that hit it) would
#: make the local information of that coordinate vanish and its scale meaningless.
_EDGE = 0.01


# =========================================================================== backends
@dataclass(frozen=True)
class MCMCBackend:
    """What a backend registers under the entry-point group ``homodyne.mcmc_backends``.

    ``run`` has the signature of :func:`homodyne.optimization.mcmc_cpu_backend.run_cpu_mcmc_analysis`
    and returns an :class:`MCMCResult`. ``requires`` lists the top-level modules the
    backend imports; availability is checked with :func:`importlib.util.find_spec`,
    without importing them. The module that defines a backend must stay cheap to import
    (import its stack inside ``run``), so that listing backends loads no stack.
    """

    name: str  # entry-point name: "pymc", "numpyro", ...
    backend_name: str  # name reported by get_mcmc_backend(): "PyMC_CPU", "NumPyro_GPU_JAX"
    description: str
    run: Callable[..., Any]
    requires: tuple[str, ...]
    pip_extra: str | None = None  # e.g. "mcmc": pip install "homodyne-analysis[mcmc]"
    conda_package: str | None = None  # e.g. "homodyne-analysis-cpu"
    uses_gpu: bool = False  # runs on a GPU when one is visible
    device_hint: str = "CPU"

    def missing(self) -> list[str]:
        """The required modules that are not installed (or hidden) here."""
        return [m for m in self.requires if not module_available(m)]

    def is_available(self) -> bool:
        return not self.missing()

    def install_hint(self) -> str:
        parts = []
        if self.pip_extra:
            parts.append(f'pip install "homodyne-analysis[{self.pip_extra}]"')
        if self.conda_package:
            parts.append(f"conda install -c conda-forge {self.conda_package}")
        return " or ".join(parts) if parts else f"install {', '.join(self.requires)}"

    def unavailable_error(self, why: str = "") -> BackendUnavailableError:
        return BackendUnavailableError(
            f"the MCMC backend {self.name!r} ({self.backend_name}){' ' + why if why else ''} needs "
            f"{', '.join(self.missing()) or ', '.join(self.requires)}, which "
            f"{'is' if len(self.missing()) == 1 else 'are'} not installed here; install it with: "
            f"{self.install_hint()}"
        )


def module_available(name: str) -> bool:
    """Whether a module can be imported here, found without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# =========================================================================== settings
@dataclass(frozen=True)
class MCMCSettings:
    """Sampler settings (the ``mcmc`` configuration section, after command-line overrides)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    max_treedepth: int = 10
    seed: int = 0
    frame_stride: int = 1
    max_lag: int | None = None
    init: str = "classical"
    rhat_max: float = 1.01
    ess_min: float = 400.0
    divergence_max_fraction: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def resolve_config(config: Any, mode: str) -> Any:
    """A validated :class:`homodyne.config.Config` from a Config, a JSON dict, or None."""
    from ..config import Config, config_from_dict, template

    if config is None:
        return config_from_dict(template(mode), source="<default configuration>")
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        raw = dict(config)
        raw.setdefault("analysis_mode", mode)
        return config_from_dict(raw, source="<configuration dict>")
    raise ConfigError(
        f"config must be a homodyne Config, a configuration dict or None, got {type(config).__name__}"
    )


def resolve_settings(config: Any, overrides: Mapping[str, Any]) -> MCMCSettings:
    """Merge ``overrides`` (keys of the ``mcmc`` section) into the configuration and validate.

    Validation goes through the configuration schema, so a bad override gets the same
    message as a bad configuration value.
    """
    from ..config import SCHEMA, config_from_dict

    allowed = tuple(SCHEMA["mcmc"])
    unknown = [k for k in overrides if k not in allowed]
    if unknown:
        raise ConfigError(f"unknown MCMC option(s) {unknown}; allowed: {', '.join(allowed)}")
    section = dict(config.mcmc)
    section.update({k: v for k, v in overrides.items() if v is not None})
    if overrides:
        d = config.to_dict()
        d["mcmc"] = section
        section = config_from_dict(d, source="<MCMC options>").mcmc
    return MCMCSettings(**{k: section[k] for k in allowed})


# =========================================================================== the problem
def prepare_problem(
    analysis_core: Any,
    config: Any,
    c2_experimental: Any = None,
    phi_angles: Any = None,
    filter_angles_for_optimization: bool = True,
) -> Problem:
    """The :class:`Problem` to sample (the seed API's ``analysis_core``).

    ``analysis_core`` is normally a :class:`Problem`. For compatibility with the seed API,
    ``c2_experimental`` (A, n, n) and ``phi_angles`` (A,) may be given instead or as well:
    the problem is then built from these arrays, with frame times, q, gap and parameters
    taken from ``analysis_core`` when it has them (a Problem, or any object with ``t``,
    ``q``, ``gap``, ``parameters`` attributes) and from the configuration otherwise
    (``data.dt``, ``data.frames``, ``data.q``, ``geometry.stator_rotor_gap``). With
    ``filter_angles_for_optimization`` the configuration's angle filter is applied to
    those arrays (a Problem made by :meth:`Problem.from_config` is already filtered).
    """
    if c2_experimental is None:
        if isinstance(analysis_core, Problem):
            if phi_angles is not None and not np.allclose(
                np.atleast_1d(phi_angles), analysis_core.phi
            ):
                raise DataError(
                    "phi_angles differ from the angles of the analysis_core Problem; pass c2_experimental too"
                )
            return analysis_core
        raise AnalysisError(
            "analysis_core must be a homodyne.problem.Problem (or pass c2_experimental and phi_angles "
            f"to build one); got {type(analysis_core).__name__}"
        )
    c2 = np.asarray(c2_experimental, dtype=float)
    if c2.ndim == 2:
        c2 = c2[None]
    core = analysis_core
    if phi_angles is None:
        if getattr(core, "phi", None) is None:
            raise DataError("c2_experimental was given without phi_angles")
        phi_angles = core.phi
    phi = np.atleast_1d(np.asarray(phi_angles, dtype=float))
    if c2.ndim != 3 or c2.shape[0] != phi.size:
        raise DataError(
            f"c2_experimental has shape {c2.shape}; expected ({phi.size}, n, n) for {phi.size} angles"
        )
    n = c2.shape[-1]
    t = getattr(core, "t", None)
    if t is None or np.asarray(t).size != n:
        dt = getattr(core, "dt", None) or config.data.get("dt")
        if dt is None:
            raise DataError(
                "frame times are unknown: give an analysis_core with t, or data.dt in the configuration"
            )
        frames = config.data.get("frames")
        start = frames[0] if frames else 1
        t = (start + np.arange(n)) * float(dt)
    q = getattr(core, "q", None) or config.data["q"]
    gap = getattr(core, "gap", None) or config.geometry["stator_rotor_gap"]
    params = getattr(core, "parameters", None)
    if not isinstance(params, Parameters):
        from ..data_defaults import resolve_auto

        params, _ = resolve_auto(
            config.parameters, getattr(config, "auto", frozenset()), c2, t, float(q), float(gap)
        )
    if (
        filter_angles_for_optimization
        and config.angle_filter["enabled"]
        and params.mode != "static_isotropic"
    ):
        from ..data.angles import filter_angles

        keep = np.asarray(
            filter_angles(
                phi, config.angle_filter["ranges"], fallback=config.angle_filter["fallback"]
            )
        )
        phi, c2 = phi[keep], c2[keep]
    if params.mode == "static_isotropic" and phi.size > 1:
        c2 = c2.mean(axis=0, keepdims=True)
        phi = np.array([float(np.mean(phi))])
    noise, sc = config.noise, config.scaling
    base = core if isinstance(core, Problem) else None
    return Problem.from_arrays(
        c2,
        np.asarray(t, dtype=float),
        phi,
        float(q),
        params,
        gap=float(gap),
        noise_model=base.noise_model if base and base.noise_model != "fixed" else noise["model"],
        sigma=noise["sigma"] if not base or base.noise_model != "fixed" else base.sigma[0],
        scaling_mode=base.scaling_mode if base else sc["mode"],
        contrast_bounds=base.contrast_bounds if base else (sc["contrast_min"], sc["contrast_max"]),
        offset_bounds=base.offset_bounds if base else (sc["offset_min"], sc["offset_max"]),
    )


def reduction_report(full: Problem, used: Problem) -> dict[str, Any]:
    """What the data reduction kept: stride, maximum lag, frames, pairs and values."""
    return {
        "frame_stride": int(used.frame_stride // max(full.frame_stride, 1)),
        "max_lag": used.max_lag,
        "max_lag_unit": "frames after striding",
        "n_angles": used.n_angles,
        "n_frames_full": full.n_frames,
        "n_frames_used": used.n_frames,
        "n_pairs_full": full.n_pairs,
        "n_pairs_used": used.n_pairs,
        "n_values_full": full.n_data,
        "n_values_used": used.n_data,
        "fraction_used": used.n_data / max(full.n_data, 1),
        "noise_sigma_from": "all frames" if used is not full else "the data used",
    }


# =========================================================================== priors
@dataclass(frozen=True)
class PriorSpec:
    """One prior, truncated to [lower, upper].

    ``dist`` is the base density (``Normal`` covers ``Normal`` and ``TruncatedNormal`` of
    the configuration; ``LogNormal``'s mu and sigma are those of log(value); ``Uniform``
    spans the bounds). ``log_norm`` is the truncation constant -log(mass of the base
    density inside the bounds), added to the base log density by both backends.
    """

    name: str
    dist: str
    mu: float | None
    sigma: float | None
    lower: float
    upper: float
    log_norm: float = 0.0
    config_dist: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dist": self.config_dist or self.dist,
            "lower": self.lower,
            "upper": self.upper,
        }
        if self.mu is not None:
            d.update(mu=self.mu, sigma=self.sigma)
        if self.config_dist and self.config_dist != self.dist:
            d["base"] = self.dist
        return d


def _log_normal_mass(a: float, b: float) -> float:
    """log(Φ(b) - Φ(a)) for a < b, accurate in both tails."""
    from scipy.special import log_ndtr

    if a > 0:  # both in the upper tail: use the symmetry Φ(b) - Φ(a) = Φ(-a) - Φ(-b)
        a, b = -b, -a
    lb, la = float(log_ndtr(b)), float(log_ndtr(a))
    if la == -math.inf:
        return lb
    return lb + math.log1p(-math.exp(la - lb))


def prior_for(name: str, p: Any) -> PriorSpec:
    """The truncated prior of one parameter (``None`` in the configuration: uniform)."""
    lo, hi = float(p.min), float(p.max)
    prior = p.prior
    if prior is None or prior.dist == "Uniform":
        return PriorSpec(name, "Uniform", None, None, lo, hi, 0.0, "Uniform")
    mu, sd = float(prior.mu), float(prior.sigma)
    if prior.dist in ("Normal", "TruncatedNormal"):
        mass = _log_normal_mass((lo - mu) / sd, (hi - mu) / sd)
        base = "Normal"
    elif prior.dist == "LogNormal":
        if hi <= 0:
            raise ConfigError(f"parameter {name!r}: a LogNormal prior needs max > 0")
        a = -math.inf if lo <= 0 else (math.log(lo) - mu) / sd
        mass = _log_normal_mass(a, (math.log(hi) - mu) / sd)
        base = "LogNormal"
    else:  # pragma: no cover - the configuration validates the names
        raise ConfigError(f"parameter {name!r}: unknown prior {prior.dist!r}")
    if not math.isfinite(mass):
        raise ConfigError(
            f"parameter {name!r}: the {prior.dist}(mu={mu}, sigma={sd}) prior has no mass inside the bounds [{lo}, {hi}]"
        )
    return PriorSpec(name, base, mu, sd, lo, hi, -mass, prior.dist)


#: Prior of the noise multiplier: c2 ~ Normal(model, sigma_scale · σ_angle).
NOISE_PRIOR = PriorSpec("sigma_scale", "LogNormal", 0.0, 2.0, 0.0, math.inf, 0.0, "LogNormal")


def gaussian_log_likelihood(data: Any, mu: Any, sigma: Any, sigma_scale: Any, xp: Any) -> Any:
    """log N(data | mu, (sigma_scale · sigma_angle)²) summed over all angles and pairs.

    ``data`` and ``mu`` are (A, m); ``sigma`` is (A,). Written with per-angle sums of
    squared residuals, so that each c2 value costs a subtraction and a multiply-add and
    the logarithm of the noise is taken once per angle, not once per value (a
    distribution object's ``log_prob`` broadcasts the scale to every value). Both
    backends use it, so their log densities are the same function.
    """
    r = data - mu
    ss = xp.sum(r * r, axis=1)  # (A,)
    scale = sigma_scale * sigma  # (A,)
    m = data.shape[1]
    return (
        -0.5 * xp.sum(ss / (scale * scale))
        - m * xp.sum(xp.log(scale))
        - 0.5 * math.log(2.0 * math.pi) * m * sigma.shape[0]
    )


# =========================================================================== reparameterisation
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


@dataclass
class PosteriorSpec:
    """Everything a backend needs to build the posterior of one (reduced) problem."""

    problem: Problem
    free_names: tuple[str, ...]
    free_index: np.ndarray  # position of each free parameter in MODES order
    fixed_values: np.ndarray  # (P,) configured values (used for the fixed ones)
    priors: tuple[PriorSpec, ...]  # one per free parameter
    space: SamplingSpace
    scaling_index: np.ndarray  # (A,) contrast/offset index of each angle
    start: dict[str, Any]  # starting point: values, contrast, offset, sigma_scale, source

    @property
    def n_free(self) -> int:
        return len(self.free_names)

    @property
    def n_scaling(self) -> int:
        return self.problem.n_scaling

    @property
    def k(self) -> int:
        return self.space.k

    def slices(self) -> tuple[slice, slice, slice, int]:
        p, s = self.n_free, self.n_scaling
        return slice(0, p), slice(p, p + s), slice(p + s, p + 2 * s), p + 2 * s

    def split(self, theta: Any) -> tuple[list[Any], Any, Any, Any]:
        """(parameter list in MODES order, contrast (S,), offset (S,), sigma_scale) from θ (k,)."""
        _ps, cs, os_, ns = self.slices()
        params: list[Any] = [float(v) for v in self.fixed_values]
        for j, i in enumerate(self.free_index):
            params[int(i)] = theta[j]
        return params, theta[cs], theta[os_], theta[ns]

    def c2_model(
        self,
        params: Sequence[Any],
        contrast: Any,
        offset: Any,
        xp: Any,
        *,
        t: Any = None,
        iu: Any = None,
        ju: Any = None,
    ) -> Any:
        """Model c2 on the problem's pairs, (A, m): :func:`homodyne.model.c2_pairs`.

        ``t``, ``iu`` and ``ju`` default to the problem's arrays; a backend may pass them
        as its own data variables so that they are not compiled in as constants."""
        pr = self.problem
        idx = self.scaling_index
        return c2_pairs(
            params,
            pr.t if t is None else t,
            pr.phi,
            pr.q,
            pr.gap,
            pr.iu if iu is None else iu,
            pr.ju if ju is None else ju,
            contrast[idx],
            offset[idx],
            pr.mode,
            xp,
        )

    def prior_table(self) -> dict[str, dict[str, Any]]:
        out = {p.name: p.to_dict() for p in self.priors}
        lo, hi = self.problem.contrast_bounds
        out["contrast"] = {"dist": "Uniform", "lower": lo, "upper": hi}
        lo, hi = self.problem.offset_bounds
        out["offset"] = {"dist": "Uniform", "lower": lo, "upper": hi}
        out["sigma_scale"] = {"dist": "LogNormal", "mu": NOISE_PRIOR.mu, "sigma": NOISE_PRIOR.sigma}
        return out


def _profile_scaling(problem: Problem, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best contrast and offset inside the bounds for the given physical parameters."""
    from .classical import profile_scaling

    g = np.broadcast_to(
        problem.c2(values, np.ones(problem.n_scaling), np.zeros(problem.n_scaling)),
        problem.data.shape,
    )
    idx = problem.scaling_index()
    con = np.empty(problem.n_scaling)
    off = np.empty(problem.n_scaling)
    for s in range(problem.n_scaling):
        sel = idx == s
        gs, ys = g[sel].reshape(-1), problem.data[sel].reshape(-1)
        con[s], off[s] = profile_scaling(
            gs, ys, 1.0, problem.contrast_bounds, problem.offset_bounds
        )
    return con, off


def _start_point(problem: Problem, init: Any) -> dict[str, Any]:
    """Physical values, contrast, offset and noise multiplier to start from."""
    params = problem.parameters
    values = params.values()
    con = off = None
    source = "configuration initial values"
    if init is not None:
        fit_params = getattr(init, "parameters", None)
        if fit_params is None:
            raise AnalysisError(
                f"init must be a classical FitResult or None, got {type(init).__name__}"
            )
        for i, name in enumerate(params.names):
            if not params[name].fixed and name in fit_params:
                values[i] = float(fit_params[name].value)
        S = problem.n_scaling
        c, o = (
            np.atleast_1d(np.asarray(init.contrast, float)),
            np.atleast_1d(np.asarray(init.offset, float)),
        )
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(o))):
            pass  # no scaling stored: profile it below
        elif c.size == S and o.size == S:
            con, off = c.copy(), o.copy()
        elif c.size == 1 and o.size == 1:
            con, off = np.full(S, c[0]), np.full(S, o[0])
        method = getattr(init, "method", "?")
        source = method if str(method).startswith("previous run") else f"classical fit ({method})"
        if not getattr(init, "success", True):
            log.warning(
                "the classical fit used as MCMC start did not converge; starting from its last point anyway"
            )
    if con is None or off is None:
        con, off = _profile_scaling(problem, values)
    con = np.clip(con, *problem.contrast_bounds)
    off = np.clip(off, *problem.offset_bounds)
    resid = (
        problem.data - np.broadcast_to(problem.c2(values, con, off), problem.data.shape)
    ) / problem.sigma[:, None]
    s = float(np.sqrt(np.mean(resid * resid)))
    if not (np.isfinite(s) and s > 0):
        raise AnalysisError(
            "the model is not finite at the MCMC starting point; check the initial parameter values"
        )
    from ..mcmc_start import start_record

    return {
        "values": values,
        "contrast": con,
        "offset": off,
        "sigma_scale": s,
        "source": source,
        "fit": start_record(init),
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
) -> PowerLawMap | None:
    """The (value, slope, offset) map of one power law, when its amplitude is free.

    ``HOMODYNE_MCMC_REPARAM``: ``auto`` (default: used unless the start is near the
    amplitude's or exponent's bounds), ``plain`` (never) or ``power_law`` (always).
    """
    choice = os.environ.get("HOMODYNE_MCMC_REPARAM", "auto").strip().lower()
    if choice not in ("auto", "plain", "power_law"):
        raise ConfigError(f"HOMODYNE_MCMC_REPARAM must be auto, plain or power_law, got {choice!r}")
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


def build_posterior_spec(problem: Problem, init: Any = None) -> PosteriorSpec:
    """Priors, starting point and whitened sampling space of a problem."""
    params = problem.parameters
    free_index = np.array(
        [i for i, n in enumerate(params.names) if not params[n].fixed], dtype=np.intp
    )
    free_names = tuple(params.names[i] for i in free_index)
    priors = tuple(prior_for(n, params[n]) for n in free_names)
    start = _start_point(problem, init)
    log_tref = float(np.mean(np.log(problem.t)))
    at = dict(zip(params.names, start["values"], strict=True))
    laws = [("D0", "alpha", "D_offset")]
    if problem.mode == "laminar_flow":
        laws.append(("gamma_dot_t0", "beta", "gamma_dot_t_offset"))
    maps = [_power_law(params, free_names, *law, log_tref, at) for law in laws]
    power_laws = tuple(m for m in maps if m is not None)
    space, theta_c = _sampling_space(problem, free_index, free_names, priors, start, power_laws)
    if os.environ.get("HOMODYNE_MCMC_REPARAM", "auto").strip().lower() == "auto":
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
    start["theta"] = theta_c
    return PosteriorSpec(
        problem,
        free_names,
        free_index,
        params.values(),
        priors,
        space,
        problem.scaling_index(),
        start,
    )


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
    lam, V = np.linalg.eigh(0.5 * (Fy + Fy.T))
    lam = np.maximum(lam, max(lam.max(), 1.0) * 1e-14)
    root = V * (1.0 / np.sqrt(lam))  # root @ root.T = Fy⁻¹
    space = SamplingSpace(
        tuple(names),
        lo,
        hi,
        bounded,
        logscale,
        y0,
        root,
        float(-0.5 * np.sum(np.log(lam))),
        power_laws,
    )
    return space, theta_c


def initial_points(spec: PosteriorSpec, chains: int, seed: int, spread: float = 1.0) -> np.ndarray:
    """Starting z of every chain: the start point, jittered uniformly by ±``spread`` (posterior sd units)."""
    rng = np.random.default_rng([seed, 7919])
    return rng.uniform(-spread, spread, size=(chains, spec.k))


# =========================================================================== results
#: Sample statistics every backend reports, with ArviZ's names.
SAMPLE_STATS = (
    "diverging",
    "n_steps",
    "tree_depth",
    "reached_max_treedepth",
    "step_size",
    "acceptance_rate",
    "energy",
    "lp",
)


def build_idata(
    spec: PosteriorSpec,
    z: np.ndarray,
    stats: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
) -> Any:
    """ArviZ InferenceData with the same variables whatever the backend.

    ``z`` holds the sampled vectors, shape (chains, draws, k); ``stats`` the sample
    statistics of :data:`SAMPLE_STATS`, each (chains, draws).
    """
    import arviz as az

    pr = spec.problem
    theta = spec.space.to_theta(z)
    _ps, cs, os_, ns = spec.slices()
    posterior: dict[str, np.ndarray] = {}
    for j, name in enumerate(spec.free_names):
        posterior[name] = theta[..., j]
    posterior["contrast"] = theta[..., cs]
    posterior["offset"] = theta[..., os_]
    posterior["sigma_scale"] = theta[..., ns]
    per_angle = pr.scaling_mode == "per_angle"
    sdim = "angle" if per_angle else "scaling"
    coords = {
        "angle": np.arange(pr.n_angles),
        "pair": np.arange(pr.n_pairs),
        "frame": np.arange(pr.n_frames),
    }
    if not per_angle:
        coords["scaling"] = np.array([0])  # one contrast/offset shared by all angles
    dims = {
        "contrast": [sdim],
        "offset": [sdim],
        "c2_obs": ["angle", "pair"],
        "phi": ["angle"],
        "sigma": ["angle"],
        "t": ["frame"],
        "iu": ["pair"],
        "ju": ["pair"],
    }
    sample_stats = {k: np.asarray(stats[k]) for k in SAMPLE_STATS if k in stats}
    constant = {
        "phi": pr.phi,
        "sigma": pr.sigma,
        "t": pr.t,
        "iu": pr.iu.astype(np.int64),
        "ju": pr.ju.astype(np.int64),
    }
    fixed = {
        n: float(v)
        for n, v in zip(pr.parameters.names, spec.fixed_values, strict=True)
        if pr.parameters[n].fixed
    }
    all_attrs = {
        "homodyne_mode": pr.mode,
        "q": pr.q,
        "stator_rotor_gap": pr.gap,
        "fixed_parameters": json.dumps(fixed),
        "priors": json.dumps(spec.prior_table()),
        "reparameterisation": json.dumps(spec.space.describe()),
        "start": spec.start["source"],
        "scaling_mode": pr.scaling_mode,
        "noise_model": pr.noise_model,
        **{k: (v if isinstance(v, str | int | float) else json.dumps(v)) for k, v in attrs.items()},
    }
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=sample_stats,
        observed_data={"c2_obs": pr.data},
        constant_data=constant,
        coords=coords,
        dims=dims,
        attrs=all_attrs,
    )
    return idata


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


_STAT_COLUMNS = (
    "mean",
    "sd",
    "hdi_3%",
    "hdi_97%",
    "mcse_mean",
    "mcse_sd",
    "ess_bulk",
    "ess_tail",
    "r_hat",
)


def _summary_table(idata: Any, var_names: Sequence[str]) -> dict[str, dict[str, float | None]]:
    import arviz as az

    df = az.summary(idata, var_names=list(var_names), hdi_prob=HDI_PROB, round_to="none")
    out = {}
    for label, row in df.iterrows():
        out[str(label)] = {c: _jsonable(row[c]) for c in _STAT_COLUMNS if c in row}
    return out


def verdict(
    table: Mapping[str, Mapping[str, Any]],
    divergences: int,
    n_draws: int,
    chains: int,
    settings: MCMCSettings,
) -> dict[str, Any]:
    """Convergence verdict of sampled variables against the configured thresholds."""

    def worst(key: str, fn: Callable[[Sequence[float]], float]) -> tuple[float | None, str | None]:
        vals: list[tuple[float, str]] = [
            (float(row[key]), name) for name, row in table.items() if row.get(key) is not None
        ]
        if not vals:
            return None, None
        v = fn([x for x, _ in vals])
        return v, next(n for x, n in vals if x == v)

    rmax, rname = worst("r_hat", max)
    eb, ebn = worst("ess_bulk", min)
    et, etn = worst("ess_tail", min)
    frac = divergences / max(n_draws, 1)
    checks: dict[str, dict[str, Any]] = {
        "r_hat": {
            "value": rmax,
            "limit": settings.rhat_max,
            "rule": "max R-hat < limit",
            "worst": rname,
            "ok": bool(rmax is not None and rmax < settings.rhat_max),
        },
        "ess_bulk": {
            "value": eb,
            "limit": settings.ess_min,
            "rule": "min bulk ESS > limit",
            "worst": ebn,
            "ok": bool(eb is not None and eb > settings.ess_min),
        },
        "ess_tail": {
            "value": et,
            "limit": settings.ess_min,
            "rule": "min tail ESS > limit",
            "worst": etn,
            "ok": bool(et is not None and et > settings.ess_min),
        },
        "divergences": {
            "value": frac,
            "count": int(divergences),
            "limit": settings.divergence_max_fraction,
            "rule": "fraction of divergent draws < limit",
            "ok": bool(frac < settings.divergence_max_fraction),
        },
    }
    problems = []
    if rmax is None:
        problems.append(f"R-hat needs at least 2 chains (ran {chains})")
    elif not checks["r_hat"]["ok"]:
        problems.append(f"R-hat {rmax:.4f} ({rname}) ≥ {settings.rhat_max}")
    for key, label in (("ess_bulk", "bulk ESS"), ("ess_tail", "tail ESS")):
        c = checks[key]
        if not c["ok"]:
            problems.append(
                f"{label} {c['value']:.0f} ({c['worst']}) ≤ {settings.ess_min:g}"
                if c["value"] is not None
                else f"{label} unavailable"
            )
    if not checks["divergences"]["ok"]:
        problems.append(
            f"{divergences} divergent draws ({100 * frac:.2f}% ≥ {100 * settings.divergence_max_fraction:g}%; "
            "if J(t) or the shear rate is poorly determined, try HOMODYNE_MCMC_REPARAM=plain)"
        )
    passed = not problems
    text = (
        f"converged: R-hat < {settings.rhat_max}, ESS > {settings.ess_min:g}, divergences < {100 * settings.divergence_max_fraction:g}%"
        if passed
        else "NOT converged: "
        + "; ".join(problems)
        + " (run more draws/tune, raise target_accept, or check the model)"
    )
    return {
        "passed": passed,
        "text": text,
        "thresholds": {
            "rhat_max": settings.rhat_max,
            "ess_min": settings.ess_min,
            "divergence_max_fraction": settings.divergence_max_fraction,
        },
        "checks": checks,
    }


@dataclass
class MCMCResult:
    """What an MCMC backend returns: posterior draws and everything said about them.

    ``idata`` is an ArviZ InferenceData with groups ``posterior`` (each free physical
    parameter by name, ``contrast`` and ``offset`` with an ``angle`` dimension (``scaling``
    for shared scaling), ``sigma_scale``), ``sample_stats`` (``diverging``, ``tree_depth``,
    ``n_steps``, ``step_size``, ``acceptance_rate``, ``energy``, ``lp``), ``observed_data``
    (``c2_obs``, angle x pair) and ``constant_data`` (``t``, ``phi``, ``iu``, ``ju``,
    ``sigma``). The names are identical for every backend.
    """

    idata: Any
    backend: str
    backend_name: str
    device: str
    spec: PosteriorSpec
    settings: MCMCSettings
    reduction: dict[str, Any]
    timing: dict[str, float]
    library: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    plots: bool = True
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ views
    @property
    def problem(self) -> Problem:
        """The problem that was sampled (after data reduction)."""
        return self.spec.problem

    @property
    def free_names(self) -> tuple[str, ...]:
        return self.spec.free_names

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of one variable, chains and draws flattened into the first axis."""
        v = np.asarray(self.idata.posterior[name].values)
        return v.reshape(-1, *v.shape[2:])

    @property
    def posterior_means(self) -> dict[str, float]:
        return {n: float(self.draws(n).mean()) for n in self.free_names}

    @property
    def converged(self) -> bool:
        return bool(self.summary["verdict"]["passed"])

    def __getitem__(self, key: str) -> Any:
        """Seed-style dict access: ``trace``, ``posterior_means``, ``diagnostics``, ``time``, ``summary``."""
        legacy = {
            "trace": lambda: self.idata,
            "posterior_means": lambda: self.posterior_means,
            "diagnostics": lambda: self.summary["verdict"],
            "time": lambda: self.timing["total_s"],
            "summary": lambda: self.summary,
            "backend": lambda: self.backend_name,
        }
        if key not in legacy:
            raise KeyError(key)
        return legacy[key]()

    # ------------------------------------------------------------------ summary
    @property
    def summary(self) -> dict[str, Any]:
        """JSON-able summary: statistics per parameter, diagnostics, timing, verdict."""
        if self._summary is None:
            self._summary = self._make_summary()
        return self._summary

    def _make_summary(self) -> dict[str, Any]:
        pr = self.problem
        names = [*self.free_names, "contrast", "offset", "sigma_scale"]
        table = _summary_table(self.idata, names)
        params: dict[str, Any] = {}
        for name in pr.parameters.names:
            p = pr.parameters[name]
            if p.fixed:
                params[name] = {
                    "mean": p.value,
                    "sd": 0.0,
                    "hdi_3%": p.value,
                    "hdi_97%": p.value,
                    "fixed": True,
                    "unit": p.unit,
                }
            else:
                params[name] = {**table[name], "fixed": False, "unit": p.unit}
        S = pr.n_scaling
        scaling = {
            kind: [table[f"{kind}[{i}]"] for i in range(S)] for kind in ("contrast", "offset")
        }
        ss = self.idata.sample_stats
        div = int(np.asarray(ss["diverging"].values).sum()) if "diverging" in ss else 0
        n_draws = self.settings.chains * self.settings.draws
        depth = np.asarray(ss["tree_depth"].values) if "tree_depth" in ss else None
        sampled = {k: v for k, v in table.items()}
        v = verdict(sampled, div, n_draws, self.settings.chains, self.settings)
        ess_min = v["checks"]["ess_bulk"]["value"]
        samp_s = self.timing.get("sampling_s") or self.timing.get("total_s")
        tot_s = self.timing.get("total_s")
        nsteps = np.asarray(ss["n_steps"].values) if "n_steps" in ss else None
        return _jsonable(
            {
                "backend": self.backend,
                "backend_name": self.backend_name,
                "device": self.device,
                "library": self.library,
                "mode": pr.mode,
                "parameters": params,
                "scaling": {"mode": pr.scaling_mode, **scaling},
                "sigma_scale": table.get("sigma_scale", {}),
                "noise": {
                    "model": pr.noise_model,
                    "sigma_per_angle": pr.sigma,
                    "note": "c2 ~ Normal(model, sigma_scale * sigma_angle)",
                },
                "priors": self.spec.prior_table(),
                "reparameterisation": self.spec.space.describe(),
                "start": {
                    "source": self.spec.start["source"],
                    "values": dict(
                        zip(pr.parameters.names, self.spec.start["values"], strict=True)
                    ),
                    "classical_fit": self.spec.start.get("fit"),
                },
                "settings": self.settings.to_dict(),
                "data_reduction": self.reduction,
                "divergences": div,
                "divergence_fraction": div / max(n_draws, 1),
                "tree_depth": {
                    "mean": float(depth.mean()) if depth is not None else None,
                    "max": int(depth.max()) if depth is not None else None,
                    "hits_max_treedepth": int((depth >= self.settings.max_treedepth).sum())
                    if depth is not None
                    else None,
                },
                "gradient_evaluations": int(nsteps.sum()) if nsteps is not None else None,
                "time": self.timing,
                "ess_bulk_min_per_s": (ess_min / tot_s) if (ess_min and tot_s) else None,
                "ess_bulk_min_per_sampling_s": (ess_min / samp_s) if (ess_min and samp_s) else None,
                "hdi_prob": HDI_PROB,
                "verdict": v,
                **self.extra,
            }
        )

    # ------------------------------------------------------------------ report
    def report(self) -> str:
        s = self.summary
        red = s["data_reduction"]
        lines = [
            f"[[MCMC]] backend={self.backend} ({self.backend_name})  device={self.device}",
            f"    chains={self.settings.chains}  tune={self.settings.tune}  draws={self.settings.draws}  "
            f"target_accept={self.settings.target_accept}  max_treedepth={self.settings.max_treedepth}  seed={self.settings.seed}",
            f"    data: {red['n_angles']} angles x {red['n_pairs_used']} pairs = {red['n_values_used']} values "
            f"({100 * red['fraction_used']:.1f}% of {red['n_values_full']}; frame_stride={red['frame_stride']}, max_lag={red['max_lag']})",
            f"    time: {s['time'].get('total_s', float('nan')):.1f} s (sampling {s['time'].get('sampling_s', float('nan')):.1f} s)  "
            f"divergences={s['divergences']}  mean tree depth={s['tree_depth']['mean'] or float('nan'):.2f}",
            f"    start: {s['start']['source']}",
            f"    verdict: {s['verdict']['text']}",
            "[[Posterior]]  mean, sd, 94% HDI, R-hat, bulk/tail ESS",
        ]

        def fmt(v: Any, spec: str) -> str:
            return "nan" if v is None else format(v, spec)

        for name, row in s["parameters"].items():
            if row.get("fixed"):
                lines.append(f"    {name:<20s} = {row['mean']:< 12.6g} (fixed) {row['unit']}")
                continue
            lines.append(
                f"    {name:<20s} {fmt(row['mean'], '< 12.6g')} ± {fmt(row['sd'], '<10.3g')} "
                f"[{fmt(row['hdi_3%'], '.5g')}, {fmt(row['hdi_97%'], '.5g')}]  R-hat {fmt(row['r_hat'], '.4f')}  "
                f"ESS {fmt(row['ess_bulk'], '.0f')}/{fmt(row['ess_tail'], '.0f')}  {row['unit']}"
            )
        ss = s["sigma_scale"]
        lines.append(
            f"    {'sigma_scale':<20s} {fmt(ss.get('mean'), '< 12.6g')} ± {fmt(ss.get('sd'), '<10.3g')}  R-hat {fmt(ss.get('r_hat'), '.4f')}"
        )
        for kind in ("contrast", "offset"):
            means = [r.get("mean") for r in s["scaling"][kind]]
            if means and all(m is not None for m in means):
                lines.append(
                    f"    {kind:<20s} {np.array2string(np.asarray(means), precision=4, max_line_width=90)}"
                )
        return "\n".join(lines)

    # ------------------------------------------------------------------ files
    def save(self, run_dir: str | Path, *, plots: bool | None = None) -> list[Path]:
        """Write ``mcmc_<backend>.nc``, ``mcmc_summary.json`` and the PNG plots; atomic writes."""
        from ..results.atomic import atomic_call, atomic_write_text

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        written = []
        nc = run_dir / f"mcmc_{self.backend}.nc"
        atomic_call(nc, lambda tmp: self.idata.to_netcdf(str(tmp)), suffix=".nc")
        written.append(nc)
        js = run_dir / "mcmc_summary.json"
        atomic_write_text(js, json.dumps(self.summary, indent=2, allow_nan=False) + "\n")
        written.append(js)
        if self.plots if plots is None else plots:
            written += [
                plot_trace(self, run_dir / "mcmc_trace.png"),
                plot_corner(self, run_dir / "mcmc_corner.png"),
                plot_residuals(self, run_dir / "mcmc_residuals.png"),
            ]
        return written


def build_result(
    *,
    spec: PosteriorSpec,
    full_problem: Problem,
    z: np.ndarray,
    stats: Mapping[str, np.ndarray],
    backend: str,
    backend_name: str,
    device: str,
    settings: MCMCSettings,
    timing: Mapping[str, float],
    library: Mapping[str, str],
    plots: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> MCMCResult:
    """Assemble the shared result from a backend's raw draws (z) and sample statistics."""
    from .._version import __version__

    attrs = {
        "inference_backend": backend,
        "backend_name": backend_name,
        "device": device,
        "homodyne_version": __version__,
        "settings": settings.to_dict(),
        **{f"{k}_version": v for k, v in library.items()},
    }
    idata = build_idata(spec, z, stats, attrs)
    return MCMCResult(
        idata=idata,
        backend=backend,
        backend_name=backend_name,
        device=device,
        spec=spec,
        settings=settings,
        reduction=reduction_report(full_problem, spec.problem),
        timing=dict(timing),
        library=dict(library),
        extra=dict(extra or {}),
        plots=plots,
    )


def setup_run(
    analysis_core: Any,
    config: Any,
    c2_experimental: Any,
    phi_angles: Any,
    filter_angles_for_optimization: bool,
    init: Any,
    overrides: Mapping[str, Any],
) -> tuple[Problem, PosteriorSpec, MCMCSettings, Any]:
    """The common first half of every backend's run function.

    Builds the problem, applies the data reduction, resolves the starting point (a
    classical fit when the configuration asks for one and none was given) and builds the
    posterior specification. Returns (full problem, spec, settings, config).
    """
    mode = (
        analysis_core.mode
        if isinstance(analysis_core, Problem)
        else getattr(getattr(analysis_core, "parameters", None), "mode", None)
    )
    if mode is None:
        mode = config.mode if hasattr(config, "mode") else (config or {}).get("analysis_mode")
    if mode is None:
        raise AnalysisError(
            "cannot tell the analysis mode: pass a Problem as analysis_core or a configuration"
        )
    cfg = resolve_config(config, mode)
    settings = resolve_settings(cfg, overrides)
    full = prepare_problem(
        analysis_core, cfg, c2_experimental, phi_angles, filter_angles_for_optimization
    )
    problem = full.reduced(settings.frame_stride, settings.max_lag)
    if problem.n_data > 3_000_000:
        log.warning(
            "MCMC on %d c2 values is slow; consider mcmc.frame_stride / mcmc.max_lag (data reduction)",
            problem.n_data,
        )
    from ..mcmc_start import resolve_start

    start = resolve_start(settings.init, cfg, problem, init)
    if start is not None and problem is not full:
        # The centre should be the mode of the posterior that is sampled: refine the given
        # fit on the reduced data (one local fit from its values, about a second).
        from .classical import fit

        try:
            start = fit(
                problem.with_parameters(problem.parameters.updated(start.parameters.values())),
                multistart=0,
            )
        except AnalysisError as exc:  # keep the given start
            log.info(
                "refining the MCMC start on the reduced data failed (%s); using the given fit", exc
            )
    spec = build_posterior_spec(problem, start)
    return full, spec, settings, cfg


def cpu_description() -> str:
    """A short description of this machine's CPU."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


# =========================================================================== plots
def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Any, path: Path) -> Path:
    from ..results.atomic import atomic_call

    return atomic_call(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png")


def _plot_names(result: MCMCResult) -> list[str]:
    return [*result.free_names, "sigma_scale"]


def plot_trace(result: MCMCResult, path: Path) -> Path:
    """Per variable: the marginal density of each chain (left) and its trace (right)."""
    names = _plot_names(result)
    fig = _figure(11, 1.8 * len(names) + 0.6)
    axes = fig.subplots(len(names), 2, squeeze=False)
    post = result.idata.posterior
    for r, name in enumerate(names):
        v = np.asarray(post[name].values)  # (chains, draws)
        for c in range(v.shape[0]):
            axes[r, 0].hist(v[c], bins=40, histtype="step", density=True, label=f"chain {c}")
            axes[r, 1].plot(v[c], lw=0.5, alpha=0.8)
        unit = result.problem.parameters[name].unit if name in result.problem.parameters else ""
        axes[r, 0].set_ylabel(f"{name}\n[{unit}]" if unit else name)
        axes[r, 0].ticklabel_format(axis="x", useOffset=False, style="sci", scilimits=(-3, 4))
        axes[r, 1].set_xlabel("draw" if r == len(names) - 1 else "")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"MCMC trace ({result.backend}, {result.settings.chains} chains x {result.settings.draws} draws)"
    )
    return _save_png(fig, path)


def plot_corner(result: MCMCResult, path: Path, max_points: int = 4000) -> Path:
    """Pair (corner) plot of the free physical parameters: marginals and 2-D histograms."""
    names = list(result.free_names)
    k = len(names)
    x = np.column_stack([result.draws(n) for n in names])
    if x.shape[0] > max_points:
        x = x[np.linspace(0, x.shape[0] - 1, max_points).astype(int)]
    size = max(3.0, 1.9 * k)
    fig = _figure(size, size)
    axes = fig.subplots(k, k, squeeze=False)
    means = x.mean(axis=0)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(x[:, i], bins=40, color="C0", histtype="stepfilled", alpha=0.7)
                ax.axvline(means[i], color="k", lw=0.8)
                ax.set_yticks([])
            else:
                ax.hist2d(x[:, j], x[:, i], bins=35, cmap="Blues")
                ax.plot(means[j], means[i], "k+", ms=8)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.suptitle(f"posterior pairs ({result.backend}); + = posterior mean")
    return _save_png(fig, path)


def posterior_predictive_mean(result: MCMCResult, n_draws: int | None = None) -> np.ndarray:
    """Mean of the model c2 over posterior draws, (A, m): the posterior-predictive mean."""
    spec = result.spec
    pr = spec.problem
    total = result.settings.chains * result.settings.draws
    if n_draws is None:
        n_draws = int(np.clip(4e7 / max(pr.n_data, 1), 5, 100))
    pick = np.linspace(0, total - 1, min(n_draws, total)).astype(int)
    cols = [result.draws(n) for n in spec.free_names]
    con = result.draws("contrast").reshape(total, -1)
    off = result.draws("offset").reshape(total, -1)
    acc = np.zeros_like(pr.data)
    for d in pick:
        params = [float(v) for v in spec.fixed_values]
        for j, i in enumerate(spec.free_index):
            params[int(i)] = float(cols[j][d])
        acc += np.broadcast_to(spec.c2_model(params, con[d], off[d], np), pr.data.shape)
    return acc / pick.size


def plot_residuals(result: MCMCResult, path: Path, max_angles: int = 8) -> Path:
    """Posterior-predictive residuals: (data - E[model]) / (sigma_scale σ) per angle, and their histogram."""
    pr = result.problem
    mean = posterior_predictive_mean(result)
    scale = float(result.draws("sigma_scale").mean())
    z = (pr.data - mean) / (scale * pr.sigma[:, None])
    shown = np.unique(np.linspace(0, pr.n_angles - 1, min(max_angles, pr.n_angles)).astype(int))
    ncol = min(4, shown.size)
    nrow = math.ceil(shown.size / ncol) + 1
    fig = _figure(3.2 * ncol, 3.0 * nrow)
    grid = fig.add_gridspec(nrow, ncol)
    full = pr.full_matrix(z, np.nan)
    lim = 4.0
    im = None
    for k, a in enumerate(shown):
        ax = fig.add_subplot(grid[k // ncol, k % ncol])
        m = full[a]
        n = m.shape[0]
        step = max(1, math.ceil(n / 300))
        im = ax.imshow(
            m[::step, ::step],
            origin="lower",
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            extent=(pr.t[0], pr.t[-1], pr.t[0], pr.t[-1]),
            interpolation="nearest",
        )
        ax.set_title(f"φ = {pr.phi[a]:.2f}°", fontsize=9)
        ax.set_xlabel("t2 [s]", fontsize=8)
        ax.set_ylabel("t1 [s]", fontsize=8)
        ax.tick_params(labelsize=7)
    if im is not None:
        fig.colorbar(im, ax=fig.axes, shrink=0.6, label="residual / σ")
    ax = fig.add_subplot(grid[nrow - 1, :])
    flat = z.reshape(-1)
    ax.hist(
        flat,
        bins=120,
        range=(-6, 6),
        density=True,
        histtype="stepfilled",
        alpha=0.6,
        label="residuals / σ",
    )
    xs = np.linspace(-6, 6, 400)
    ax.plot(xs, np.exp(-0.5 * xs * xs) / math.sqrt(2 * math.pi), "k", lw=1, label="N(0, 1)")
    ax.set_title(
        f"posterior-predictive residuals: mean {flat.mean():.3f}, sd {flat.std():.3f} (ideal 0, 1)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.suptitle(f"data - posterior-mean model ({result.backend})")
    return _save_png(fig, path)


def with_settings(settings: MCMCSettings, **changes: Any) -> MCMCSettings:
    return replace(settings, **changes)


def timer() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0
