"""Build a local conda channel from PyPI, offline from conda-forge.

    from tools.conda_offline.channel import build_channel
    path = build_channel(["numpy>=1.24", "pymc>=5.10"])     # cached under default_cache_dir()
    path = build_channel(reqs, channel_dir=Path("/scratch/ch"))  # or into a folder of yours

The requirements are resolved by pip for the running interpreter, every wheel of the
closure is converted to a conda package (``wheels.py``), a ``python`` package is made from
the running interpreter (``pypkg.py``) and the folder is indexed with py-rattler. Channels
are cached under ``cache_dir/channels/<key>``, the key covering the requirements, the
interpreter, the map and this builder; wheels and converted packages are cached too, so a
second build of a similar channel only converts what changed.

Such a channel imitates conda-forge (names through ``pypi_conda_map.toml``; its CUDA split
differs): it proves a recipe builds and an environment solves and works, it does not
replace a conda-forge solve.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from . import pypkg, standins
from .depmap import MAP_PATH, DepMap
from .wheels import Override, Wheel, convert

BUILDER_VERSION = "3"  # bump when the conversion changes, to invalidate caches


def default_cache_dir() -> Path:
    if explicit := os.environ.get("HOMODYNE_CONDA_OFFLINE_CACHE"):
        return Path(explicit)
    return (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "homodyne-conda-offline"
    )


def _log(msg: str) -> None:
    print(f"[channel] {msg}", flush=True)


def channel_key(requirements: list[str], cuda: str | None = None) -> str:
    h = hashlib.sha256()
    for part in (
        BUILDER_VERSION,
        sys.version,
        sys.base_prefix,
        MAP_PATH.read_text(),
        str(cuda),
        *sorted(requirements),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def resolve(requirements: list[str], work: Path) -> list[dict]:
    """pip's resolution of the full closure for this interpreter: [{name, version}, ...]."""
    req_file = work / "requirements.in"
    req_file.write_text("\n".join(requirements) + "\n")
    report = work / "pip-report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--prefer-binary",
            "--report",
            str(report),
            "-r",
            str(req_file),
        ],
        check=True,
    )
    items = json.loads(report.read_text())["install"]
    return [{"name": i["metadata"]["name"], "version": i["metadata"]["version"]} for i in items]


def fetch_wheels(pins: list[dict], wheel_dir: Path) -> list[Path]:
    """Wheels for exactly these pins (downloaded or built from sdists), cached in wheel_dir."""
    wheel_dir.mkdir(parents=True, exist_ok=True)

    def find(pin: dict) -> Path | None:
        stem = canonicalize_name(pin["name"]).replace("-", "_")
        for whl in wheel_dir.glob("*.whl"):
            w = whl.name.split("-")
            if canonicalize_name(w[0]).replace("-", "_") == stem and w[1] == pin["version"]:
                return whl
        return None

    missing = [p for p in pins if find(p) is None]
    if missing:
        _log(f"fetching {len(missing)} wheels")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--prefer-binary",
                "--quiet",
                "--wheel-dir",
                str(wheel_dir),
                *[f"{p['name']}=={p['version']}" for p in missing],
            ],
            check=True,
        )
    found = [find(p) for p in pins]
    lost = [p for p, f in zip(pins, found, strict=True) if f is None]
    if lost:
        raise RuntimeError(f"no wheel for {lost}")
    return [f for f in found if f is not None]


def cuda_overrides(
    depmap: DepMap, wheels: dict[str, Wheel], cuda: str
) -> tuple[dict[str, Override], list[dict]]:
    """Name NVIDIA's wheels as conda-forge's CUDA packages and make jaxlib a CUDA build.

    Returns the overrides and the metapackages to add (``cuda-version``)."""
    table = depmap.offline.get(f"cuda{cuda}")
    if table is None:
        raise KeyError(f"pypi_conda_map.toml has no [offline.cuda{cuda}] table")
    runtime = wheels.get(canonicalize_name(table["cuda-cudart"]))
    if runtime is None:
        raise RuntimeError("the CUDA runtime wheel is not in the resolution: ask for jax[cuda12]")
    minor = ".".join(runtime.version.split(".")[:2])
    pin = f"cuda-version >={cuda},<{int(cuda) + 1}"
    overrides = {
        canonicalize_name(w): Override(name=c, extra_depends=[pin]) for c, w in table.items()
    }
    plugin = f"jax-cuda{cuda}-plugin"
    overrides[plugin] = Override(expand_extras=("with-cuda",), extra_depends=[pin])
    overrides["jaxlib"] = Override(
        # conda-forge's CUDA jaxlib depends on the __cuda virtual package
        build=f"cuda{cuda}_{pypkg.py_tag()}_wheel_0",
        extra_depends=[plugin, pin, "__cuda"],
    )
    meta = [{"name": "cuda-version", "version": minor, "constrains": [f"__cuda >={cuda}"]}]
    return overrides, meta


