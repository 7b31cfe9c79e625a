"""Sampler settings: the ``mcmc`` configuration section after command-line overrides.

There is no separate settings type: :data:`MCMCSettings` is the typed ``mcmc`` section of
:mod:`homodyne.config` (a key added to ``SCHEMA["mcmc"]`` is a setting)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..config.sections import MCMCSection, Section
from ..errors import ConfigError

__all__ = ["MCMCSettings", "resolve_config", "resolve_settings", "with_settings"]


#: The sampler settings: the configuration's ``mcmc`` section (a typed, frozen section
#: generated from ``SCHEMA["mcmc"]``, with every key as an attribute: draws, tune, chains,
#: target_accept, max_treedepth, seed, frame_stride, max_lag, init, the verdict
#: thresholds, reparam, backend, pytensor_mode, chain_method). ``MCMCSettings()`` holds
#: the defaults.
if TYPE_CHECKING:
    MCMCSettings = Section
else:
    MCMCSettings = MCMCSection


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
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return config.mcmc
    d = config.to_dict()
    d["mcmc"].update(given)
    return config_from_dict(d, source="<MCMC options>").mcmc


def with_settings(settings: MCMCSettings, **changes: Any) -> MCMCSettings:
    return replace(settings, **changes)  # type: ignore[type-var]
