"""Install one environment of a lockfile into a site prefix, frozen, smoke-tested, atomic.

Layout under the site prefix ``ROOT`` (the modulefile folders can be put elsewhere)::

    ROOT/homodyne/<version>-<env>/                 the conda environment (bin/, lib/, conda-meta/)
    ROOT/homodyne/<version>-<env>/homodyne-deploy/ deploy.json (what was installed, from which
                                                   lock, smoke-test results) + a copy of the lock
    ROOT/modulefiles/lmod/homodyne/<version>-<env>.lua
    ROOT/modulefiles/tcl/homodyne/<version>-<env>

The environment is installed by ``rattler.install`` from exactly the records of the lock
(no solve) into a hidden sibling ``.<version>-<env>.tmp-*`` with the final path patched
into its files, checked against the lock, smoke-tested, and only then renamed into place;
the modulefiles are written last, each by an atomic rename. A failure at any step removes
the temporary folder, so there is never a half-made prefix or a modulefile pointing at one.
Running again with the same lock verifies the deployment and changes nothing (or repairs
it, the same way, when files are missing or the installed packages differ from the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import fcntl
import glob
import json
import os
import re
import shutil

# runs the deployed environment's own commands and bash, always as argument lists, no shell
import subprocess  # nosec B404
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__ as _tool_version
from . import lockfile, modulefiles

META_DIR = "homodyne-deploy"
META_FILE = "deploy.json"
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")
_SKIP_ACTIVATION = frozenset({"PATH", "CONDA_SHLVL", "SHLVL", "PWD", "OLDPWD", "_", "PS1"})


class DeployError(RuntimeError):
    """The deployment failed; nothing was left behind at the final paths."""


@dataclass
class Request:
    root: Path
    version: str
    env: str  # cpu | gpu
    lock: Path
    lock_env: str | None = None  # environment name inside the lock (default: env)
    mirrors: list[str] = field(default_factory=list)
    pkgs_dir: Path | None = None  # rattler package cache
    lmod_dir: Path | None = None  # default ROOT/modulefiles/lmod
    tcl_dir: Path | None = None  # default ROOT/modulefiles/tcl
    dialects: tuple[str, ...] = ("lmod", "tcl")
    fit: bool = True  # the tiny classical fit in the smoke test
    force: bool = False  # replace a deployment of the same name made from another lock
    note: str = ""
    log: Callable[[str], None] = print

    @property
    def name(self) -> str:
        return f"{self.version}-{self.env}"

    @property
    def env_dir(self) -> Path:
        return self.root / "homodyne" / self.name

    def module_dirs(self) -> tuple[Path | None, Path | None]:
        lmod = (
            (self.lmod_dir or self.root / "modulefiles" / "lmod")
            if "lmod" in self.dialects
            else None
        )
        tcl = (
            (self.tcl_dir or self.root / "modulefiles" / "tcl") if "tcl" in self.dialects else None
        )
        return lmod, tcl


@dataclass
class Result:
    status: str  # installed | unchanged | repaired | replaced
    env_dir: Path
    modulefiles: dict[str, str]
    seconds: dict[str, float]
    smoke: dict[str, Any]


def deploy(req: Request) -> Result:
    """Install, verify, smoke-test and publish one environment; see the module docstring."""
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    req.root = Path(req.root).resolve()
    if req.env not in modulefiles.BACKENDS:
        raise DeployError(f"unknown environment {req.env!r}: cpu or gpu")
    if not _VERSION_RE.match(req.version):
        raise DeployError(f"not a usable version string: {req.version!r}")
    try:
        locked = lockfile.read(req.lock, req.lock_env or req.env)
    except lockfile.LockError as exc:
        raise DeployError(str(exc)) from exc
    _check_locked(req, locked)
    records = lockfile.apply_mirrors(locked.records, lockfile.parse_mirrors(req.mirrors))
    lmod_dir, tcl_dir = req.module_dirs()
    parent = req.env_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(parent / f".{req.name}.deploy-lock"):
        _remove_leftovers(parent, req.name, req.log)
        status = "installed"
        if req.env_dir.exists():
            meta = read_meta(req.env_dir)
            if meta is None:
                raise DeployError(
                    f"{req.env_dir} exists but was not made by homodyne-deploy: refusing to touch it"
                )
            if meta["packages"] != locked.keys():
                if not req.force:
                    raise DeployError(
                        f"{req.env_dir} was deployed from another lock ({meta['lock']['path']}, "
                        f"sha256 {meta['lock']['sha256']}); a version is immutable once users load it. "
                        "Deploy under a new version, or pass --force to replace it."
                    )
                status = "replaced"
            else:
                problems = check_prefix(req.env_dir, locked)
                if not problems:
                    t = time.monotonic()
                    smoke = smoke_test(
                        req.env_dir,
                        req.env,
                        req.version,
                        fit=False,
                        direct=True,
                        env_vars=meta["env_vars"],
                    )
                    timings["verify"] = round(time.monotonic() - t, 1)
                    written = modulefiles.write(module_info(req.env_dir, meta), lmod_dir, tcl_dir)
                    req.log(
                        f"{req.env_dir}: already deployed from this lock, verified; nothing changed"
                    )
                    timings["total"] = round(time.monotonic() - t0, 1)
                    return Result("unchanged", req.env_dir, written, timings, smoke)
                req.log(
                    f"{req.env_dir}: {len(problems)} problem(s), repairing: "
                    + "; ".join(problems[:5])
                )
                status = "repaired"

        tmp = Path(tempfile.mkdtemp(prefix=f".{req.name}.tmp-", dir=parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes 0700: users must be able to read the environment
            t = time.monotonic()
            _install(records, tmp, req.env_dir, req.pkgs_dir)
            timings["install"] = round(time.monotonic() - t, 1)
            problems = check_prefix(tmp, locked)
            if problems:
                raise DeployError(
                    "the installed environment differs from the lock: " + "; ".join(problems[:10])
                )
            env_vars, dropped = activation_variables(tmp, req.env_dir)
            t = time.monotonic()
            smoke = smoke_test(
                tmp, req.env, req.version, fit=req.fit, direct=False, env_vars=env_vars
            )
            timings["smoke"] = round(time.monotonic() - t, 1)
            meta = _write_meta(tmp, req, locked, env_vars, dropped, smoke)
            _swap_in(tmp, req.env_dir, req.log)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            smoke_test(req.env_dir, req.env, req.version, fit=False, direct=True, env_vars=env_vars)
        except BaseException:
            # the final path fails although the same files passed in the temporary folder
            _discard(req.env_dir, parent, req.name)
            raise
        written = modulefiles.write(module_info(req.env_dir, meta), lmod_dir, tcl_dir)
    timings["total"] = round(time.monotonic() - t0, 1)
    req.log(
        f"{status} {req.env_dir} ({len(records)} packages) in {timings['total']}s; modulefiles: "
        + ", ".join(written.values())
    )
    return Result(status, req.env_dir, written, timings, smoke)


def _check_locked(req: Request, locked: lockfile.Locked) -> None:
    ours = [r for r in locked.records if r.name.normalized == lockfile.PROJECT]
    if not ours:
        raise DeployError(
            f"environment {locked.env!r} of {locked.path} does not contain {lockfile.PROJECT}"
        )
    if str(ours[0].version) != req.version:
        raise DeployError(
            f"environment {locked.env!r} of {locked.path} locks {lockfile.PROJECT} "
            f"{ours[0].version}, not {req.version}"
        )
    if missing := lockfile.missing_sha256(locked.records):
        raise DeployError(
            f"the lock has no sha256 for {', '.join(missing[:5])}: cannot install it frozen"
        )
    if unmet := lockfile.unmet_virtual(locked.records, lockfile.detected_virtual_packages()):
        hint = ""
        if any(u.startswith("__cuda") for u in unmet):
            hint = (
                " On a login node without a GPU, deploy the gpu environment with "
                "CONDA_OVERRIDE_CUDA set to the compute nodes' CUDA major version (e.g. "
                "CONDA_OVERRIDE_CUDA=12): the environment is used on those nodes, not here."
            )
        raise DeployError(
            "this machine does not meet the lock's virtual packages: "
            + "; ".join(unmet)
            + "."
            + hint
        )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One deployment of a name at a time (flock; on file systems without it, don't run two)."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DeployError(
                f"another homodyne-deploy is working on {path.name[1:-12]}; try again later"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(parent: Path, name: str, log: Callable[[str], None]) -> None:
    """Temporary folders of a run that was killed (SIGKILL, power) before its cleanup."""
    for pattern in (f".{name}.tmp-*", f".{name}.old-*"):
        for path in parent.glob(pattern):
            log(f"removing the leftover {path}")
            shutil.rmtree(path, ignore_errors=True)


def local_archive(url: str) -> Path | None:
    """The file behind a ``file://`` URL (or a plain path), None for remote URLs."""
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(url).path))
    return Path(url) if url.startswith("/") else None


