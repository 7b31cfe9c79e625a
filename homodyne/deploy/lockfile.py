"""Lockfiles for site deployment: read the exact records, point them at a mirror, check
the machine's virtual packages, and write a release lock (homodyne.deploy.solver).

A deployment lock is a pixi.lock (format 7, written and read by ``rattler.LockFile``) whose
environments ``cpu`` and ``gpu`` hold the conda packages ``homodyne-analysis-cpu ==V`` and
``homodyne-analysis-gpu ==V`` with their whole closure, for ``linux-64``. A pixi
*workspace* lock (``pixi lock`` in the repository) is not one: it locks the project itself
as an editable PyPI path, which cannot be installed into a shared prefix; such a lock is
refused with a message saying so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_call
from .._util.hashing import file_sha256

PLATFORM = "linux-64"
PROJECT = "homodyne-analysis"

# What `homodyne-deploy lock` solves for each deployable environment.
RELEASE_SPECS = {
    "cpu": ["{project}-cpu =={version}"],
    "gpu": ["{project}-gpu =={version} cuda{cuda}*"],
}


class LockError(RuntimeError):
    """The lockfile cannot be deployed as asked."""


@dataclass(frozen=True)
class Locked:
    """One environment of a lockfile, ready to install."""

    path: Path
    sha256: str
    env: str
    channels: list[str]
    records: list[Any]  # rattler.RepoDataRecord
    virtual_packages: list[str]  # as the lock's platform declares them, e.g. "__cuda=12"

    def keys(self) -> list[str]:
        """Identity of the locked set: file name and sha256 of every package, sorted."""
        return sorted(f"{r.file_name} {_hex(r.sha256)}" for r in self.records)


def _hex(value: Any) -> str:
    if value is None:
        return ""
    return value.hex() if isinstance(value, bytes | bytearray) else str(value)


def require_rattler() -> None:
    """py-rattler is an admin-side requirement of homodyne-deploy, not of the package."""
    try:
        import rattler  # noqa: F401
    except ImportError as exc:
        raise LockError(
            "homodyne-deploy needs py-rattler in the Python that runs it: "
            'pip install "homodyne-analysis[deploy]", or conda install -c conda-forge py-rattler'
            " into the admin's environment"
        ) from exc


def read(path: Path, env: str) -> Locked:
    """The conda records locked for ``env`` on linux-64 (refusing PyPI entries)."""
    require_rattler()
    from rattler import LockFile

    path = Path(path).resolve()
    if not path.is_file():
        raise LockError(f"no lockfile at {path}")
    try:
        lock = LockFile.from_path(path)
    except Exception as exc:
        raise LockError(f"{path} is not a readable pixi.lock: {exc}") from exc
    environment = lock.environment(env)
    if environment is None:
        names = sorted(name for name, _ in lock.environments())
        raise LockError(
            f"{path} locks no environment {env!r} (it has: {', '.join(names) or 'none'})"
        )
    platform = next((p for p in lock.platforms() if p.name == PLATFORM), None)
    if platform is None:
        raise LockError(f"{path} locks nothing for {PLATFORM}")
    pypi = environment.pypi_packages_for_platform(platform) or []
    if pypi:
        listed = ", ".join(sorted(str(p.name) for p in pypi))
        raise LockError(
            f"environment {env!r} of {path} also locks PyPI packages ({listed}): that is a pixi "
            "workspace lock (the project as an editable path), not a deployment lock. Write one "
            "with `homodyne-deploy lock` (conda packages only)."
        )
    records = environment.conda_repodata_records_for_platform(platform) or []
    if not records:
        raise LockError(f"{path} locks no conda packages for {env!r} on {PLATFORM}")
    virtual = [str(v) for v in (getattr(platform, "virtual_packages", None) or [])]
    channels = [str(getattr(c, "url", c)) for c in environment.channels()]
    return Locked(path, file_sha256(path), env, channels, list(records), virtual)


def _channel_base(record: Any) -> str:
    """The channel part of a record's URL (everything before ``/<subdir>/<file>``)."""
    url = str(record.url)
    tail = f"/{record.subdir}/{record.file_name}"
    if not url.endswith(tail):
        raise LockError(f"cannot tell the channel of {url}")
    return url[: -len(tail)]


def normalise_channel(url: str) -> str:
    """A channel given as a folder or URL, without trailing slash (folders -> file://)."""
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    return url.rstrip("/")


