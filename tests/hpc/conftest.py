"""HPC deployment tests.

Fast unit tests (modulefile text in both dialects, evaluated by the real ``lua`` and
``tclsh`` where present; lockfile helpers; the command line) run everywhere.

The deployment tests build what they need from PyPI (the conda-offline channel of
``tools/conda_offline``, the recipe's outputs, a deployment lock), deploy into a temporary
site prefix and drive the real module tools. They take a few minutes, so they are opt-in:
``HOMODYNE_HPC_DEPLOY=1 pytest tests/hpc`` (``.ci/hpc.sh`` does this after installing Lmod
and Environment Modules). Each tool test skips with the reason when its tool is absent.

The lock used here is NOT a conda-forge lock (none can be made on a machine without
conda-forge): it is solved by the same helpers as the offline verification
(``tools.conda_offline.envs.solve``/``write_lock``, a ``rattler.LockFile``, pixi.lock format
7) from the same local channel built from PyPI wheels, plus the recipe's own
``homodyne-analysis``/``homodyne-analysis-cpu`` packages built from this checkout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from homodyne import __version__ as VERSION  # noqa: E402

DEPLOY_OPT_IN = "HOMODYNE_HPC_DEPLOY"
WORK = Path(os.environ.get("HOMODYNE_HPC_WORK", REPO_ROOT / "_work" / "hpc"))

# Lmod: Debian's package (its init script, or the login shell's /etc/profile.d/lmod.sh).
LMOD_INITS = [
    os.environ.get("HOMODYNE_LMOD_INIT", ""),
    "/usr/share/lmod/lmod/init/bash",
    "/usr/share/lmod/lmod/init/profile",
]
# Environment Modules: Debian's package conflicts with lmod's, so .ci/hpc.sh unpacks the
# same .deb into _work/hpc/environment-modules (init script pointed at its modulecmd.tcl).
ENVMODULES_INITS = [
    os.environ.get("HOMODYNE_ENVMODULES_INIT", ""),
    "/usr/share/modules/init/bash",
    str(WORK / "environment-modules" / "usr" / "share" / "modules" / "init" / "bash"),
]

TEST_ONLY_GPU_NOTE = (
    "TEST ONLY: NumPyro with JAX's CPU jaxlib (PyPI wheel, offline channel), "
    "no CUDA; stands in for the gpu environment to test the module swap"
)


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).startswith(str(Path(__file__).parent)):
            item.add_marker(pytest.mark.hpc)


def pytest_configure(config):
    config.addinivalue_line("markers", "hpc: HPC deployment and modulefile tests (tests/hpc)")


def first_existing(candidates: list[str]) -> Path | None:
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="session")
def lmod_init() -> Path:
    path = first_existing(LMOD_INITS)
    if path is None:
        pytest.skip("Lmod is not installed (Debian: apt-get install lmod; .ci/hpc.sh does it)")
    return path


@pytest.fixture(scope="session")
def envmodules_init() -> Path:
    path = first_existing(ENVMODULES_INITS)
    if path is None:
        pytest.skip(
            "Environment Modules is not installed (.ci/hpc.sh unpacks Debian's environment-modules)"
        )
    return path


def require_deploy_opt_in() -> None:
    if os.environ.get(DEPLOY_OPT_IN) != "1":
        pytest.skip(
            f"deployment tests build a conda channel and deploy environments (minutes): "
            f"opt in with {DEPLOY_OPT_IN}=1 (.ci/hpc.sh does)"
        )
    pytest.importorskip("rattler", reason="py-rattler is not installed (dev extra)")
    pytest.importorskip("rattler_build", reason="py-rattler-build is not installed (dev extra)")


@dataclass(frozen=True)
class Material:
    channel: Path  # local channel from PyPI wheels (tools.conda_offline.channel)
    outputs: Path  # the recipe's core + cpu packages built from this checkout
    lock: Path  # deployment lock: environment cpu (homodyne-analysis-cpu ==VERSION)
    test_lock: Path  # test-only environments: jax (CPU JAX, labelled), core (no MCMC stack)
    pkgs: Path  # rattler package cache shared by the tests


def _source_hash() -> str:
    h = hashlib.sha256()
    files = sorted((REPO_ROOT / "homodyne").rglob("*.py")) + sorted(
        (REPO_ROOT / "recipe").iterdir()
    )
    files += [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md", REPO_ROOT / "LICENSE"]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(REPO_ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _build_outputs(channel: Path, outputs: Path, pkgs: Path) -> None:
    from tools.conda_offline.build_recipe import build, select
    from tools.conda_offline.recipe import render

    stamp = outputs / ".source-sha256"
    want = _source_hash()
    if stamp.is_file() and stamp.read_text() == want:
        return
    if outputs.exists():
        shutil.rmtree(outputs)
    # the package cache keys on name-version-build: drop our own packages of an older source
    for old in pkgs.glob(f"homodyne-analysis*-{VERSION}-*"):
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    build(
        select(render(), ["homodyne-analysis", "homodyne-analysis-cpu"], None),
        [channel.as_uri()],
        outputs,
        test=False,
        echo=False,
    )
    stamp.write_text(want)


@pytest.fixture(scope="session")
def material() -> Material:
    """Channel, packages and locks for the deployment tests (cached under _work/hpc)."""
    require_deploy_opt_in()
    from homodyne.deploy import lockfile
    from tools.conda_offline import manifest
    from tools.conda_offline.channel import build_channel
    from tools.conda_offline.verify import channel_requirements

    WORK.mkdir(parents=True, exist_ok=True)
    pkgs = WORK / "pkgs"
    # the same requirements (and so the same cached channel) as the offline verification
    channel = build_channel(channel_requirements(False))
    outputs = WORK / "outputs"
    _build_outputs(channel, outputs, pkgs)
    channels = [str(outputs.resolve()), str(channel)]
    lock = lockfile.write_release_lock(
        WORK / "lock" / f"homodyne-{VERSION}.lock",
        VERSION,
        channels,
        {"cpu": lockfile.release_specs("cpu", VERSION)},
    )
    # test-only: the pixi feature mcmc-jax (numpyro, jax, jaxlib, arviz) without the jax-cpu
    # feature's build glob (the offline channel's jaxlib is the PyPI CPU wheel)
    jax_specs = [str(s) for s in manifest.feature_specs(manifest.load(), "mcmc-jax").values()]
    test_lock = lockfile.write_release_lock(
        WORK / "lock" / f"test-only-{VERSION}.lock",
        VERSION,
        channels,
        {
            "jax": [f"homodyne-analysis =={VERSION}", *jax_specs],
            "core": [f"homodyne-analysis =={VERSION}"],
        },
    )
    return Material(channel, outputs, lock, test_lock, pkgs)


@dataclass(frozen=True)
class Site:
    root: Path
    lmod_dir: Path
    tcl_dir: Path
    material: Material


@pytest.fixture(scope="session")
def site(material: Material, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A site prefix with homodyne/<V>-cpu from the deployment lock, deployed by the
    command line."""
    root = tmp_path_factory.mktemp("site")
    deploy_cli(root, "cpu", material.lock, material.pkgs)
    return Site(root, root / "modulefiles" / "lmod", root / "modulefiles" / "tcl", material)


