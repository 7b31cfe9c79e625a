"""Lockfile helpers of homodyne-deploy and its command line, without deploying anything."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from homodyne.deploy import lockfile

from .conftest import REPO_ROOT, VERSION


def _rec(name: str, *depends: str):
    return SimpleNamespace(name=SimpleNamespace(normalized=name), depends=list(depends))


def test_mirrors_parse_per_channel_and_global(tmp_path):
    m = lockfile.parse_mirrors(
        [f"https://conda.anaconda.org/conda-forge/={tmp_path}", "https://mirror.example.org/cf/"]
    )
    assert m == {
        "https://conda.anaconda.org/conda-forge": tmp_path.resolve().as_uri(),
        "*": "https://mirror.example.org/cf",
    }
    with pytest.raises(lockfile.LockError):
        lockfile.parse_mirrors(["https://conda.anaconda.org/conda-forge="])


def test_unmet_virtual_packages_name_cuda():
    pytest.importorskip("rattler")
    records = [
        _rec("jaxlib", "__cuda >=12", "__glibc >=2.17", "python >=3.11"),
        _rec("numpy", "__glibc >=2.17"),
    ]
    assert lockfile.unmet_virtual(records, {"__glibc": "2.36", "__cuda": "12.4"}) == []
    unmet = lockfile.unmet_virtual(records, {"__glibc": "2.36"})
    assert len(unmet) == 1 and unmet[0].startswith("__cuda >=12") and "no __cuda" in unmet[0]
    unmet = lockfile.unmet_virtual(records, {"__glibc": "2.12", "__cuda": "11.8"})
    assert len(unmet) == 3


def test_cuda_override_is_honoured(monkeypatch):
    pytest.importorskip("rattler")
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.4")
    assert lockfile.detected_virtual_packages().get("__cuda") == "12.4"
    assert (
        lockfile.unmet_virtual(
            [_rec("jaxlib", "__cuda >=12")], lockfile.detected_virtual_packages()
        )
        == []
    )


def test_release_specs():
    assert lockfile.release_specs("cpu", "1.0.0") == ["homodyne-analysis-cpu ==1.0.0"]
    assert lockfile.release_specs("gpu", "1.0.0", "13") == ["homodyne-analysis-gpu ==1.0.0 cuda13*"]
    with pytest.raises(lockfile.LockError):
        lockfile.release_specs("tpu", "1.0.0")


def test_cuda_driver_version_is_not_a_build_string():
    """`--cuda 12.2` (a driver version) still selects the cuda12_* builds."""
    assert lockfile.cuda_major("12.2") == "12" and lockfile.cuda_major("13") == "13"
    assert lockfile.release_specs("gpu", "1.0.0", "12.2") == [
        "homodyne-analysis-gpu ==1.0.0 cuda12*"
    ]
    with pytest.raises(lockfile.LockError, match="CUDA major"):
        lockfile.cuda_major("twelve")


def test_lock_runs_outside_a_source_checkout_with_the_driver_version(tmp_path):
    """homodyne-deploy lock is self-contained (homodyne.deploy.solver): run from an empty
    folder, with the build's CUDA major and the driver's CUDA version given apart; the
    lock records the driver version as its __cuda."""
    pytest.importorskip("rattler")
    from rattler import LockFile

    from tools.conda_offline import exclusion

    rec = exclusion._record
    channel = exclusion.write_channel(
        tmp_path / "ch",
        [
            rec("homodyne-analysis", VERSION, "pyh0_0"),
            rec("cuda-version", "12.9", "h0_3", constrains=["__cuda >=12"]),
            rec(
                "homodyne-analysis-gpu",
                VERSION,
                "cuda12_h0_0",
                ["homodyne-analysis", "cuda-version >=12,<13"],
            ),
        ],
    )
    out = tmp_path / "site.lock"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _cli(
        "lock", "--env", "gpu", "--version", VERSION, "--channel", str(channel),
        "--output", str(out), "--cuda", "12", "--cuda-driver", "12.2", cwd=elsewhere,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lock = LockFile.from_path(str(out))
    platform = next(iter(lock.platforms()))
    assert "__cuda=12.2" in [str(v) for v in platform.virtual_packages]
    names = {r.name.normalized for r in lockfile.read(out, "gpu").records}
    assert {"homodyne-analysis-gpu", "cuda-version"} <= names
    # a driver too old for the build's CUDA major fails the solve with a clear message
    proc = _cli(
        "lock", "--env", "gpu", "--version", VERSION, "--channel", str(channel),
        "--output", str(tmp_path / "old.lock"), "--cuda-driver", "11.8", cwd=elsewhere,
    )  # fmt: skip
    assert proc.returncode == 1 and "cannot solve 'gpu'" in proc.stderr


def test_workspace_lock_with_pypi_packages_is_refused(tmp_path):
    """A pixi workspace lock (the project as an editable PyPI path) is not deployable."""
    pytest.importorskip("rattler")
    from tools.conda_offline import envs

    lock = tmp_path / "pixi.lock"
    envs.write_lock(
        lock,
        {"cpu": []},
        {"cpu": ["conda-forge"]},
        pypi={"cpu": [("homodyne-analysis", VERSION, ".")]},
    )
    with pytest.raises(lockfile.LockError, match="workspace lock"):
        lockfile.read(lock, "cpu")
    with pytest.raises(lockfile.LockError, match="no environment 'gpu'"):
        lockfile.read(lock, "gpu")
    with pytest.raises(lockfile.LockError, match="no lockfile"):
        lockfile.read(tmp_path / "absent.lock", "cpu")


def _cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "homodyne.deploy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_help_and_usage_errors(tmp_path):
    proc = _cli("--help")
    assert proc.returncode == 0 and "install" in proc.stdout and "lockfile" in proc.stdout
    proc = _cli("install", "--prefix", str(tmp_path), "--env", "tpu", "--lock", "x")
    assert proc.returncode == 2
    proc = _cli(
        "install", "--prefix", str(tmp_path), "--env", "cpu", "--lock", str(tmp_path / "none.lock")
    )
    # without py-rattler (a conda environment other than dev) the command stops before
    # reading the lock, with its own message; with it, on the missing lockfile
    expected = "no lockfile" if importlib.util.find_spec("rattler") else "needs py-rattler"
    assert proc.returncode == 1 and expected in proc.stderr
    assert not (tmp_path / "homodyne" / f"{VERSION}-cpu").exists()
    assert not (tmp_path / "modulefiles").exists()
