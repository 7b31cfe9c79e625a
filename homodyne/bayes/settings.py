"""Sampler settings: the ``mcmc`` configuration section after command-line overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError

__all__ = ["MCMCSettings", "resolve_config", "resolve_settings", "with_settings"]


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


def with_settings(settings: MCMCSettings, **changes: Any) -> MCMCSettings:
    return replace(settings, **changes)