def check_local_archives(records: list[Any]) -> None:
    """sha256 of the packages that come from local folders. rattler checks what it
    downloads against the lock's sha256, but takes files from ``file://`` channels as they
    are; a local mirror must prove the same bytes."""
    bad = []
    for rec in records:
        path = local_archive(str(rec.url))
        if path is None or not path.is_file():
            continue  # remote (rattler checks), or missing (rattler reports it)
        want = lockfile._hex(rec.sha256)
        if lockfile.file_sha256(path) != want:
            bad.append(f"{path} (lock: sha256 {want})")
    if bad:
        raise DeployError("local package(s) differ from the lock: " + "; ".join(bad[:5]))


def _install(records: list[Any], tmp: Path, final: Path, pkgs_dir: Path | None) -> None:
    from rattler import install

    check_local_archives(records)

    kwargs: dict[str, Any] = {}
    if pkgs_dir is not None:
        kwargs["cache_dir"] = Path(pkgs_dir)
    try:
        asyncio.run(
            install(
                records,
                target_prefix=tmp,
                alternative_target_prefix=final,
                execute_link_scripts=False,
                show_progress=False,
                **kwargs,
            )
        )
    except Exception as exc:
        raise DeployError(f"rattler could not install the locked packages: {exc}") from exc


def check_prefix(prefix: Path, locked: lockfile.Locked) -> list[str]:
    """Differences between an installed prefix and the lock: packages (name, version,
    build, sha256) and the files each installed package lists."""
    from rattler import PrefixRecord

    want = {
        f"{r.name.normalized}-{r.version}-{r.build}": lockfile._hex(r.sha256)
        for r in locked.records
    }
    problems = []
    have = {}
    for meta in sorted((Path(prefix) / "conda-meta").glob("*.json")):
        try:
            rec = PrefixRecord.from_path(meta)
        except Exception as exc:
            problems.append(f"unreadable {meta.name}: {exc}")
            continue
        key = f"{rec.name.normalized}-{rec.version}-{rec.build}"
        have[key] = lockfile._hex(rec.sha256)
        missing = [f for f in rec.files if not os.path.lexists(Path(prefix) / f)]
        if missing:
            problems.append(f"{key}: {len(missing)} file(s) missing, e.g. {missing[0]}")
    problems += [f"not installed: {k}" for k in sorted(set(want) - set(have))]
    problems += [f"not in the lock: {k}" for k in sorted(set(have) - set(want))]
    problems += [
        f"{k}: sha256 {have[k]} instead of {want[k]}"
        for k in sorted(set(want) & set(have))
        if have[k] and want[k] and have[k] != want[k]
    ]
    return problems