@pytest.fixture(scope="session")
def site_with_gpu(site: Site) -> Site:
    """The same site plus homodyne/<V>-gpu: the labelled test-only CPU-JAX environment
    (or, with HOMODYNE_HPC_GPU_LOCK=<deployment lock with a gpu environment>, the real one,
    e.g. `homodyne-deploy lock --env gpu --cuda 12` from the offline verification's slow
    --with-gpu channel; CONDA_OVERRIDE_CUDA for its __cuda requirement without a GPU)."""
    real = os.environ.get("HOMODYNE_HPC_GPU_LOCK")
    if real:
        deploy_cli(site.root, "gpu", Path(real), site.material.pkgs)
    else:
        deploy_cli(
            site.root,
            "gpu",
            site.material.test_lock,
            site.material.pkgs,
            "--lock-env",
            "jax",
            "--note",
            TEST_ONLY_GPU_NOTE,
        )
    return site


def deploy_cli(
    root: Path, env: str, lock: Path, pkgs: Path, *extra: str, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "homodyne.deploy",
            "install",
            "--prefix",
            str(root),
            "--version",
            VERSION,
            "--env",
            env,
            "--lock",
            str(lock),
            "--pkgs-dir",
            str(pkgs),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO_ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"homodyne-deploy install --env {env} failed ({proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc
