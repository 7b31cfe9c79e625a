"""Model parameters: name, unit, value, bounds, optional prior and a fixed/free flag.

One table (:data:`PARAMETER_TABLE`) holds every physical parameter's unit, default
initial value, default bounds and description; the three analysis modes pick their
parameters from it in the order of :data:`homodyne.model.MODES`. Every other module
(configuration, template, fitting, MCMC, reports) reads parameter facts from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ConfigError
from .model import MODES

__all__ = [
    "AUTO",
    "AUTO_PARAMETERS",
    "PARAMETER_TABLE",
    "PRIOR_KINDS",
    "SCALING_DEFAULTS",
    "Parameter",
    "Parameters",
    "Prior",
    "default_parameters",
]


@dataclass(frozen=True)
class ParameterSpec:
    unit: str
    value: float
    min: float
    max: float
    description: str


#: Units, template initial values, default bounds and meaning of every physical parameter.
PARAMETER_TABLE: dict[str, ParameterSpec] = {
    "D0": ParameterSpec(
        "Å²/s",
        1000.0,
        1.0,
        1.0e6,
        "amplitude of the transport coefficient J(t) = D0 t^alpha + D_offset",
    ),
    "alpha": ParameterSpec("1", 0.0, -2.0, 2.0, "power-law exponent of J(t)"),
    "D_offset": ParameterSpec("Å²/s", 0.0, -100.0, 100.0, "constant part of J(t)"),
    "gamma_dot_t0": ParameterSpec(
        "1/s",
        0.01,
        1.0e-6,
        1.0,
        "amplitude of the shear rate gdot(t) = gamma_dot_t0 t^beta + offset",
    ),
    "beta": ParameterSpec("1", 0.0, -2.0, 2.0, "power-law exponent of the shear rate"),
    "gamma_dot_t_offset": ParameterSpec("1/s", 0.0, -0.01, 0.01, "constant part of the shear rate"),
    "phi0": ParameterSpec("deg", 0.0, -10.0, 10.0, "flow direction relative to the detector φ = 0"),
}

#: The configuration value asking for a number set from the data's own scales
#: (homodyne.data.auto_defaults), and the parameters whose value and bounds may take it.
AUTO = "auto"
AUTO_PARAMETERS = ("D0", "D_offset", "gamma_dot_t0", "gamma_dot_t_offset")

#: Per-angle scaling nuisance parameters: c2 = offset + contrast * g1².
SCALING_DEFAULTS: dict[str, ParameterSpec] = {
    "contrast": ParameterSpec("1", 0.3, 1.0e-4, 1.0, "speckle contrast (β) per angle"),
    "offset": ParameterSpec("1", 1.0, 0.5, 1.5, "baseline of c2 per angle"),
}

#: Prior distributions understood by both MCMC backends, with their required arguments.
PRIOR_KINDS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "TruncatedNormal": ("mu", "sigma"),
    "LogNormal": ("mu", "sigma"),
    "Uniform": (),
}


@dataclass(frozen=True)
class Prior:
    """A prior for MCMC. Normal/TruncatedNormal/LogNormal take mu and sigma (LogNormal's
    are of log(value)); Uniform spans the parameter's bounds. All priors are truncated to
    the bounds by the backends."""

    dist: str
    mu: float | None = None
    sigma: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dist": self.dist}
        if self.mu is not None:
            out["mu"] = self.mu
        if self.sigma is not None:
            out["sigma"] = self.sigma
        return out


@dataclass(frozen=True)
class Parameter:
    """One parameter: the value is the initial value before a fit, the estimate after."""

    name: str
    value: float
    min: float
    max: float
    unit: str = ""
    fixed: bool = False
    prior: Prior | None = None
    stderr: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("value", "min", "max"):
            v = getattr(self, key)
            if not isinstance(v, int | float) or isinstance(v, bool) or math.isnan(float(v)):
                raise ConfigError(f"parameter {self.name!r}: {key} must be a number, got {v!r}")
        if not self.min < self.max:
            raise ConfigError(
                f"parameter {self.name!r}: bounds must satisfy min < max, got min={self.min!r}, "
                f"max={self.max!r}"
            )
        if not self.min <= self.value <= self.max:
            raise ConfigError(
                f"parameter {self.name!r}: initial value {self.value!r} is outside its bounds "
                f"[{self.min!r}, {self.max!r}]"
            )

    def with_value(self, value: float, stderr: float | None = None) -> Parameter:
        return replace(self, value=float(value), stderr=stderr)


@dataclass
class Parameters(Mapping[str, Parameter]):
    """Ordered parameters of one analysis mode (mapping name → :class:`Parameter`)."""

    mode: str
    items_: dict[str, Parameter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = MODES[self.mode]
        if tuple(self.items_) != expected:
            raise ConfigError(
                f"parameters for mode {self.mode!r} must be {list(expected)}, got {list(self.items_)}"
            )

    def __getitem__(self, name: str) -> Parameter:
        return self.items_[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.items_)

    def __len__(self) -> int:
        return len(self.items_)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.items_)

    @property
    def free_names(self) -> tuple[str, ...]:
        return tuple(n for n, p in self.items_.items() if not p.fixed)

    @property
    def free_mask(self) -> np.ndarray:
        return np.array([not p.fixed for p in self.items_.values()])

    def values(self) -> np.ndarray:  # type: ignore[override]
        """All values in mode order (a NumPy vector, not a view of the mapping)."""
        return np.array([p.value for p in self.items_.values()], dtype=float)

    def lower(self) -> np.ndarray:
        return np.array([p.min for p in self.items_.values()], dtype=float)

    def upper(self) -> np.ndarray:
        return np.array([p.max for p in self.items_.values()], dtype=float)

    def updated(
        self, values: np.ndarray | Mapping[str, float], stderrs: Mapping[str, float] | None = None
    ) -> Parameters:
        """A copy with new values (vector in mode order or mapping) and optional errors."""
        if not isinstance(values, Mapping):
            values = dict(zip(self.names, np.asarray(values, dtype=float), strict=True))
        new = {}
        for name, p in self.items_.items():
            v = float(values.get(name, p.value))
            v = min(max(v, p.min), p.max)
            err = None if stderrs is None else stderrs.get(name)
            new[name] = replace(p, value=v, stderr=err)
        return Parameters(self.mode, new)


def default_parameters(mode: str) -> Parameters:
    """The template parameters of a mode, with the default values and bounds."""
    if mode not in MODES:
        raise ConfigError(f"unknown analysis mode {mode!r}; expected one of {sorted(MODES)}")
    items = {}
    for name in MODES[mode]:
        spec = PARAMETER_TABLE[name]
        items[name] = Parameter(
            name, spec.value, spec.min, spec.max, spec.unit, description=spec.description
        )
    return Parameters(mode, items)
