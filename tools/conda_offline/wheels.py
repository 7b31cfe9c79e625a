"""PyPI wheel -> conda package, with markers evaluated and extras expanded.

conda has no extras: where wheel A requires ``B[x]``, the conda package of A depends on B
*and* on what B's extra ``x`` requires (evaluated recursively). Markers are evaluated for the
running interpreter, the one the offline channel's ``python`` package is made from.

Pure wheels become ``noarch: python`` packages (``site-packages/``, ``python-scripts/`` and
console scripts as ``info/link.json`` entry points, which the installer writes); binary
wheels become ``linux-64`` packages for exactly this Python (``lib/pythonX.Y/site-packages``,
console scripts as relocatable sh/python polyglot scripts).
"""

from __future__ import annotations

import configparser
import json
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from .depmap import pep440_to_conda

# The first lines of a console script that runs the interpreter beside it, wherever the
# prefix is: valid sh (exec) and, for Python, a no-op string statement.
_POLYGLOT_HEADER = """#!/bin/sh
'''exec' "$(dirname -- "$0")/python{mm}" "$0" "$@"
' '''
"""


@dataclass
class Wheel:
    path: Path
    name: str  # canonical PyPI name
    version: str
    requires: list[Requirement]
    requires_python: str
    pure: bool
    summary: str = ""
    license: str = ""

    @classmethod
    def read(cls, path: Path) -> Wheel:
        name, version, _build, tags = parse_wheel_filename(path.name)
        with zipfile.ZipFile(path) as zf:
            dist_info = next(
                n.split("/")[0] for n in zf.namelist() if n.split("/")[0].endswith(".dist-info")
            )
            meta = HeaderParser().parsestr(
                zf.read(f"{dist_info}/METADATA").decode("utf-8", "replace")
            )
        pure = all(t.abi == "none" and t.platform == "any" for t in tags)
        return cls(
            path=path,
            name=canonicalize_name(name),
            version=str(version),
            requires=[Requirement(r) for r in meta.get_all("Requires-Dist") or []],
            requires_python=meta.get("Requires-Python") or "",
            pure=pure,
            summary=(meta.get("Summary") or "")[:200],
            license=(meta.get("License-Expression") or "")[:100],
        )


@dataclass
class Override:
    """How the offline channel deviates from plain conversion for one wheel."""

    name: str | None = None  # conda name
    build: str | None = None  # build string
    extra_depends: list[str] = field(default_factory=list)
    expand_extras: tuple[str, ...] = ()  # extras of this wheel folded into its own depends


def marker_env(extra: str = "") -> dict[str, str]:
    env = dict(default_environment())
    env["extra"] = extra
    return env


def _reqs_for(wheel: Wheel, extra: str) -> list[Requirement]:
    """Requirements active for ``extra`` ("" = the base requirements) and only for it."""
    out = []
    for req in wheel.requires:
        if req.marker is None:
            if extra == "":
                out.append(req)
            continue
        if req.marker.evaluate(marker_env(extra)) and (
            extra == "" or not req.marker.evaluate(marker_env(""))
        ):
            out.append(req)
    return out


def pypi_depends(
    wheel: Wheel, wheels: dict[str, Wheel], expand_own: tuple[str, ...] = ()
) -> list[Requirement]:
    """The wheel's base requirements plus every requested extra, expanded recursively."""
    seen: set[tuple[str, str]] = set()
    out: list[Requirement] = []

    def visit(w: Wheel, extra: str) -> None:
        if (w.name, extra) in seen:
            return
        seen.add((w.name, extra))
        for req in _reqs_for(w, extra):
            if canonicalize_name(req.name) == wheel.name:
                for e in req.extras:  # a self-referencing extra: fold it in
                    visit(wheel, e)
                continue
            out.append(req)
            dep = wheels.get(canonicalize_name(req.name))
            for e in sorted(req.extras):
                if dep is not None:
                    visit(dep, e)

    visit(wheel, "")
    for e in expand_own:
        visit(wheel, e)
    return out


