"""Validation of a configuration: one small checker per field kind, the sections, the
priors and the parameters. Error messages name the file, the key path, the bad value and
what was expected; unknown keys get a "did you mean" suggestion."""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..model import MODES
from ..parameters import (
    AUTO,
    AUTO_PARAMETERS,
    PARAMETER_TABLE,
    PRIOR_KINDS,
    Parameter,
    Parameters,
    Prior,
)
from .schema import SCHEMA, Field

__all__ = ["CHECKERS", "TOP_KEYS", "check_field", "check_parameters", "check_section"]

TOP_KEYS = ("analysis_mode", "description", *SCHEMA, "parameters")
_PARAM_KEYS = ("value", "min", "max", "fixed", "unit", "prior")


def _suggest(key: str, allowed: Any) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(where: str, key: str, allowed: Any) -> ConfigError:
    return ConfigError(
        f"{where}: unknown key {key!r}{_suggest(key, allowed)}; allowed keys: {', '.join(allowed)}"
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


Checker = Callable[[str, Field, Any], Any]


def _check_number(where: str, f: Field, v: Any) -> Any:
    if f.kind == "integer" and not (isinstance(v, int) and not isinstance(v, bool)):
        raise ConfigError(f"{where}: expected an integer, got {v!r}")
    if not _is_number(v):
        raise ConfigError(f"{where}: expected a finite number, got {v!r}")
    if f.minimum is not None and (v < f.minimum or (f.exclusive_minimum and v == f.minimum)):
        op = ">" if f.exclusive_minimum else ">="
        raise ConfigError(f"{where}: expected a value {op} {f.minimum}, got {v!r}")
    if f.maximum is not None and v > f.maximum:
        raise ConfigError(f"{where}: expected a value <= {f.maximum}, got {v!r}")
    return float(v) if f.kind == "number" else int(v)


def _check_boolean(where: str, f: Field, v: Any) -> Any:
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: expected true or false, got {v!r}")
    return v


def _check_string(where: str, f: Field, v: Any) -> Any:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: expected a non-empty string, got {v!r}")
    if f.choices and v not in f.choices:
        raise ConfigError(
            f"{where}: expected one of {', '.join(map(repr, f.choices))}, got {v!r}"
            f"{_suggest(v, f.choices)}"
        )
    return v


def _check_number_list(where: str, f: Field, v: Any) -> Any:
    if not isinstance(v, list) or not v or not all(_is_number(x) for x in v):
        raise ConfigError(f"{where}: expected a non-empty list of numbers, got {v!r}")
    return [float(x) for x in v]


def _check_ranges(where: str, f: Field, v: Any) -> Any:
    ok = isinstance(v, list) and all(
        isinstance(r, list) and len(r) == 2 and all(_is_number(x) for x in r) for r in v
    )
    if not ok or not v:
        raise ConfigError(f"{where}: expected a list of [min, max] pairs of numbers, got {v!r}")
    for r in v:
        if r[0] > r[1]:
            raise ConfigError(f"{where}: range {r!r} has min > max")
    return [[float(a), float(b)] for a, b in v]


def _check_frames(where: str, f: Field, v: Any) -> Any:
    ok = (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    )
    if not ok:
        raise ConfigError(f"{where}: expected [start, end] as two integers, got {v!r}")
    if v[0] < 1 or v[1] < v[0] + 1:
        raise ConfigError(
            f"{where}: expected 1 <= start < end (frames are 1-based and inclusive, at least 2), got {v!r}"
        )
    return [int(v[0]), int(v[1])]


#: One checker per field kind: (where, field, value) → the normalised value, or ConfigError.
CHECKERS: dict[str, Checker] = {
    "number": _check_number,
    "integer": _check_number,
    "boolean": _check_boolean,
    "string": _check_string,
    "path": _check_string,
    "number_list": _check_number_list,
    "ranges": _check_ranges,
    "frames": _check_frames,
}


def check_field(where: str, f: Field, v: Any) -> Any:
    """The validated value of one key (``where`` names the file and key path)."""
    if v is None:
        if f.nullable:
            return None
        raise ConfigError(f"{where}: null is not allowed; expected {f.kind} ({f.doc})")
    return CHECKERS[f.kind](where, f, v)


def check_section(where: str, name: str, raw: Any) -> dict[str, Any]:
    fields = SCHEMA[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: section {name!r} must be an object, got {type(raw).__name__}")
    for key in raw:
        if key not in fields:
            raise _unknown(f"{where}: {name}", key, fields)
    return {
        key: check_field(f"{where}: {name}.{key}", f, copy.deepcopy(raw.get(key, f.default)))
        for key, f in fields.items()
    }


def _check_prior(where: str, raw: Any, p: Parameter) -> Prior | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "dist" not in raw:
        raise ConfigError(
            f"{where}: expected null or an object with 'dist' ({', '.join(PRIOR_KINDS)})"
        )
    dist = raw["dist"]
    if dist not in PRIOR_KINDS:
        raise ConfigError(
            f"{where}.dist: expected one of {', '.join(PRIOR_KINDS)}, got {dist!r}{_suggest(str(dist), PRIOR_KINDS)}"
        )
    needed = PRIOR_KINDS[dist]
    for key in raw:
        if key not in ("dist", *needed):
            raise _unknown(where, key, ("dist", *needed))
    vals: dict[str, float] = {}
    for key in needed:
        if key not in raw:
            raise ConfigError(f"{where}: prior {dist} needs {key!r}")
        if not _is_number(raw[key]):
            raise ConfigError(f"{where}.{key}: expected a finite number, got {raw[key]!r}")
        vals[key] = float(raw[key])
    if "sigma" in vals and vals["sigma"] <= 0:
        raise ConfigError(f"{where}.sigma: expected a value > 0, got {vals['sigma']!r}")
    if dist == "LogNormal" and p.min < 0:
        raise ConfigError(
            f"{where}: a LogNormal prior needs min >= 0 for {p.name!r}, got min={p.min!r}"
        )
    return Prior(dist, vals.get("mu"), vals.get("sigma"))


def check_parameters(
    where: str, mode: str, raw: Any
) -> tuple[Parameters, frozenset[tuple[str, str]]]:
    """The parameters, and the (name, key) pairs given as "auto" (placeholders until the
    data set them, homodyne.data.auto_defaults)."""
    names = MODES[mode]
    auto: set[tuple[str, str]] = set()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'parameters' must be an object mapping name to settings")
    for key in raw:
        if key not in names:
            raise _unknown(f"{where}: parameters (mode {mode})", key, names)
    items = {}
    for name in names:
        spec = PARAMETER_TABLE[name]
        entry = raw.get(name, {})
        pw = f"{where}: parameters.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{pw}: expected an object with keys {', '.join(_PARAM_KEYS)}")
        for key in entry:
            if key not in _PARAM_KEYS:
                raise _unknown(pw, key, _PARAM_KEYS)
        vals = {}
        for key, default in (("value", spec.value), ("min", spec.min), ("max", spec.max)):
            v = entry.get(key, default)
            if v == AUTO:
                if name not in AUTO_PARAMETERS:
                    raise ConfigError(
                        f"{pw}.{key}: 'auto' (set from the data) is available for "
                        f"{', '.join(AUTO_PARAMETERS)}; give a number for {name}"
                    )
                auto.add((name, key))
                continue
            if not _is_number(v):
                raise ConfigError(
                    f"{pw}.{key}: expected a finite number"
                    + (" or 'auto'" if name in AUTO_PARAMETERS else "")
                    + f", got {v!r}"
                )
            vals[key] = float(v)
        if len(vals) < 3:  # placeholders until the data set them
            lo = vals.get(
                "min", min(spec.min, vals.get("value", spec.min), vals.get("max", spec.min) - 1.0)
            )
            hi = vals.get("max", max(spec.max, vals.get("value", spec.max), lo + 1.0))
            if "value" in vals and not lo <= vals["value"] <= hi:  # only a given bound can
                side = "below min" if vals["value"] < lo else "above max"
                raise ConfigError(
                    f"{pw}.value: initial value {vals['value']!r} is {side} "
                    f"({lo if vals['value'] < lo else hi!r}); the other bound is 'auto'"
                )
            vals.setdefault("min", lo)
            vals.setdefault("max", hi)
            vals.setdefault("value", min(max(spec.value, lo), hi))
        fixed = entry.get("fixed", False)
        if not isinstance(fixed, bool):
            raise ConfigError(f"{pw}.fixed: expected true or false, got {fixed!r}")
        unit = entry.get("unit", spec.unit)
        if unit != spec.unit:
            raise ConfigError(
                f"{pw}.unit: {name} is in {spec.unit!r}, got {unit!r} (values are not converted)"
            )
        if vals["min"] >= vals["max"]:
            raise ConfigError(
                f"{pw}: bounds need min < max, got min={vals['min']!r} > max={vals['max']!r}"
                if vals["min"] > vals["max"]
                else f"{pw}: bounds need min < max, got min = max = {vals['min']!r}"
            )
        if not vals["min"] <= vals["value"] <= vals["max"]:
            raise ConfigError(
                f"{pw}.value: initial value {vals['value']!r} is outside the bounds [{vals['min']!r}, {vals['max']!r}]"
            )
        p = Parameter(
            name,
            vals["value"],
            vals["min"],
            vals["max"],
            spec.unit,
            fixed,
            None,
            None,
            spec.description,
        )
        prior = _check_prior(f"{pw}.prior", entry.get("prior"), p)
        items[name] = Parameter(
            name, p.value, p.min, p.max, p.unit, fixed, prior, None, p.description
        )
    params = Parameters(mode, items)
    if not params.free_names:
        raise ConfigError(f"{where}: every parameter is fixed; free at least one to fit")
    return params, frozenset(auto)
