"""Offline verification of the conda side, without conda-forge.

    python -m tools.conda_offline.verify [--with-gpu] [--work DIR] [--report FILE] [--keep]

Default part (CI, < 10 min on 2 cores):
  1. static   pixi.toml structure + drift, environment files, requirements files, recipe
              render + drift, isolation-policy coverage
  2. channel  a local conda channel from PyPI (python from this interpreter, wheels converted)
  3. build    the core and cpu outputs WITH their recipe tests (test_strategy native); the
              gpu outputs without tests (their CUDA stack is the slow mode's)
  4. exclude  solving homodyne-analysis-cpu with homodyne-analysis-gpu fails; each alone works
  5. envs     the pixi environments cpu and dev solved from the channel and installed, the
              project installed editable (as pixi does), a pixi.lock (v7) written, checked by
              pixi-policy, both environments re-installed from that lock
  6. tests    the project's fast tests (-m "not slow and not gpu") inside the dev environment,
              the isolation check inside the cpu environment

--with-gpu (slow, ~3 GB of CUDA wheels): a second channel with jax[cuda12] converted to
conda-forge's CUDA names, the gpu output (CUDA 12) built WITH its tests, the gpu environment
solved, installed, locked, re-installed and tested (GPU tests skip without a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from . import envfiles, envs, exclusion, policy, reqfiles
from . import manifest as mf
from . import recipe as rc
from .build_recipe import build, select
from .channel import build_channel, default_cache_dir
from .depmap import REPO_ROOT, extra_requirements, load_pyproject, package_version

PIXI_ENVS = ("cpu", "dev")


class Report:
    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.t0 = time.monotonic()

    def step(self, name: str, fn, *args, **kwargs):
        print(f"\n=== {name}", flush=True)
        t = time.monotonic()
        entry: dict = {"step": name}
        try:
            entry["detail"] = fn(*args, **kwargs)
            entry["ok"] = True
        except Exception as exc:
            entry["ok"] = False
            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        entry["seconds"] = round(time.monotonic() - t, 1)
        self.steps.append(entry)
        print(f"--- {name}: {'ok' if entry['ok'] else 'FAILED'} in {entry['seconds']}s", flush=True)
        if not entry["ok"]:
            raise SystemExit(1)
        return entry["detail"]

    def as_dict(self) -> dict:
        return {
            "total_seconds": round(time.monotonic() - self.t0, 1),
            "commit": source_commit(),
            "steps": self.steps,
        }


def source_commit() -> str | None:
    """The checkout's commit (short hash, ``-dirty`` with uncommitted changes), None
    outside a git checkout: what the docs' measured tables are labelled with."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def du(path: Path) -> int:
    return sum(
        p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink()
    )


def static_checks() -> dict:
    man = mf.load()
    outputs = rc.render()
    problems = {
        "pixi.toml": mf.validate(man),
        "pixi.toml vs pyproject": mf.drift(man),
        "environments/*.yml": envfiles.check(),
        "requirements*.txt": reqfiles.check(),
        "recipe vs pyproject": rc.drift(outputs),
        "isolation coverage": policy.coverage(man),
    }
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        raise AssertionError(json.dumps(bad, indent=2))
    return {"rendered_outputs": [f"{o.name}-{o.version}-{o.build_string}" for o in outputs]}


def channel_requirements(gpu: bool) -> list[str]:
    pp = load_pyproject()
    # pip + hatchling: the recipe's host; editables: hatchling's editable installs (pixi's path dependency)
    reqs = [*extra_requirements(pp, "core"), "pip", "hatchling>=1.18", "editables"]
    if gpu:
        test = mf.features(mf.load())["test"]["dependencies"]
        reqs += extra_requirements(pp, "mcmc-gpu") + [
            r
            for r in extra_requirements(pp, "dev")
            if canonicalize_name(Requirement(r).name) in test
        ]
    else:
        # the cpu and dev environments' stacks; nutpie (pip's dev extra carries it for the
        # pip test stage) is in no environment solved here (pixi environment nutpie)
        nutpie = {
            canonicalize_name(Requirement(r).name)
            for r in pp["project"]["optional-dependencies"]["mcmc-nutpie"]
            if not r.startswith("homodyne-analysis[")
        }
        reqs += extra_requirements(pp, "mcmc") + [
            r
            for r in extra_requirements(pp, "dev")
            if canonicalize_name(Requirement(r).name) not in nutpie
        ]
    return reqs


def make_channel(gpu: bool, cache: Path) -> dict:
    path = build_channel(channel_requirements(gpu), cache_dir=cache, cuda="12" if gpu else None)
    n = len(list(path.glob("*/*.conda")))
    return {"path": str(path), "packages": n, "bytes": du(path)}


