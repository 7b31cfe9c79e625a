"""JSON configuration: schema, validation, typed sections, defaults and templates.

* :mod:`.schema`: the single source of truth for every key (type, default, allowed
  values, one-line explanation); **adding a key is one entry there** (its docstring says
  how);
* :mod:`.checks`: validation, one small checker per field kind;
* :mod:`.sections`: the typed, immutable sections built by the validator
  (``config.mcmc`` is :class:`homodyne.bayes.settings.MCMCSettings`);
* :mod:`.templates`: templates for ``homodyne-config`` and the generated reference of
  ``docs/configuration.rst``;
* this module: :class:`Config`, :func:`config_from_dict`, :func:`load_config`.

Validation errors name the file, the key path, the bad value and what was expected;
unknown keys are errors with a "did you mean" suggestion. Command-line values reach a
configuration through :meth:`Config.with_overrides`, validated the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import MODES
from ..parameters import AUTO, Parameters
from .checks import TOP_KEYS, _suggest, _unknown, check_parameters, check_section
from .schema import SCHEMA, Field
from .sections import SECTION_TYPES, Section
from .templates import reference_rst, template, write_template

__all__ = [
    "SCHEMA",
    "SECTION_TYPES",
    "Config",
    "Field",
    "Section",
    "config_from_dict",
    "load_config",
    "reference_rst",
    "template",
    "write_template",
]


@dataclass(frozen=True)
class Config:
    """A validated configuration: every section complete, with defaults filled in.

    Immutable: ``config.mcmc`` and the other sections are typed frozen sections
    (:mod:`homodyne.config.sections`); :meth:`with_overrides` and :meth:`with_mode` make
    changed copies, validated like a file."""

    mode: str
    parameters: Parameters
    sections: dict[str, Section]
    description: str = ""
    path: Path | None = None
    #: (parameter, key) pairs given as "auto": set from the data (homodyne.data.auto_defaults)
    auto: frozenset[tuple[str, str]] = frozenset()

    def __getattr__(self, name: str) -> Any:
        sections: dict[str, Section] = object.__getattribute__(self, "sections")
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def resolve_path(self, value: str | None) -> Path | None:
        """A path from the config, relative to the config file's folder."""
        if value is None:
            return None
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p

    def with_mode(self, mode: str) -> Config:
        """The same configuration in another mode (parameters re-validated for that mode)."""
        if mode == self.mode:
            return self
        d = self.to_dict()
        d["analysis_mode"] = mode
        old = d["parameters"]
        d["parameters"] = {k: v for k, v in old.items() if k in MODES[mode]}
        return config_from_dict(
            d, source=str(self.path) if self.path else "<config>", path=self.path
        )

    def with_overrides(self, section: str, values: dict[str, Any], origin: str) -> Config:
        """The configuration with keys of one section replaced, validated like the file.

        ``origin`` names where the values came from (for example "command line"); errors
        name it together with the key path, e.g. ``config.json (with command line
        overrides): mcmc.target_accept: ...``."""
        if not values:
            return self
        d = self.to_dict()
        d.setdefault(section, {}).update(values)
        source = f"{self.path or '<config>'} (with {origin} overrides)"
        return config_from_dict(d, source=source, path=self.path)

    def to_dict(self) -> dict[str, Any]:
        """The complete configuration as plain JSON data (the snapshot stored with results)."""
        params: dict[str, Any] = {}
        for name, p in self.parameters.items():
            entry: dict[str, Any] = {
                "value": p.value,
                "min": p.min,
                "max": p.max,
                "unit": p.unit,
                "fixed": p.fixed,
            }
            entry["prior"] = p.prior.to_dict() if p.prior else None
            for key in ("value", "min", "max"):
                if (name, key) in self.auto:
                    entry[key] = AUTO
            params[name] = entry
        out: dict[str, Any] = {"analysis_mode": self.mode}
        if self.description:
            out["description"] = self.description
        out.update({name: sec.to_dict() for name, sec in self.sections.items()})
        out["parameters"] = params
        return out


def config_from_dict(raw: Any, *, source: str = "<config>", path: Path | None = None) -> Config:
    """Validate a configuration given as parsed JSON data."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object")
    for key in raw:
        if key not in TOP_KEYS:
            raise _unknown(source, key, TOP_KEYS)
    mode = raw.get("analysis_mode")
    if mode is None:
        raise ConfigError(f"{source}: missing key 'analysis_mode' (one of {', '.join(MODES)})")
    if not isinstance(mode, str) or mode not in MODES:
        raise ConfigError(
            f"{source}: analysis_mode: expected one of {', '.join(MODES)}, got {mode!r}{_suggest(str(mode), MODES)}"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: description: expected a string")
    checked = {name: check_section(source, name, raw.get(name)) for name in SCHEMA}
    sc = checked["scaling"]
    if sc["contrast_min"] >= sc["contrast_max"]:
        raise ConfigError(
            f"{source}: scaling: contrast_min ({sc['contrast_min']}) must be < contrast_max ({sc['contrast_max']})"
        )
    if sc["offset_min"] >= sc["offset_max"]:
        raise ConfigError(
            f"{source}: scaling: offset_min ({sc['offset_min']}) must be < offset_max ({sc['offset_max']})"
        )
    if checked["noise"]["model"] == "fixed" and checked["noise"]["sigma"] is None:
        raise ConfigError(f"{source}: noise.sigma: required when noise.model is 'fixed'")
    init = checked["mcmc"]["init"]
    if init == "auto":  # the former name of the default
        checked["mcmc"]["init"] = "classical"
    elif init not in ("classical", "config") and not init.endswith(".json"):
        raise ConfigError(
            f"{source}: mcmc.init: expected 'classical', 'config' or the path of a previous "
            f"run's results.json, got {init!r}"
        )
    params, auto = check_parameters(source, mode, raw.get("parameters"))
    sections = {name: SECTION_TYPES[name](**values) for name, values in checked.items()}
    return Config(mode, params, sections, description, path, auto)


def load_config(path: str | Path) -> Config:
    """Read and validate a JSON configuration file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: configuration file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file ({exc.strerror})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    return config_from_dict(raw, source=str(p), path=p.resolve())