def _install_tree(wheel: Wheel, site: Path, scripts: Path, root: Path) -> list[tuple[str, str]]:
    """Unpack the wheel (site-packages, scripts, data under ``root``); return its
    console_scripts as (name, 'mod:attr')."""
    entry_points: list[tuple[str, str]] = []
    with zipfile.ZipFile(wheel.path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            top = parts[0]
            if top.endswith(".data") and len(parts) > 2:
                kind, rest = parts[1], "/".join(parts[2:])
                target = {"purelib": site, "platlib": site, "scripts": scripts, "data": root}.get(
                    kind
                )
                if target is None:  # headers: not needed by anything here
                    continue
                dest = target / rest
            else:
                dest = site / info.filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            data = zf.read(info)
            if top.endswith(".data") and parts[1] == "scripts" and data.startswith(b"#!python"):
                data = _relocatable_shebang(data)
            dest.write_bytes(data)
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111 or dest.parent == scripts:
                dest.chmod(0o755)
            if top.endswith(".dist-info") and parts[-1] == "entry_points.txt":
                cp = configparser.ConfigParser(delimiters=("=",), interpolation=None)
                cp.optionxform = str  # type: ignore[assignment]
                cp.read_string(data.decode())
                if cp.has_section("console_scripts"):
                    entry_points = [(k.strip(), v.strip()) for k, v in cp.items("console_scripts")]
            if top.endswith(".dist-info") and parts[-1] == "RECORD":
                dest.write_text("")  # conda owns the files; pip must not uninstall them
    for dist_info in site.glob("*.dist-info"):
        (dist_info / "INSTALLER").write_text("conda\n")
    return entry_points


def _header() -> str:
    return _POLYGLOT_HEADER.format(mm=f"{sys.version_info[0]}.{sys.version_info[1]}")


def _relocatable_shebang(data: bytes) -> bytes:
    """Replace a wheel script's ``#!python`` line by the polyglot header."""
    body = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return _header().encode() + body


def _polyglot(module: str, attr: str) -> str:
    """A console script for the entry point ``module:attr``."""
    head = attr.split(".")[0]
    return _header() + f"import sys\nfrom {module} import {head}\nsys.exit({attr}())\n"


def convert(
    wheel: Wheel,
    wheels: dict[str, Wheel],
    out_dir: Path,
    work: Path,
    conda_name,  # callable: pypi name -> conda name
    override: Override | None = None,
) -> Path:
    """Turn one wheel into a conda package in ``out_dir/<subdir>``; return its path."""
    from rattler_build import assemble_package

    override = override or Override()
    mm = f"{sys.version_info[0]}.{sys.version_info[1]}"
    abi = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    stage = work / f"stage-{wheel.name}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)

    clauses: dict[str, set[str]] = {}

    def add(spec: str) -> None:
        name, _, version = spec.partition(" ")
        clauses.setdefault(name, set()).update(c for c in version.strip().split(",") if c)

    for req in pypi_depends(wheel, wheels, override.expand_extras):
        add(f"{conda_name(req.name)} {pep440_to_conda(req.specifier)}".strip())
    for spec in override.extra_depends:
        add(spec)

    if wheel.pure:
        site, scripts = stage / "site-packages", stage / "python-scripts"
        entry_points = _install_tree(wheel, site, scripts, stage)
        if entry_points:
            (stage / "info").mkdir(exist_ok=True)
            (stage / "info" / "link.json").write_text(
                json.dumps(
                    {
                        "noarch": {
                            "type": "python",
                            "entry_points": [f"{n} = {t}" for n, t in entry_points],
                        },
                        "package_metadata_version": 1,
                    }
                )
            )
        add(f"python {pep440_to_conda(wheel.requires_python)}".strip())
        subdir, noarch, build = "noarch", "python", override.build or "pyh_wheel_0"
    else:
        site = stage / "lib" / f"python{mm}" / "site-packages"
        scripts = stage / "bin"
        for n, target in _install_tree(wheel, site, scripts, stage):
            module, _, attr = target.partition(":")
            script = scripts / n
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(_polyglot(module.strip(), attr.split("[")[0].strip()))
            script.chmod(0o755)
        add(f"python >={mm},<{_next_minor(mm)}.0a0")
        subdir, noarch, build = "linux-64", None, override.build or f"{abi}_wheel_0"

    depends = []
    for name, cl in sorted(clauses.items()):
        spec = f"{name} {','.join(sorted(cl))}".strip()
        depends.append(spec if _valid(spec) else name)  # a PEP 440 form conda cannot express
    if not wheel.pure:
        depends.append(f"python_abi {mm}.* *_{abi}")
    (out_dir / subdir).mkdir(parents=True, exist_ok=True)
    out = assemble_package(
        name=override.name or conda_name(wheel.name),
        version=wheel.version,
        target_platform=subdir,
        build_string=build,
        output_dir=out_dir / subdir,
        files_dir=stage,
        depends=depends,
        noarch=noarch,
        summary=wheel.summary or None,
        license=wheel.license or None,
        compression_level=1,
        detect_prefix=False,
    ).path
    shutil.rmtree(stage)
    return out


def _next_minor(mm: str) -> str:
    major, minor = mm.split(".")
    return f"{major}.{int(minor) + 1}"


def _valid(spec: str) -> bool:
    from rattler import MatchSpec

    try:
        MatchSpec(spec)
        return True
    except Exception:
        return False
