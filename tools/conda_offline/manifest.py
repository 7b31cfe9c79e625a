"""pixi.toml: structural validation, environment specs, and drift against pyproject.toml.

No JSON schema of pixi.toml is published on PyPI or npm, so the manifest is checked with
``tomllib``: known keys, every environment's features exist, CUDA-aware platforms are
declared and used by name, every conda spec parses with ``rattler.MatchSpec``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .depmap import (
    REPO_ROOT,
    CondaSpec,
    DepMap,
    extra_requirements,
    load_pyproject,
    merge,
    normalise_version,
    requires_python,
)

MANIFEST = REPO_ROOT / "pixi.toml"

_TOP = {
    "workspace",
    "dependencies",
    "pypi-dependencies",
    "tasks",
    "feature",
    "environments",
    "target",
    "activation",
    "system-requirements",
    "pypi-options",
    "host-dependencies",
    "build-dependencies",
}
_WORKSPACE = {
    "name",
    "channels",
    "platforms",
    "requires-pixi",
    "version",
    "description",
    "authors",
    "license",
    "license-file",
    "readme",
    "homepage",
    "repository",
    "documentation",
    "channel-priority",
    "exclude-newer",
    "preview",
    "conda-pypi-map",
    "solve-strategy",
}
_FEATURE = {
    "dependencies",
    "pypi-dependencies",
    "tasks",
    "platforms",
    "activation",
    "target",
    "system-requirements",
    "channels",
    "channel-priority",
    "host-dependencies",
    "build-dependencies",
}
_PLATFORM_KEYS = {
    "name",
    "platform",
    "cuda",
    "glibc",
    "linux",
    "macos",
    "osx",
    "windows",
    "archspec",
}
_SUBDIRS = {
    "linux-64",
    "linux-aarch64",
    "linux-ppc64le",
    "osx-64",
    "osx-arm64",
    "win-64",
    "win-arm64",
}
_ENV_KEYS = {"features", "solve-group", "no-default-feature"}


def load(path: Path = MANIFEST) -> dict:
    return tomllib.loads(Path(path).read_text())


def platforms(manifest: dict) -> dict[str, dict]:
    """Workspace platforms by name -> {"subdir", "cuda"}."""
    out = {}
    for p in manifest["workspace"]["platforms"]:
        if isinstance(p, str):
            out[p] = {"subdir": p, "cuda": None}
        else:
            subdir = p.get("platform", p.get("name"))
            cuda = p.get("cuda")
            out[p.get("name") or subdir] = {
                "subdir": subdir,
                "cuda": cuda["driver"] if isinstance(cuda, dict) else cuda,
            }
    return out


def features(manifest: dict) -> dict[str, dict]:
    """All features, the default one (top-level tables) included as "default"."""
    out = {
        "default": {
            k: manifest[k] for k in ("dependencies", "pypi-dependencies", "tasks") if k in manifest
        }
    }
    out.update(manifest.get("feature", {}))
    return out


def environments(manifest: dict) -> dict[str, dict]:
    out = {}
    for name, env in manifest.get("environments", {}).items():
        env = {"features": env} if isinstance(env, list) else dict(env)
        env.setdefault("solve-group", None)
        env.setdefault("no-default-feature", False)
        out[name] = env
    return out


def env_features(manifest: dict, env: str) -> list[str]:
    e = environments(manifest)[env]
    return ([] if e["no-default-feature"] else ["default"]) + list(e["features"])


def env_platforms(manifest: dict, env: str) -> list[str]:
    names = list(platforms(manifest))
    feats = features(manifest)
    for f in env_features(manifest, env):
        if "platforms" in feats[f]:
            names = [n for n in names if n in feats[f]["platforms"]]
    return names


def dep_spec(name: str, value) -> CondaSpec:
    if isinstance(value, str):
        return CondaSpec(name, "" if value.strip() == "*" else normalise_version(value))
    version = value.get("version", "*")
    return CondaSpec(
        name, "" if version.strip() == "*" else normalise_version(version), value.get("build", "")
    )


def feature_specs(manifest: dict, feature: str) -> dict[str, CondaSpec]:
    return {
        n: dep_spec(n, v) for n, v in features(manifest)[feature].get("dependencies", {}).items()
    }


def env_specs(manifest: dict, env: str) -> dict[str, CondaSpec]:
    """The conda specs an environment asks for: its features' dependencies, merged."""
    out: dict[str, CondaSpec] = {}
    for f in env_features(manifest, env):
        for n, spec in feature_specs(manifest, f).items():
            out[n] = merge(out[n], spec) if n in out else spec
    return out


