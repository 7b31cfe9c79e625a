"""The batch manifest: which data files, which q rings, which method, which configuration.

A manifest is a TOML or JSON file (or the same fields given on the command line)::

    config = "base_config.json"     # the base configuration (a homodyne JSON config)
    files = ["data/*.h5"]           # globs, relative to the manifest's folder
    q = [0.0044, 0.0054]            # q rings [1/Å]; "all" = every ring of each file;
                                    # omitted = the base config's data.q
    method = "classical"            # classical | mcmc | all
    output = "batch_results"        # the batch folder (runs/, state/, summary.*)
    joint_q = false                 # one fit per file over all its selected q rings
    metadata_column = "temperature" # the metadata plotted on the x axis of the summary

    [[overrides]]                   # per-file overrides of configuration keys
    files = "*_hot_*.h5"            # a glob matched against the file name (or path)
    classical = { multistart = 4 }  # section = { key = value }, validated like the file

Each (file, q) pair becomes one :class:`~homodyne.batch.tasks.Task` (one per file with
``joint_q``). :func:`load_manifest` validates everything before any work starts and names
the file and key of each mistake.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["METHODS", "Manifest", "load_manifest", "manifest_from_dict"]

METHODS = ("classical", "mcmc", "all")
_KEYS = {
    "config",
    "files",
    "q",
    "method",
    "output",
    "joint_q",
    "metadata_column",
    "overrides",
    "description",
}
_OVERRIDE_SECTIONS = {
    "data",
    "angle_filter",
    "noise",
    "scaling",
    "classical",
    "mcmc",
    "geometry",
    "parameters",
    "output",
}


@dataclass
class Override:
    """Configuration overrides for the files whose name matches ``pattern``."""

    pattern: str
    sections: dict[str, dict[str, Any]]

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.pattern) or fnmatch.fnmatch(str(path), self.pattern)


@dataclass
class Manifest:
    """A validated batch description (paths absolute)."""

    config: Path
    files: list[Path]
    q: list[float] | str | None  # list, "all", or None (the config's data.q)
    method: str
    output: Path
    joint_q: bool = False
    metadata_column: str | None = None
    overrides: list[Override] = field(default_factory=list)
    source: str = "<manifest>"
    description: str = ""

    def overrides_for(self, path: Path) -> dict[str, dict[str, Any]]:
        """The merged overrides that apply to one file (later entries win)."""
        merged: dict[str, dict[str, Any]] = {}
        for ov in self.overrides:
            if ov.matches(path):
                for section, values in ov.sections.items():
                    merged.setdefault(section, {}).update(values)
        return merged


def _expand(patterns: list[str], base: Path, where: str) -> list[Path]:
    out: list[Path] = []
    for pat in patterns:
        p = Path(pat).expanduser()
        full = p if p.is_absolute() else base / p
        hits = sorted(Path(h) for h in glob.glob(str(full), recursive=True))
        if not hits:
            raise ConfigError(f"{where}: files: {pat!r} matches no file (looked in {full.parent})")
        for h in hits:
            if h.is_file() and h.resolve() not in out:
                out.append(h.resolve())
    if not out:
        raise ConfigError(f"{where}: files: the patterns match no data file")
    return out


def _check_q(raw: Any, where: str) -> list[float] | str | None:
    if raw is None or raw == "all":
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f'{where}: q: expected a number, a list of numbers or "all", got {raw!r}')
    out = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise ConfigError(f"{where}: q: every q must be a positive number [1/Å], got {v!r}")
        out.append(float(v))
    return out


def manifest_from_dict(
    raw: Any, *, source: str = "<manifest>", base: Path | None = None
) -> Manifest:
    """Validate a manifest given as parsed data; relative paths are relative to ``base``."""
    base = (base or Path.cwd()).resolve()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the manifest must be a table/object of keys")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(
                f"{source}: unknown key {key!r}; expected one of {', '.join(sorted(_KEYS))}"
            )
    if "config" not in raw:
        raise ConfigError(f"{source}: missing key 'config' (the base homodyne JSON configuration)")
    if not isinstance(raw["config"], str):
        raise ConfigError(f"{source}: config: expected a path string")
    config = Path(raw["config"]).expanduser()
    config = (config if config.is_absolute() else base / config).resolve()
    if not config.is_file():
        raise ConfigError(f"{source}: config: {config} does not exist")
    files_raw = raw.get("files")
    if isinstance(files_raw, str):
        files_raw = [files_raw]
    if (
        not isinstance(files_raw, list)
        or not files_raw
        or not all(isinstance(f, str) for f in files_raw)
    ):
        raise ConfigError(f"{source}: files: expected a glob or a list of globs of HDF5 files")
    files = _expand(files_raw, base, source)
    method = raw.get("method", "classical")
    if method not in METHODS:
        raise ConfigError(f"{source}: method: expected one of {', '.join(METHODS)}, got {method!r}")
    output = Path(str(raw.get("output", "batch_results"))).expanduser()
    output = (output if output.is_absolute() else base / output).resolve()
    joint = raw.get("joint_q", False)
    if not isinstance(joint, bool):
        raise ConfigError(f"{source}: joint_q: expected true or false, got {joint!r}")
    q = _check_q(raw.get("q"), source)
    mc = raw.get("metadata_column")
    if mc is not None and not isinstance(mc, str):
        raise ConfigError(f"{source}: metadata_column: expected a string")
    overrides = []
    ovs = raw.get("overrides", [])
    if not isinstance(ovs, list):
        raise ConfigError(f"{source}: overrides: expected a list of tables ([[overrides]])")
    for i, ov in enumerate(ovs):
        where = f"{source}: overrides[{i}]"
        if not isinstance(ov, dict) or not isinstance(ov.get("files"), str):
            raise ConfigError(f"{where}: expected a table with 'files' (a glob) and sections")
        sections = {}
        for k, v in ov.items():
            if k == "files":
                continue
            if k not in _OVERRIDE_SECTIONS:
                raise ConfigError(
                    f"{where}: unknown section {k!r}; expected one of {', '.join(sorted(_OVERRIDE_SECTIONS))}"
                )
            if not isinstance(v, dict):
                raise ConfigError(f"{where}.{k}: expected a table of keys")
            sections[k] = dict(v)
        overrides.append(Override(ov["files"], sections))
    return Manifest(
        config=config,
        files=files,
        q=q,
        method=method,
        output=output,
        joint_q=joint,
        metadata_column=mc,
        overrides=overrides,
        source=source,
        description=str(raw.get("description", "")),
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read a TOML (``.toml``) or JSON manifest file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: manifest file not found")
    text = p.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    return manifest_from_dict(raw, source=str(p), base=p.resolve().parent)
