"""homodyne-analysis-cpu and homodyne-analysis-gpu cannot share an environment.

Decision: they may not be co-installed. The cpu output's run_constraints exclude the gpu
output, JAX, jaxlib and NumPyro; the gpu output's exclude the cpu output, PyTensor and PyMC.
One conda environment holds one MCMC stack; a user who wants both has two environments.

The check solves with the real solver (py-rattler): each side alone must solve, each pair
(cpu+gpu, cpu+jax, cpu+numpyro, gpu+pytensor, gpu+pymc) must not. A failure only counts when
both sides solve alone, so packages the channel lacks (the CUDA stack, offline) are given
*stand-in* records: repodata entries without files, enough for a solve, never installed
(solved without strict channel priority, so that a stand-in jaxlib CUDA build can sit beside
the channel's CPU build).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from . import envs

PAIRS = [
    ("homodyne-analysis-cpu", "homodyne-analysis-gpu"),
    ("homodyne-analysis-cpu", "jax"),
    ("homodyne-analysis-cpu", "numpyro"),
    ("homodyne-analysis-gpu", "pytensor"),
    ("homodyne-analysis-gpu", "pymc"),
]
CUDA = "12"


def _record(name: str, version: str, build: str, depends=(), constrains=()) -> dict:
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "constrains": list(constrains),
        "subdir": "noarch",
        "noarch": "generic",
    }


def write_channel(path: Path, records: list[dict]) -> Path:
    """A repodata-only channel (no package files: for solving, never for installing)."""
    (path / "linux-64").mkdir(parents=True, exist_ok=True)
    (path / "noarch").mkdir(parents=True, exist_ok=True)
    (path / "linux-64" / "repodata.json").write_text(
        json.dumps({"info": {"subdir": "linux-64"}, "packages": {}})
    )
    packages = {f"{r['name']}-{r['version']}-{r['build']}.conda": r for r in records}
    (path / "noarch" / "repodata.json").write_text(
        json.dumps({"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": packages})
    )
    return path


def channel_records(channel_dirs: list[Path]) -> dict[str, list[dict]]:
    """name -> repodata records of the given local channels."""
    out: dict[str, list[dict]] = {}
    for ch in channel_dirs:
        for sub in ("noarch", "linux-64"):
            rd = Path(ch) / sub / "repodata.json"
            if rd.exists():
                data = json.loads(rd.read_text())
                for key in ("packages", "packages.conda"):
                    for r in data.get(key, {}).values():
                        out.setdefault(r["name"], []).append(r)
    return out


def standins(specs: list[str], known: dict[str, list[dict]] | None = None) -> list[dict]:
    """Stand-in records satisfying these specs, one per spec, never for our own outputs.

    Where the channels hold the package but not the build asked for (jaxlib's CPU build
    where ``cuda12*`` is asked for), the newest real record is cloned with that build, so
    that its dependencies still fit the rest of the channel; otherwise the stand-in sits at
    the spec's lower bound and depends on nothing."""
    from rattler import Version

    known = known or {}
    out = {}
    for spec in specs:
        parts = spec.split()
        name = parts[0]
        if name.startswith("homodyne-analysis"):
            continue
        build = parts[2].replace("*", "_standin_0") if len(parts) > 2 else "standin_0"
        if known.get(name) and len(parts) > 2:
            real = max(known[name], key=lambda r: Version(r["version"]))
            rec = _record(
                name, real["version"], build, real.get("depends", []), real.get("constrains", [])
            )
        else:
            lower = re.search(r">=?([0-9][0-9a-zA-Z.]*)", parts[1] if len(parts) > 1 else "")
            rec = _record(name, lower.group(1) if lower else "1.0", build)
        out[(name, rec["version"], build)] = rec
    return list(out.values())


def rendered_records(outputs) -> list[dict]:
    """Repodata records of rendered recipe outputs (pin_subpackage resolved), for a solve."""
    core = next(o for o in outputs if o.name == "homodyne-analysis")
    recs = []
    for o in outputs:
        depends = []
        for entry in o.run:
            if isinstance(entry, dict):
                pin = entry["pin_subpackage"]
                depends.append(f"{pin['name']} =={core.version} {core.build_string}")
            else:
                depends.append(entry)
        recs.append(_record(o.name, o.version, o.build_string, depends, o.run_constraints))
    return recs


def check(channel_dirs: list[Path], extra_specs: list[str] = (), cuda: str = CUDA) -> dict:
    """Solve each side alone and each pair; raise if a pair solves or a side does not."""
    channels = [Path(c).resolve().as_uri() for c in channel_dirs]
    needed = list(extra_specs) + [p for pair in PAIRS for p in pair]
    # what the recipe outputs need (from the channels' own repodata)
    for ch in channel_dirs:
        rd = Path(ch) / "noarch" / "repodata.json"
        if rd.exists():
            for r in json.loads(rd.read_text()).get("packages.conda", {}).values():
                if r["name"].startswith("homodyne-analysis"):
                    needed += [
                        d for d in r.get("depends", []) if not d.startswith("homodyne-analysis")
                    ]
    missing = []
    for spec in dict.fromkeys(needed):
        if spec.startswith("__"):
            continue
        try:
            envs.solve(channels, [spec], cuda=cuda, strict=False)
        except Exception:
            missing.append(spec)
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="homodyne-standins-") as tmp:
        stand = standins(missing, channel_records(channel_dirs))
        if stand:
            channels.append(write_channel(Path(tmp), stand).as_uri())
            results["stand-ins"] = ", ".join(sorted(f"{r['name']} {r['build']}" for r in stand))
        gpu = f"homodyne-analysis-gpu * cuda{cuda}*"
        for side in sorted({p for pair in PAIRS for p in pair}):
            spec = gpu if side == "homodyne-analysis-gpu" else side
            try:
                n = len(envs.solve(channels, [spec], cuda=cuda, strict=False))
            except Exception as exc:
                raise AssertionError(f"{side} does not solve alone: {exc}") from exc
            results[side] = f"solves alone ({n} packages)"
        for a, b in PAIRS:
            specs = [gpu if x == "homodyne-analysis-gpu" else x for x in (a, b)]
            try:
                envs.solve(channels, specs, cuda=cuda, strict=False)
            except Exception:
                results[f"{a} + {b}"] = "unsolvable, as required"
            else:
                raise AssertionError(f"{a} and {b} solved together: the exclusion does not hold")
    return results