def activation_variables(prefix: Path, final: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What activating the environment exports (conda-meta/state and etc/conda/activate.d
    included), worked out by rattler's activation script in a clean bash, with the final
    path in place of the temporary one. Returns (kept, dropped): PATH is the modulefile's
    own business, LD_LIBRARY_PATH and the like are never kept."""
    from rattler.shell import ActivationVariables, Shell, activate

    script = activate(
        Path(prefix), ActivationVariables(None, ["/usr/bin", "/bin"]), Shell.bash
    ).script
    base = {"PATH": "/usr/bin:/bin", "HOME": str(Path(prefix)), "LANG": "C.UTF-8"}
    before = _bash_env("", base)
    after = _bash_env(script, base)
    kept, dropped = {}, {}
    for key, value in sorted(after.items()):
        if key in _SKIP_ACTIVATION or before.get(key) == value:
            continue
        value = value.replace(str(prefix), str(final))
        if key in modulefiles.FORBIDDEN:
            dropped[key] = value
        else:
            kept[key] = value
    return kept, dropped


def _bash_env(script: str, base: dict[str, str]) -> dict[str, str]:
    # fixed argument list, clean environment
    proc = subprocess.run(  # nosec B603 B607
        ["bash", "--noprofile", "--norc", "-c", script + "\nenv -0"],
        env=base,
        capture_output=True,
        check=True,
        timeout=120,
    )
    out = {}
    for item in proc.stdout.decode().split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    return out


_CHECK = {
    "cpu": ("cpu", "gpu", "jax"),
    "gpu": ("gpu", "cpu", "pytensor"),
}
_CHECK_SCRIPT = """
import importlib.util, json, sys
import homodyne
from homodyne.optimization.mcmc_{mine}_backend import is_{mine}_mcmc_available
ok = is_{mine}_mcmc_available()
foreign = importlib.util.find_spec({foreign!r}) is not None
print(json.dumps({{"homodyne": homodyne.__version__, "is_{mine}_mcmc_available": ok,
                  "{foreign}_installed": foreign, "prefix": sys.prefix}}))
sys.exit(0 if ok is True and not foreign else 1)
"""


def smoke_test(
    prefix: Path,
    env: str,
    version: str,
    *,
    fit: bool,
    direct: bool,
    env_vars: dict[str, str] | None = None,
    timeout: int = 900,
) -> dict[str, Any]:
    """Run the environment's own commands in a clean environment: ``homodyne --version``,
    the backend check (``is_cpu_mcmc_available()`` or ``is_gpu_mcmc_available()`` true,
    the other stack not installed) and, with ``fit``, a tiny classical fit on simulated
    data (converged, reduced chi2 near 1). ``direct``: run the entry points as commands
    (final path); otherwise through the environment's python (a temporary folder, whose
    scripts' #! lines already name the final path)."""
    prefix = Path(prefix)
    bindir = prefix / "bin"
    with tempfile.TemporaryDirectory(prefix="homodyne-smoke-") as work:
        run_env = {
            **(env_vars or {}),
            "PATH": f"{bindir}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", work),
            "USER": os.environ.get("USER", "homodyne"),
            "LANG": "C.UTF-8",
            "TMPDIR": work,
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "PYTENSOR_FLAGS": f"base_compiledir={work}/pytensor",
        }
        if "CONDA_OVERRIDE_CUDA" in os.environ:
            run_env["CONDA_OVERRIDE_CUDA"] = os.environ["CONDA_OVERRIDE_CUDA"]

        def cmd(name: str, *args: str) -> list[str]:
            return (
                [str(bindir / name), *args]
                if direct
                else [str(bindir / "python"), str(bindir / name), *args]
            )

        def run(argv: list[str]) -> str:
            try:
                proc = subprocess.run(
                    argv,
                    cwd=work,
                    env=run_env,
                    capture_output=True,
                    text=True,  # nosec B603
                    timeout=timeout,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise DeployError(f"smoke test `{' '.join(argv)}` could not run: {exc}") from exc
            if proc.returncode != 0:
                raise DeployError(
                    f"smoke test `{' '.join(argv)}` exited {proc.returncode}:\n"
                    + (proc.stdout + proc.stderr)[-3000:]
                )
            return proc.stdout + proc.stderr

        result: dict[str, Any] = {}
        out = run(cmd("homodyne", "--version"))
        if version not in out.split():
            raise DeployError(
                f"`homodyne --version` printed {out.strip()!r}, not version {version}"
            )
        result["version"] = out.strip()
        mine, _, foreign = _CHECK[env]
        out = run([str(bindir / "python"), "-c", _CHECK_SCRIPT.format(mine=mine, foreign=foreign)])
        result["backend"] = json.loads(out.strip().splitlines()[-1])
        if fit:
            result["fit"] = _tiny_fit(cmd, run, Path(work))
    return result


def _tiny_fit(cmd: Callable[..., list[str]], run: Callable[..., str], work: Path) -> dict[str, Any]:
    t = time.monotonic()
    run(
        cmd(
            "homodyne",
            "simulate",
            "--mode",
            "static_isotropic",
            "--frames",
            "100",
            "--seed",
            "1",
            # an identifiable point (ageing J with an offset): the fit must end "good"
            "--param",
            "D0=4000",
            "--param",
            "alpha=-0.7",
            "--param",
            "D_offset=800",
            "--output",
            "smoke.h5",
        )
    )
    run(
        cmd(
            "homodyne-config",
            "--mode",
            "static_isotropic",
            "--output",
            "smoke.json",
            "--data",
            "smoke.h5",
        )
    )
    # exit status 0 only for a "good" verdict (3: written, but not good)
    run(cmd("homodyne", "--config", "smoke.json", "--output-dir", "runs", "--no-plots", "-q"))
    found = glob.glob(str(work / "runs" / "*" / "results.json"))
    if len(found) != 1:
        raise DeployError(f"the smoke fit wrote {len(found)} results.json files, expected one")
    res = json.loads(Path(found[0]).read_text())
    classical = res.get("classical", {})
    chi2 = classical.get("reduced_chi2")
    if not classical.get("converged") or chi2 is None or not 0.5 < chi2 < 2.0:
        raise DeployError(
            f"the smoke fit is wrong: converged={classical.get('converged')}, reduced chi2={chi2}"
        )
    return {
        "converged": True,
        "reduced_chi2": round(chi2, 4),
        "seconds": round(time.monotonic() - t, 1),
    }


def _write_meta(
    tmp: Path,
    req: Request,
    locked: lockfile.Locked,
    env_vars: dict[str, str],
    dropped: dict[str, str],
    smoke: dict[str, Any],
) -> dict[str, Any]:
    meta_dir = tmp / META_DIR
    meta_dir.mkdir()
    copy = meta_dir / locked.path.name
    shutil.copyfile(locked.path, copy)
    if lockfile.file_sha256(copy) != locked.sha256:
        raise DeployError(f"{locked.path} changed while it was being deployed")
    meta = {
        "homodyne_deploy": _tool_version,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "version": req.version,
        "env": req.env,
        "prefix": str(req.env_dir),
        "lock": {
            "path": str(locked.path),
            "sha256": locked.sha256,
            "env": locked.env,
            "channels": locked.channels,
            "copy": str(req.env_dir / META_DIR / copy.name),
        },
        "mirrors": req.mirrors,
        "packages": locked.keys(),
        "env_vars": env_vars,
        "dropped_env_vars": dropped,
        "note": req.note,
        "smoke": smoke,
    }
    (meta_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def read_meta(env_dir: Path) -> dict[str, Any] | None:
    path = Path(env_dir) / META_DIR / META_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def module_info(env_dir: Path, meta: dict[str, Any]) -> modulefiles.ModuleInfo:
    return modulefiles.ModuleInfo(
        version=meta["version"],
        env=meta["env"],
        prefix=str(env_dir),
        lock_path=meta["lock"]["path"],
        lock_sha256=meta["lock"]["sha256"],
        lock_env=meta["lock"]["env"],
        lock_copy=meta["lock"]["copy"],
        packages=len(meta["packages"]),
        env_vars=meta["env_vars"],
        note=meta.get("note", ""),
    )


def _swap_in(tmp: Path, final: Path, log: Callable[[str], None]) -> None:
    """Rename the finished environment into place (replacing an old one, if any)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        log(f"replaced the previous {final}")
        shutil.rmtree(old, ignore_errors=True)


def _discard(final: Path, parent: Path, name: str) -> None:
    trash = parent / f".{name}.tmp-failed-{os.getpid()}"
    os.rename(final, trash)
    shutil.rmtree(trash, ignore_errors=True)


def write_modulefiles(
    root: Path,
    version: str,
    env: str,
    lmod_dir: Path | None = None,
    tcl_dir: Path | None = None,
    dialects: tuple[str, ...] = ("lmod", "tcl"),
) -> dict[str, str]:
    """(Re)write the modulefiles of an existing deployment from its deploy.json."""
    req = Request(
        root=Path(root).resolve(),
        version=version,
        env=env,
        lock=Path(),
        lmod_dir=lmod_dir,
        tcl_dir=tcl_dir,
        dialects=dialects,
    )
    meta = read_meta(req.env_dir)
    if meta is None:
        raise DeployError(f"no deployment at {req.env_dir}")
    lmod, tcl = req.module_dirs()
    return modulefiles.write(module_info(req.env_dir, meta), lmod, tcl)


def verify(root: Path, version: str, env: str, *, fit: bool = True) -> dict[str, Any]:
    """Check a deployment against the lock copy it keeps, and smoke-test it."""
    env_dir = Path(root).resolve() / "homodyne" / f"{version}-{env}"
    meta = read_meta(env_dir)
    if meta is None:
        raise DeployError(f"no deployment at {env_dir}")
    try:
        locked = lockfile.read(Path(meta["lock"]["copy"]), meta["lock"]["env"])
    except lockfile.LockError as exc:
        raise DeployError(str(exc)) from exc
    if locked.sha256 != meta["lock"]["sha256"]:
        raise DeployError(
            f"the lock copy {locked.path} no longer has sha256 {meta['lock']['sha256']}"
        )
    problems = check_prefix(env_dir, locked)
    if problems:
        raise DeployError(f"{env_dir} differs from its lock: " + "; ".join(problems[:10]))
    return smoke_test(env_dir, env, version, fit=fit, direct=True, env_vars=meta["env_vars"])