def build_channel(
    requirements: list[str],
    channel_dir: Path | None = None,
    *,
    cache_dir: Path | None = None,
    cuda: str | None = None,
) -> Path:
    """Build (or reuse) a conda channel holding ``requirements`` and their closure.

    ``channel_dir``: where to write it; by default ``cache_dir/channels/<key>``, reused when
    complete. ``cuda``: "12" to add the CUDA stack as conda-forge names it (needs
    ``jax[cuda12]`` among the requirements). Returns the channel's path (a ``file://``
    channel once made absolute).
    """
    from rattler.index import index_fs

    cache_dir = Path(cache_dir or default_cache_dir())
    key = channel_key(requirements, cuda)
    channel_dir = Path(channel_dir) if channel_dir else cache_dir / "channels" / key
    stamp = channel_dir / ".homodyne-channel"
    if stamp.exists() and stamp.read_text() == key:
        _log(f"cached: {channel_dir}")
        return channel_dir.resolve()
    if channel_dir.exists():
        shutil.rmtree(channel_dir)
    (channel_dir / "noarch").mkdir(parents=True)
    (channel_dir / "linux-64").mkdir()
    depmap = DepMap.load()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="homodyne-channel-") as tmp:
        work = Path(tmp)
        pins = resolve([*list(requirements), "pip"], work)
        _log(f"resolved {len(pins)} distributions in {time.monotonic() - t0:.1f}s")
        wheels = {w.name: w for w in map(Wheel.read, fetch_wheels(pins, cache_dir / "wheels"))}
        overrides, metas = cuda_overrides(depmap, wheels, cuda) if cuda else ({}, [])
        overrides = {**standins.overrides(wheels), **overrides}
        metas = [*metas, *standins.metapackages(wheels)]
        t1 = time.monotonic()
        renamed = {k: o.name for k, o in overrides.items() if o.name}

        def conda_name(pypi_name: str) -> str:  # the map, and the CUDA renames on top
            return renamed.get(canonicalize_name(pypi_name)) or depmap.conda_name(pypi_name)

        for wheel in wheels.values():
            _place(
                convert_cached(
                    wheel, wheels, conda_name, overrides.get(wheel.name), cache_dir, work, renamed
                ),
                channel_dir,
            )
        for meta in metas:
            _metapackage(meta, channel_dir)
        if "pytensor" in wheels:
            standins.compiler_standin(channel_dir)
        _log(f"converted {len(wheels)} wheels in {time.monotonic() - t1:.1f}s")
        for pkg in python_cached(cache_dir, work):
            _place(pkg, channel_dir)
    asyncio.run(index_fs(channel_dir, write_zst=False, write_shards=False))
    stamp.write_text(key)
    _log(f"channel ready in {time.monotonic() - t0:.1f}s: {channel_dir}")
    return channel_dir.resolve()


def _place(pkg: Path, channel_dir: Path) -> None:
    dest = channel_dir / pkg.parent.name / pkg.name
    try:
        os.link(pkg, dest)
    except OSError:
        shutil.copy2(pkg, dest)


def _metapackage(meta: dict, channel_dir: Path) -> None:
    from rattler_build import assemble_package

    assemble_package(
        name=meta["name"],
        version=meta["version"],
        target_platform="noarch",
        build_string="offline_0",
        output_dir=channel_dir / "noarch",
        files=[],
        depends=meta.get("depends"),
        constrains=meta.get("constrains"),
        noarch="generic",
    )


def convert_cached(
    wheel: Wheel,
    wheels: dict[str, Wheel],
    conda_name,
    override: Override | None,
    cache_dir: Path,
    work: Path,
    renamed: dict[str, str],
) -> Path:
    h = hashlib.sha256(
        f"{BUILDER_VERSION}|{wheel.path.name}|{sys.version}|{override}|{sorted(renamed.items())}|"
        f"{MAP_PATH.read_text()}".encode()
    )
    # the conversion depends on the metadata of the wheels it expands extras from
    for req in wheel.requires:
        dep = wheels.get(canonicalize_name(req.name))
        if req.extras and dep is not None:
            h.update(dep.path.name.encode())
    slot = cache_dir / "conda" / h.hexdigest()[:20]
    done = list(slot.glob("*/*.conda")) if slot.exists() else []
    if done:
        return done[0]
    if slot.exists():
        shutil.rmtree(slot)
    return convert(wheel, wheels, slot, work, conda_name, override)


def python_cached(cache_dir: Path, work: Path) -> list[Path]:
    slot = (
        cache_dir
        / "python"
        / hashlib.sha256(f"{BUILDER_VERSION}|{sys.version}|{sys.base_prefix}".encode()).hexdigest()[
            :20
        ]
    )
    done = sorted(slot.glob("*/*.conda")) if slot.exists() else []
    if len(done) == 2:
        return done
    if slot.exists():
        shutil.rmtree(slot)
    return pypkg.build_python_packages(slot, work)


if (
    __name__ == "__main__"
):  # python -m tools.conda_offline.channel REQ... : build and print the path
    print(build_channel(sys.argv[1:]))