def parse_mirrors(items: list[str]) -> dict[str, str]:
    """``--mirror URL`` (every channel) or ``--mirror ORIGINAL=URL`` (one channel)."""
    out: dict[str, str] = {}
    for item in items:
        original, sep, target = item.partition("=")
        if not sep:
            original, target = "*", item
        if not target:
            raise LockError(f"--mirror {item!r}: no mirror URL")
        out["*" if original == "*" else normalise_channel(original)] = normalise_channel(target)
    return out


def apply_mirrors(records: list[Any], mirrors: dict[str, str]) -> list[Any]:
    """The same records, fetched from the mirrors: only the URL changes; name, version,
    build and sha256 stay as locked (rattler checks downloads against the sha256,
    ``install.check_local_archives`` local files)."""
    if not mirrors:
        return list(records)
    from rattler import RepoDataRecord

    out = []
    for rec in records:
        base = _channel_base(rec)
        target = mirrors.get(base.rstrip("/"), mirrors.get("*"))
        if target is None:
            out.append(rec)
            continue
        url = f"{target}/{rec.subdir}/{rec.file_name}"
        out.append(RepoDataRecord(rec, rec.file_name, url, target + "/"))
    return out


def missing_sha256(records: list[Any]) -> list[str]:
    return [r.file_name for r in records if not _hex(r.sha256)]


def detected_virtual_packages() -> dict[str, str]:
    """This machine's virtual packages (name -> version), CONDA_OVERRIDE_* honoured."""
    from rattler import VirtualPackage, VirtualPackageOverrides

    found = {}
    for vp in VirtualPackage.detect(VirtualPackageOverrides.from_env()):
        generic = vp.into_generic()
        found[generic.name.normalized] = str(generic.version)
    return found


def unmet_virtual(records: list[Any], available: dict[str, str]) -> list[str]:
    """Virtual-package requirements (``__cuda >=12``, ``__glibc >=2.17``) of the locked
    records that this machine does not meet. A frozen install does not solve, so this is
    the check a solver would have made."""
    from rattler import MatchSpec, Version, VersionSpec

    unmet = set()
    for rec in records:
        for dep in rec.depends:
            if not dep.startswith("__"):
                continue
            spec = MatchSpec(dep)
            name = spec.name.normalized if hasattr(spec.name, "normalized") else str(spec.name)
            have = available.get(name)
            if have is None:
                unmet.add(f"{dep} (needed by {rec.name.normalized}; this machine has no {name})")
            elif spec.version is not None and not VersionSpec(str(spec.version)).matches(
                Version(have)
            ):
                unmet.add(
                    f"{dep} (needed by {rec.name.normalized}; this machine has {name} {have})"
                )
    return sorted(unmet)


def cuda_major(value: str) -> str:
    """The CUDA major of a build from ``--cuda`` (``12``; ``12.2`` also gives ``12``)."""
    major = str(value).strip().split(".")[0]
    if not major.isdigit():
        raise LockError(f"--cuda {value!r}: expected a CUDA major such as 12")
    return major


def release_specs(env: str, version: str, cuda: str = "12") -> list[str]:
    """The specs of one deployable environment; ``cuda`` is the *build's* CUDA major
    (the build strings are ``cuda12_*``: a driver version such as 12.2 matches none)."""
    if env not in RELEASE_SPECS:
        raise LockError(f"unknown environment {env!r} (cpu or gpu)")
    return [
        s.format(project=PROJECT, version=version, cuda=cuda_major(cuda))
        for s in RELEASE_SPECS[env]
    ]


def write_release_lock(
    output: Path,
    version: str,
    channels: list[str],
    envs: dict[str, list[str]],
    cuda: str | None = None,
) -> Path:
    """Solve each environment's specs against ``channels`` and write one pixi.lock (v7).

    ``cuda``: the NVIDIA driver's CUDA version to solve the gpu environment for (``12.2``;
    the ``__cuda`` virtual package, what ``CONDA_OVERRIDE_CUDA`` sets on a machine without
    a GPU). Self-contained: the solver helpers are :mod:`homodyne.deploy.solver`.
    """
    require_rattler()
    from . import solver

    sources = [normalise_channel(c) if "://" in c or os.path.isdir(c) else c for c in channels]
    solved = {}
    for env, specs in envs.items():
        try:
            solved[env] = solver.solve(sources, specs, cuda=cuda if env != "cpu" else None)
        except Exception as exc:
            raise LockError(
                f"cannot solve {env!r} ({', '.join(specs)}) from {', '.join(sources)}: {exc}"
            ) from exc
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    virtual = [f"__cuda={cuda}"] if cuda and any(e != "cpu" for e in solved) else None
    atomic_call(
        output,
        lambda tmp: solver.write_lock(tmp, solved, {e: sources for e in solved}, virtual=virtual),
        suffix=output.suffix,
    )
    return output