def build_outputs(channel: str, out_dir: Path, gpu: bool) -> list[dict]:
    """Default: core and cpu with their tests, the gpu variants without (metadata for the
    exclusion check). --with-gpu: core and the CUDA 12 gpu output with their tests."""
    outputs = rc.render()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tested = ["homodyne-analysis", "homodyne-analysis-gpu" if gpu else "homodyne-analysis-cpu"]
    results = build(select(outputs, tested, ["12"] if gpu else None), [channel], out_dir)
    if not gpu:
        results += build(
            select(outputs, ["homodyne-analysis-gpu"], None), [channel], out_dir, test=False
        )
    return results


def pypi_install(
    prefix: Path, wheel_dir: Path, items: list[str], editable: Path | None = None
) -> None:
    """What pixi does for [pypi-dependencies] (with uv), from the local wheel cache."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    base = [
        uv,
        "pip",
        "install",
        "--python",
        str(prefix / "bin" / "python"),
        "--no-deps",
        "--offline",
        "--no-index",
        "--find-links",
        str(wheel_dir),
        "--quiet",
    ]
    if editable is not None:
        subprocess.run(
            [*base, "-e", str(editable)],
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    if items:
        subprocess.run(
            [*base, *items], check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        )


def pypi_only(env: str) -> list[str]:
    """The PyPI-only packages of a pixi environment (the project itself aside)."""
    return [n for n in mf.env_pypi(mf.load(), env) if n != "homodyne-analysis"]


def make_envs(
    names: tuple[str, ...], channels: list[str], work: Path, cache: Path, cuda: str | None
) -> dict:
    man = mf.load()
    wheel_dir = cache / "wheels"
    solved, pypi, detail = {}, {}, {}
    for env in names:
        specs = [str(s) for s in mf.env_specs(man, env).values()]
        t = time.monotonic()
        records = envs.solve(channels, specs, cuda=cuda)
        prefix = work / "envs" / env
        if prefix.exists():
            shutil.rmtree(prefix)
        envs.install(records, prefix, cache / "pkgs")
        extra = pypi_only(env)
        pypi_install(prefix, wheel_dir, extra, editable=REPO_ROOT)
        solved[env] = records
        pypi[env] = [("homodyne-analysis", package_version(), ".")] + [
            (n, _installed_version(prefix, n), str(wheel_dir)) for n in extra
        ]
        detail[env] = {
            "conda_packages": len(records),
            "pypi": [p[0] for p in pypi[env]],
            "bytes": du(prefix),
            "seconds": round(time.monotonic() - t, 1),
        }
    lock = work / "lock" / "pixi.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "pixi.toml", lock.parent / "pixi.toml")
    envs.write_lock(
        lock,
        solved,
        {e: channels for e in names},
        pypi,
        virtual=[f"__cuda={cuda}"] if cuda else None,
    )
    detail["lock"] = str(lock)
    return detail


def _installed_version(prefix: Path, name: str) -> str:
    out = subprocess.run(
        [
            str(prefix / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({name!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def check_policy(lock: Path) -> dict:
    findings = policy.check_lock(lock)
    if findings:
        raise AssertionError(json.dumps(findings, indent=2))
    from rattler import LockFile

    locked = [name for name, _ in LockFile.from_path(str(lock)).environments()]
    applied = {
        name: [e for e in rule["environments"] if e in locked]
        for name, rule in policy.rules().items()
    }
    return {"environments": locked, "policies applied": applied, "findings": 0}


def reinstall(names: tuple[str, ...], work: Path, cache: Path) -> dict:
    lock = work / "lock" / "pixi.lock"
    detail = {}
    for env in names:
        prefix = work / "envs" / env
        shutil.rmtree(prefix)
        t = time.monotonic()
        records = envs.install_from_lock(lock, env, prefix, cache / "pkgs")
        pypi_install(prefix, cache / "wheels", pypi_only(env), editable=REPO_ROOT)
        installed = {p.stem for p in (prefix / "conda-meta").glob("*.json")}
        locked = {f"{r.name.normalized}-{r.version}-{r.build}" for r in records}
        if installed != locked:
            raise AssertionError(
                f"{env}: installed {sorted(installed ^ locked)} differ from the lock"
            )
        detail[env] = {"conda_packages": len(records), "seconds": round(time.monotonic() - t, 1)}
    return detail


#: not passed into a conda environment: a conda environment holds ONE MCMC stack by
#: design, so the suite's skips for the other stack are expected there and must not turn
#: into failures (CI=true does that in tests/conftest.py); the packaging stage's own marker
#: asks for tools (conda-lock) that only the stage's venv has.
_NOT_INTO_ENVS = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "CI", "HOMODYNE_PACKAGING_STAGE")


def run_in_env(prefix: Path, args: list[str], timeout: int) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INTO_ENVS}
    env["PATH"] = f"{prefix / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["CONDA_PREFIX"] = str(prefix)
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    out = proc.stdout + proc.stderr
    print(out[-4000:], flush=True)
    if proc.returncode != 0:
        # the tail holds only the summary: show why each test failed as well
        start = out.find("= FAILURES =")
        if start >= 0:
            failures = out[start:]
            print(failures[:12000] + ("\n[...]" if len(failures) > 12000 else ""), flush=True)
        raise AssertionError(f"{' '.join(args[:3])}... exited {proc.returncode}")
    return out


def test_suite(work: Path, env: str, markers: str, timeout: int) -> dict:
    prefix = work / "envs" / env
    out = run_in_env(
        prefix,
        [
            str(prefix / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "-m",
            markers,
            # .importlinter's contracts name jax and pymc, and import-linter fails on a
            # forbidden module that is not installed: a one-stack environment lacks one
            "--deselect",
            "tests/test_architecture.py",
            "tests",
        ],
        timeout,
    )
    summary = [
        line
        for line in out.splitlines()
        if " passed" in line or " failed" in line or "no tests ran" in line
    ]
    return {"env": env, "markers": markers, "summary": summary[-1] if summary else out[-300:]}


def isolation_in_env(work: Path, env: str, kind: str) -> dict:
    prefix = work / "envs" / env
    out = run_in_env(prefix, [str(prefix / "bin" / "homodyne"), "--version"], 120)
    out += run_in_env(
        prefix,
        [
            str(prefix / "bin" / "python"),
            str(REPO_ROOT / "recipe" / "check_isolation.py"),
            kind,
            package_version(),
        ],
        300,
    )
    return {"env": env, "output": out.strip().splitlines()[-2:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--with-gpu", action="store_true", help="also the CUDA 12 stack (~3 GB of wheels, slow)"
    )
    ap.add_argument("--work", type=Path, default=REPO_ROOT / "_work" / "conda-offline")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="channel/wheel cache (default: ~/.cache/homodyne-conda-offline)",
    )
    ap.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    ap.add_argument("--test-timeout", type=int, default=900)
    args = ap.parse_args(argv)
    cache = args.cache or default_cache_dir()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    try:
        report.step("static checks", static_checks)
        ch = report.step("channel (cpu stack)", make_channel, False, cache)
        channel = Path(ch["path"]).as_uri()
        out_dir = work / "outputs"
        report.step("build core + cpu with recipe tests", build_outputs, channel, out_dir, False)
        report.step("cpu/gpu exclusion (solver)", exclusion.check, [out_dir, Path(ch["path"])])
        report.step(
            "solve + install cpu, dev; write pixi.lock",
            make_envs,
            PIXI_ENVS,
            [channel],
            work,
            cache,
            None,
        )
        report.step(
            "isolation policy on the lock (pixi-policy)", check_policy, work / "lock" / "pixi.lock"
        )
        report.step("re-install cpu, dev from the lock", reinstall, PIXI_ENVS, work, cache)
        report.step("isolation + homodyne --version in cpu", isolation_in_env, work, "cpu", "cpu")
        report.step(
            "test suite in dev", test_suite, work, "dev", "not slow and not gpu", args.test_timeout
        )
        if args.with_gpu:
            gw = work / "gpu"
            gch = report.step("channel (CUDA 12 stack)", make_channel, True, cache)
            gchannel = Path(gch["path"]).as_uri()
            report.step(
                "build gpu (CUDA 12) with recipe tests",
                build_outputs,
                gchannel,
                gw / "outputs",
                True,
            )
            report.step(
                "cpu/gpu exclusion (solver, CUDA stack real)",
                exclusion.check,
                [gw / "outputs", out_dir, Path(gch["path"]), Path(ch["path"])],
            )
            report.step(
                "solve + install gpu; write pixi.lock",
                make_envs,
                ("gpu",),
                [gchannel],
                gw,
                cache,
                "12",
            )
            report.step("isolation policy on the gpu lock", check_policy, gw / "lock" / "pixi.lock")
            report.step("re-install gpu from the lock", reinstall, ("gpu",), gw, cache)
            report.step("isolation + homodyne --version in gpu", isolation_in_env, gw, "gpu", "gpu")
            report.step("test suite in gpu", test_suite, gw, "gpu", "not slow", args.test_timeout)
    finally:
        data = report.as_dict()
        data["with_gpu"] = args.with_gpu
        path = args.report or work / "report.json"
        path.write_text(json.dumps(data, indent=2, default=str))
        print(f"\nreport: {path} ({data['total_seconds']}s)")
    print("offline conda verification passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
