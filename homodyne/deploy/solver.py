"""Solve, install, lock and re-install conda environments with py-rattler.

The same calls deploy an environment anywhere (an HPC prefix included): ``solve`` against
the channels, ``install`` into a prefix, ``write_lock`` a pixi.lock (format 7, the one pixi
reads), and later ``install_from_lock`` to get exactly the same packages again.

Part of the installed package, so that ``homodyne-deploy lock`` works from a conda or pip
installation (no source checkout); tools/conda_offline re-exports it as ``envs``. Needs
py-rattler: ``pip install "homodyne-analysis[deploy]"`` or ``conda install py-rattler``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, cast

PLATFORM = "linux-64"


def virtual_packages(cuda: str | None = None) -> list:
    """This machine's virtual packages, plus ``__cuda`` when asked (CONDA_OVERRIDE_CUDA).

    ``cuda`` is a *driver* version (``12.2``, what ``nvidia-smi`` reports as the CUDA
    version), not the CUDA major of a build."""
    from rattler import GenericVirtualPackage, PackageName, Version, VirtualPackage
    from rattler.package import BuildString

    found = [vp.into_generic() for vp in VirtualPackage.detect()]
    found = [vp for vp in found if vp.name.normalized != "__cuda"]
    cuda = cuda or os.environ.get("CONDA_OVERRIDE_CUDA") or None
    if cuda:
        found.append(GenericVirtualPackage(PackageName("__cuda"), Version(cuda), BuildString("0")))
    return found


def solve(
    channels: list[str], specs: list[str], *, cuda: str | None = None, strict: bool = True
) -> list:
    """Solve for linux-64; ``strict``: conda's strict channel priority (the default)."""
    from rattler import ChannelPriority
    from rattler import solve as _solve

    return asyncio.run(
        _solve(
            sources=channels,
            specs=specs,
            platforms=cast(Any, [PLATFORM, "noarch"]),
            virtual_packages=virtual_packages(cuda),
            channel_priority=ChannelPriority.Strict if strict else ChannelPriority.Disabled,
        )
    )


def install(records: list, prefix: Path, cache_dir: Path | None = None) -> None:
    from rattler import install as _install

    kwargs: dict[str, Any] = {"cache_dir": cache_dir} if cache_dir else {}
    asyncio.run(_install(records, target_prefix=str(prefix), show_progress=False, **kwargs))


def write_lock(
    path: Path,
    envs: dict[str, list],
    channels: dict[str, list[str]],
    pypi: dict[str, list[tuple[str, str, str]]] | None = None,
    virtual: list[str] | None = None,
) -> None:
    """A pixi.lock (format 7) with the given environments' records for linux-64."""
    from rattler import LockChannel, LockFile, LockPlatform

    platform = LockPlatform(PLATFORM, virtual_packages=virtual or None)
    lock = LockFile([platform])
    for env, records in envs.items():
        lock.set_channels(env, [LockChannel(c) for c in channels[env]])
        for rec in records:
            lock.add_conda_package(env, platform, rec)
        for name, version, location in (pypi or {}).get(env, []):
            lock.add_pypi_package(env, platform, name, version, location)
    lock.to_path(Path(path))


def locked_records(path: Path, env: str) -> list:
    from rattler import LockFile

    lock = LockFile.from_path(Path(path))
    environment = lock.environment(env)
    if environment is None:
        raise KeyError(f"{path} locks no environment {env!r}")
    platform = next(p for p in lock.platforms() if p.name == PLATFORM)  # the lock's own object
    records = environment.conda_repodata_records_for_platform(platform)
    if not records:
        raise KeyError(f"{path} locks nothing for {env!r} on {PLATFORM}")
    return records


def install_from_lock(path: Path, env: str, prefix: Path, cache_dir: Path | None = None) -> list:
    records = locked_records(path, env)
    install(records, prefix, cache_dir)
    return records
