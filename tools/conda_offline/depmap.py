"""PyPI requirements -> conda match specs, through the one map in ``pypi_conda_map.toml``.

Used by the drift checks (recipe, pixi.toml, environment files, requirements files) and by
the offline channel builder. Pure Python: needs only ``packaging`` and ``tomllib``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
MAP_PATH = Path(__file__).with_name("pypi_conda_map.toml")
PROJECT_NAME = "homodyne-analysis"

# The marker environment of the conda packages we describe: Linux x86-64, CPython.
# Markers that name another platform drop the requirement.
LINUX_MARKERS = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass(frozen=True)
class CondaSpec:
    """One conda requirement: name, version constraint (may be empty), build glob."""

    name: str
    version: str = ""
    build: str = ""

    def __str__(self) -> str:
        if self.build:
            return f"{self.name} {self.version or '*'} {self.build}"
        return f"{self.name} {self.version}".strip()

    @staticmethod
    def parse(text: str) -> CondaSpec:
        """Parse the plain forms we write: ``name``, ``name ver``, ``name ver build``,
        ``name ==ver=build`` is not used by us and rejected."""
        parts = text.split()
        if not parts or len(parts) > 3:
            raise ValueError(f"cannot parse conda spec {text!r}")
        name = parts[0]
        version = normalise_version(parts[1]) if len(parts) > 1 and parts[1] != "*" else ""
        build = parts[2] if len(parts) > 2 else ""
        return CondaSpec(name, version, build)


def normalise_version(spec: str) -> str:
    """Sort the comma-separated clauses so that equal constraints compare equal."""
    clauses = {c.strip().replace(" ", "") for c in spec.split(",") if c.strip()}
    order = (">=", ">", "==", "~=", "!=", "<=", "<")  # lower bounds first, as people write them
    return ",".join(
        sorted(
            clauses,
            key=lambda c: (next((i for i, op in enumerate(order) if c.startswith(op)), 9), c),
        )
    )


def pep440_to_conda(specifier: str) -> str:
    """PEP 440 specifier set -> conda version constraint (same operators, ``~=`` kept)."""
    return normalise_version(str(specifier))


def merge(a: CondaSpec, b: CondaSpec) -> CondaSpec:
    assert a.name == b.name
    version = normalise_version(",".join(v for v in (a.version, b.version) if v))
    if a.build and b.build and a.build != b.build:
        raise ValueError(f"conflicting builds for {a.name}: {a.build} vs {b.build}")
    return CondaSpec(a.name, version, a.build or b.build)


@dataclass
class DepMap:
    names: dict[str, str]
    pypi_only: set[str]
    extra_builds: dict[str, dict[str, str]]
    conda_only: dict[str, list[str]]
    outputs: dict[str, dict]
    pixi_features: dict[str, dict]
    offline: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = MAP_PATH) -> DepMap:
        data = tomllib.loads(Path(path).read_text())
        return cls(
            names={canonicalize_name(k): v for k, v in data["names"].items()},
            pypi_only={canonicalize_name(n) for n in data.get("pypi-only", {}).get("names", [])},
            extra_builds=data.get("extra-builds", {}),
            conda_only=data.get("conda-only", {}),
            outputs=data.get("outputs", {}),
            pixi_features=data.get("pixi-features", {}),
            offline=data.get("offline", {}),
        )

    def conda_name(self, pypi_name: str) -> str:
        key = canonicalize_name(pypi_name)
        return self.names.get(key, key)

    def is_pypi_only(self, pypi_name: str) -> bool:
        return canonicalize_name(pypi_name) in self.pypi_only

    def to_conda(
        self,
        requirements: list[str],
        *,
        cuda_major: str | None = None,
        markers: dict[str, str] | None = None,
        without: tuple[str, ...] = (),
        include_pypi_only: bool = False,
    ) -> dict[str, CondaSpec]:
        """Map PEP 508 requirements to conda specs, keyed by conda name.

        Requirements whose marker is false for ``markers`` (default: Linux) are dropped.
        ``jax[cuda12]``-style extras listed in ``[extra-builds]`` become a build-string
        constraint on another package; with ``cuda_major=None`` they are dropped (CPU).
        ``without`` removes requirements by their ``name[extra]`` key (for pixi features
        that split one extra in two). PyPI-only packages are left out unless asked for.
        """
        env = dict(LINUX_MARKERS if markers is None else markers)
        out: dict[str, CondaSpec] = {}

        def add(spec: CondaSpec) -> None:
            out[spec.name] = merge(out[spec.name], spec) if spec.name in out else spec

        for text in requirements:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            keys = [f"{canonicalize_name(req.name)}[{e}]" for e in sorted(req.extras)]
            if any(k in without for k in keys):
                continue
            if self.is_pypi_only(req.name) and not include_pypi_only:
                continue
            add(CondaSpec(self.conda_name(req.name), pep440_to_conda(req.specifier)))
            for key in keys:
                rule = self.extra_builds.get(key)
                if rule is None:
                    raise KeyError(f"pip extra {key} has no conda equivalent in the map")
                if cuda_major is None:
                    continue
                add(CondaSpec(rule["package"], "", rule["build"].format(cuda_major=cuda_major)))
        return out

    def pypi_only_requirements(self, requirements: list[str]) -> list[Requirement]:
        return [Requirement(r) for r in requirements if self.is_pypi_only(Requirement(r).name)]


# --- pyproject -------------------------------------------------------------------------


def load_pyproject(path: Path = REPO_ROOT / "pyproject.toml") -> dict:
    return tomllib.loads(Path(path).read_text())


def extra_requirements(pyproject: dict, extra: str) -> list[str]:
    """The requirement strings of one extra ("core" = [project].dependencies), with
    self-references such as ``homodyne-analysis[mcmc]`` expanded in place."""
    project = pyproject["project"]
    if extra == "core":
        return list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    if extra not in extras:
        raise KeyError(f"pyproject.toml has no extra {extra!r}")
    out: list[str] = []
    for text in extras[extra]:
        req = Requirement(text)
        if canonicalize_name(req.name) == PROJECT_NAME:
            for sub in sorted(req.extras):
                out.extend(r for r in extra_requirements(pyproject, sub) if r not in out)
        elif text not in out:
            out.append(text)
    return out


def requires_python(pyproject: dict) -> str:
    return pep440_to_conda(pyproject["project"]["requires-python"])


_VERSION_RE = re.compile(r'^__version__\s*=\s*["\']([^"\']+)["\']', re.M)


def package_version(root: Path = REPO_ROOT) -> str:
    """The single source of the version: homodyne/_version.py."""
    match = _VERSION_RE.search((root / "homodyne" / "_version.py").read_text())
    if not match:
        raise ValueError("homodyne/_version.py defines no __version__")
    return match.group(1)