def env_pypi(manifest: dict, env: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in env_features(manifest, env):
        out.update(features(manifest)[f].get("pypi-dependencies", {}))
    return out


def validate(manifest: dict) -> list[str]:
    """Structural problems of a pixi manifest (empty: valid)."""
    from rattler import MatchSpec

    problems = []
    for key in manifest:
        if key not in _TOP:
            problems.append(f"unknown top-level table [{key}]")
    ws = manifest.get("workspace")
    if not isinstance(ws, dict):
        return [*problems, "no [workspace] table"]
    for key in ws:
        if key not in _WORKSPACE:
            problems.append(f"unknown key workspace.{key}")
    for k in ("name", "channels", "platforms"):
        if k not in ws:
            problems.append(f"workspace.{k} missing")
    names: set[str] = set()
    for p in ws.get("platforms", []):
        if isinstance(p, str):
            entry = {"platform": p}
        elif isinstance(p, dict):
            entry = p
            for k in p:
                if k not in _PLATFORM_KEYS and not k.startswith("__"):
                    problems.append(f"platform entry {p}: unknown key {k}")
        else:
            problems.append(f"platform entry {p!r} is neither a string nor a table")
            continue
        subdir = entry.get("platform", entry.get("name"))
        if subdir not in _SUBDIRS:
            problems.append(f"platform entry {p}: {subdir!r} is not a conda subdir")
        name = entry.get("name", subdir)
        if name in names:
            problems.append(f"platform name {name} declared twice")
        names.add(name)
    if "system-requirements" in manifest:
        problems.append(
            "[system-requirements] is deprecated since pixi 0.71: declare CUDA on the platforms"
        )
    feats = features(manifest)
    for fname, feat in manifest.get("feature", {}).items():
        for key in feat:
            if key not in _FEATURE:
                problems.append(f"feature.{fname}: unknown key {key}")
        for p in feat.get("platforms", []):
            if p not in names:
                problems.append(f"feature.{fname}: platform {p} is not in workspace.platforms")
    for fname, feat in feats.items():
        for dep, value in feat.get("dependencies", {}).items():
            try:
                spec = dep_spec(dep, value)
                MatchSpec(str(spec))
            except Exception as exc:
                problems.append(
                    f"feature {fname}: dependency {dep} = {value!r} does not parse: {exc}"
                )
    envs = environments(manifest)
    if not envs:
        problems.append("no [environments]")
    for ename, env in envs.items():
        for k in env:
            if k not in _ENV_KEYS:
                problems.append(f"environment {ename}: unknown key {k}")
        for f in env["features"]:
            if f not in feats:
                problems.append(f"environment {ename}: feature {f} does not exist")
        if all(f in feats for f in env["features"]) and not env_platforms(manifest, ename):
            problems.append(f"environment {ename}: its features share no platform")
    used = {f for e in envs.values() for f in e["features"]}
    for f in manifest.get("feature", {}):
        if f not in used:
            problems.append(f"feature {f} is used by no environment")
    return problems


#: the opt-in CUDA 13 workspace: its own manifest and lock, outside the default solve
CUDA13_MANIFEST = REPO_ROOT / "environments" / "cuda13" / "pixi.toml"


def drift(
    manifest: dict,
    pyproject: dict | None = None,
    depmap: DepMap | None = None,
    where: str = "pixi.toml",
) -> list[str]:
    """Differences between a manifest's features and pyproject.toml, through the map.

    ``where`` is the manifest's path relative to the repository: a feature whose map entry
    names another ``manifest`` (the opt-in CUDA 13 workspace) must not be in this one, and
    one that names this manifest must be; features shared with pixi.toml (default,
    mcmc-jax, test) are checked wherever they appear.
    """
    pyproject = pyproject or load_pyproject()
    depmap = depmap or DepMap.load()
    problems = []
    feats = features(manifest)
    for fname in sorted(set(feats) | set(depmap.pixi_features)):
        rule = depmap.pixi_features.get(fname)
        if rule is None:
            problems.append(
                f"feature {fname}: not described in pypi_conda_map.toml [pixi-features]"
            )
            continue
        home = rule.get("manifest", "pixi.toml")
        if home != where and fname in feats and home != "pixi.toml":
            problems.append(f"feature {fname} belongs in {home} (opt-in), not in {where}")
            continue
        if fname not in feats:
            if home == where:
                problems.append(f"{where} has no feature {fname}")
            continue
        expected: dict[str, CondaSpec] = {}
        pypi_expected: set[str] = set()
        if "extra" in rule:
            reqs = extra_requirements(pyproject, rule["extra"])
            if "only" in rule:
                reqs = [r for r in reqs if canonicalize_name(Requirement(r).name) in rule["only"]]
            if "exclude" in rule:
                reqs = [
                    r for r in reqs if canonicalize_name(Requirement(r).name) not in rule["exclude"]
                ]
            if "exclude-extras" in rule:
                drop = {
                    canonicalize_name(Requirement(r).name)
                    for e in rule["exclude-extras"]
                    for r in extra_requirements(pyproject, e)
                }
                reqs = [r for r in reqs if canonicalize_name(Requirement(r).name) not in drop]
            expected = depmap.to_conda(reqs, without=tuple(rule.get("without", [])))
            pypi_expected = {canonicalize_name(r.name) for r in depmap.pypi_only_requirements(reqs)}
            if rule["extra"] == "core":
                expected["python"] = CondaSpec("python", requires_python(pyproject))
        for key in rule.get("extra-builds", []):
            b = depmap.extra_builds[key]
            spec = CondaSpec(b["package"], "", b["build"].format(cuda_major=rule["cuda"]))
            expected[spec.name] = (
                merge(expected[spec.name], spec) if spec.name in expected else spec
            )
        conda_only = set(depmap.conda_only.get(rule.get("conda-only", ""), []))
        actual = feature_specs(manifest, fname)
        for n in sorted(conda_only - set(actual)):
            problems.append(f"feature {fname}: conda-only requirement {n} missing")
        for n, spec in sorted(expected.items()):
            if n not in actual:
                problems.append(f"feature {fname}: missing {spec}")
            elif actual[n] != spec and not (n in conda_only and actual[n].build == spec.build):
                problems.append(f"feature {fname}: {actual[n]} != {spec}")
        for n in sorted(set(actual) - set(expected) - conda_only):
            problems.append(f"feature {fname}: {actual[n]} is not in pyproject nor in [conda-only]")
        pypi_actual = {canonicalize_name(n) for n in feats[fname].get("pypi-dependencies", {})} - {
            "homodyne-analysis"
        }
        if pypi_actual != pypi_expected:
            problems.append(
                f"feature {fname}: pypi-dependencies {sorted(pypi_actual)} != PyPI-only {sorted(pypi_expected)}"
            )
    return problems
