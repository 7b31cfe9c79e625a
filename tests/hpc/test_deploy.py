"""homodyne-deploy against real environments (opt-in: HOMODYNE_HPC_DEPLOY=1, see conftest).

Frozen install from the lock, the prefix layout and permissions, idempotence, repair,
refusal to overwrite another lock's deployment, mirrors, and that a failure leaves
neither a prefix nor a modulefile behind.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from homodyne.deploy import install, lockfile

from .conftest import VERSION, Material, Site, deploy_cli


def _hidden(parent: Path) -> list[str]:
    return sorted(
        p.name
        for p in parent.iterdir()
        if p.name.startswith(".") and not p.name.endswith(".deploy-lock")
    )


def test_cpu_deployment_matches_the_lock(site: Site):
    env_dir = site.root / "homodyne" / f"{VERSION}-cpu"
    meta = json.loads((env_dir / "homodyne-deploy" / "deploy.json").read_text())
    locked = lockfile.read(site.material.lock, "cpu")
    assert meta["packages"] == locked.keys()
    assert meta["lock"]["sha256"] == lockfile.file_sha256(site.material.lock)
    assert install.check_prefix(env_dir, locked) == []
    installed = sorted(p.name for p in (env_dir / "conda-meta").glob("*.json"))
    assert installed == sorted(
        f"{r.name.normalized}-{r.version}-{r.build}.json" for r in locked.records
    )
    names = {r.name.normalized for r in locked.records}
    assert {"homodyne-analysis", "homodyne-analysis-cpu", "pymc", "pytensor", "python"} <= names
    assert not names & {"jax", "jaxlib", "numpyro"}
    # the smoke test ran: version, backend check and the tiny fit
    assert meta["smoke"]["backend"]["is_cpu_mcmc_available"] is True
    assert meta["smoke"]["fit"]["converged"] is True
    assert 0.5 < meta["smoke"]["fit"]["reduced_chi2"] < 2.0
    # the entry points name the final prefix, not the temporary folder it was built in
    assert (env_dir / "bin" / "homodyne").read_text().startswith(f"#!{env_dir}/bin/python")
    assert meta["env_vars"] == {"CONDA_PREFIX": str(env_dir)}
    # readable by everyone, nothing half-made next to it
    assert stat.S_IMODE(env_dir.stat().st_mode) == 0o755
    for f in (
        site.lmod_dir / "homodyne" / f"{VERSION}-cpu.lua",
        site.tcl_dir / "homodyne" / f"{VERSION}-cpu",
    ):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
        assert locked.sha256 in f.read_text()
    assert _hidden(site.root / "homodyne") == []


def test_test_only_gpu_deployment_is_labelled(site_with_gpu: Site):
    site = site_with_gpu
    if os.environ.get("HOMODYNE_HPC_GPU_LOCK"):
        pytest.skip("the gpu module is the real one (HOMODYNE_HPC_GPU_LOCK)")
    env_dir = site.root / "homodyne" / f"{VERSION}-gpu"
    meta = json.loads((env_dir / "homodyne-deploy" / "deploy.json").read_text())
    assert meta["lock"]["env"] == "jax" and meta["note"].startswith("TEST ONLY")
    assert meta["smoke"]["backend"]["is_gpu_mcmc_available"] is True
    assert meta["smoke"]["backend"]["pytensor_installed"] is False
    for f in (
        site.lmod_dir / "homodyne" / f"{VERSION}-gpu.lua",
        site.tcl_dir / "homodyne" / f"{VERSION}-gpu",
    ):
        assert "TEST ONLY" in f.read_text()


def test_redeploy_is_a_verified_no_op(site: Site):
    env_dir = site.root / "homodyne" / f"{VERSION}-cpu"
    lua = site.lmod_dir / "homodyne" / f"{VERSION}-cpu.lua"
    before = (
        env_dir.stat().st_ino,
        (env_dir / "conda-meta").stat().st_mtime_ns,
        lua.stat().st_mtime_ns,
    )
    proc = deploy_cli(site.root, "cpu", site.material.lock, site.material.pkgs, "--json")
    assert json.loads(proc.stdout)["status"] == "unchanged"
    assert (
        env_dir.stat().st_ino,
        (env_dir / "conda-meta").stat().st_mtime_ns,
        lua.stat().st_mtime_ns,
    ) == before


def test_damaged_deployment_is_repaired(material: Material, tmp_path: Path):
    deploy_cli(tmp_path, "cpu", material.lock, material.pkgs, "--no-fit")
    env_dir = tmp_path / "homodyne" / f"{VERSION}-cpu"
    (env_dir / "bin" / "homodyne-config").unlink()
    problems = install.check_prefix(env_dir, lockfile.read(material.lock, "cpu"))
    assert len(problems) == 1 and "bin/homodyne-config" in problems[0]
    proc = deploy_cli(tmp_path, "cpu", material.lock, material.pkgs, "--no-fit", "--json")
    assert json.loads(proc.stdout)["status"] == "repaired"
    assert (env_dir / "bin" / "homodyne-config").is_file()
    assert install.check_prefix(env_dir, lockfile.read(material.lock, "cpu")) == []
    assert _hidden(tmp_path / "homodyne") == []


def test_another_lock_for_a_deployed_version_is_refused(site: Site, tmp_path: Path):
    """Same version, different packages: refused without --force, the deployment untouched."""
    other = lockfile.write_release_lock(
        tmp_path / "other.lock",
        VERSION,
        [str(site.material.outputs), str(site.material.channel)],
        {"cpu": [*lockfile.release_specs("cpu", VERSION), "tqdm"]},
    )
    env_dir = site.root / "homodyne" / f"{VERSION}-cpu"
    ino = env_dir.stat().st_ino
    proc = deploy_cli(site.root, "cpu", other, site.material.pkgs, check=False)
    assert proc.returncode == 1
    assert "deployed from another lock" in proc.stderr and "--force" in proc.stderr
    assert env_dir.stat().st_ino == ino


def test_failed_smoke_test_leaves_nothing(material: Material, tmp_path: Path):
    """The core package alone is not a cpu environment: is_cpu_mcmc_available() is False."""
    proc = deploy_cli(
        tmp_path, "cpu", material.test_lock, material.pkgs, "--lock-env", "core", check=False
    )
    assert proc.returncode == 1
    assert "is_cpu_mcmc_available" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "homodyne").iterdir()) == [
        f".{VERSION}-cpu.deploy-lock"
    ]
    assert not (tmp_path / "modulefiles").exists()


def test_mirror_replaces_the_locked_channel(material: Material, tmp_path: Path):
    """A lock whose channel is gone installs from a mirror given on the command line (and a
    wrong mirror fails cleanly). A fresh package cache makes rattler really fetch."""
    gone = tmp_path / "channel-at-lock-time"
    shutil.copytree(material.channel, gone, copy_function=os.link)
    lock = lockfile.write_release_lock(
        tmp_path / "mirror.lock",
        VERSION,
        [str(material.outputs), str(gone)],
        {"cpu": lockfile.release_specs("cpu", VERSION)},
    )
    mirror = tmp_path / "site-mirror"
    gone.rename(mirror)
    root = tmp_path / "root"
    proc = deploy_cli(
        root,
        "cpu",
        lock,
        tmp_path / "pkgs-a",
        "--no-fit",
        "--mirror",
        f"{gone}={tmp_path / 'nowhere'}",
        check=False,
    )
    assert proc.returncode == 1 and "could not install" in proc.stderr
    assert sorted(p.name for p in (root / "homodyne").iterdir()) == [f".{VERSION}-cpu.deploy-lock"]
    assert not (root / "modulefiles").exists()
    # a mirror with other bytes under a locked file name is refused (sha256 of the lock)
    bad = tmp_path / "bad-mirror"
    shutil.copytree(mirror, bad, copy_function=os.link)
    victim = next(bad.glob("noarch/cycler-*.conda"))
    victim.unlink()
    shutil.copy(next(bad.glob("noarch/tzdata-*.conda")), victim)
    proc = deploy_cli(
        root, "cpu", lock, tmp_path / "pkgs-c", "--no-fit", "--mirror", f"{gone}={bad}", check=False
    )
    assert (
        proc.returncode == 1
        and "differ from the lock" in proc.stderr
        and victim.name in proc.stderr
    )
    assert not (root / "homodyne" / f"{VERSION}-cpu").exists()
    proc = deploy_cli(
        root, "cpu", lock, tmp_path / "pkgs-b", "--no-fit", "--mirror", f"{gone}={mirror}", "--json"
    )
    assert json.loads(proc.stdout)["status"] == "installed"
    meta = install.read_meta(root / "homodyne" / f"{VERSION}-cpu")
    assert meta is not None and meta["mirrors"] == [f"{gone}={mirror}"]


def test_verify_command(site: Site):
    smoke = install.verify(site.root, VERSION, "cpu", fit=False)
    assert smoke["backend"]["is_cpu_mcmc_available"] is True
    with pytest.raises(install.DeployError, match="no deployment"):
        install.verify(site.root, "9.9.9", "cpu")
