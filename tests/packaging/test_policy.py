"""The isolation policy (pixi-policy): an environment mixing PyTensor and JAX fails."""

from __future__ import annotations

import pytest

pytest.importorskip("rattler")

from tools.conda_offline import envs, exclusion, policy
from tools.conda_offline import manifest as mf

try:
    policy.pixi_policy_exe()
except FileNotFoundError:
    pytest.skip("pixi-policy is not installed (dev extra)", allow_module_level=True)


@pytest.mark.parametrize(
    "name", ["pixi-policy.toml", "policy/no-jax.toml", "policy/no-pytensor.toml"]
)
def test_policy_files_are_valid_pixi_policies(name):
    import subprocess

    proc = subprocess.run(
        [policy.pixi_policy_exe(), "show", "--policy", str(policy.REPO_ROOT / name)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_broken_policy_file_is_refused(tmp_path):
    import subprocess

    bad = tmp_path / "bad.toml"
    bad.write_text('[bans]\ndeny = [{ nam = "jax" }]\n')
    proc = subprocess.run(
        [policy.pixi_policy_exe(), "show", "--policy", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode != 0


def test_every_environment_is_under_one_policy():
    assert policy.coverage(mf.load()) == []


def test_coverage_gap_is_detected():
    m = mf.load()
    m["environments"]["extra"] = {"features": ["test"]}
    assert any("extra" in p for p in policy.coverage(m))


def test_mixed_solve_group_is_detected():
    m = mf.load()
    m["environments"]["gpu"]["solve-group"] = "cpu"
    assert any("solve group cpu mixes" in p for p in policy.coverage(m))


@pytest.fixture
def lock(tmp_path):
    """A pixi.lock (v7, written by rattler) with a clean cpu and gpu environment and two
    mixed ones, solved from a repodata-only channel."""
    rec = exclusion._record
    ch = exclusion.write_channel(
        tmp_path / "ch",
        [
            rec("python", "3.11.7", "0"),
            rec("numpy", "2.0", "0", ["python"]),
            rec("pytensor", "2.38", "0", ["numpy"]),
            rec("pymc", "5.28", "0", ["pytensor"]),
            rec("jaxlib", "0.10.2", "cuda12_0", ["numpy"]),
            rec("jax", "0.10.2", "0", ["jaxlib"]),
            rec("numpyro", "0.22", "0", ["jax"]),
        ],
    ).as_uri()

    def solve(*specs):
        return envs.solve([ch], list(specs))

    path = tmp_path / "pixi.lock"
    solved = {
        "cpu": solve("pymc"),
        "gpu": solve("numpyro"),
        "dev": solve("pymc", "jax"),
        "jax": solve("numpyro", "pytensor"),
    }
    envs.write_lock(path, solved, {e: [ch] for e in solved})
    return path


def test_mixed_environments_fail_the_policy(lock):
    findings = policy.check_lock(lock)
    got = sorted((f["environment"], f["package"]) for f in findings)
    assert got == [("dev", "jax"), ("dev", "jaxlib"), ("jax", "pytensor")]
    assert {f["rule"] for f in findings} == {"bans.deny"}


def test_clean_environments_pass(lock, tmp_path):
    clean = tmp_path / "clean.lock"
    policy._filtered_lock(lock, clean, ["cpu", "gpu"])
    assert policy.check_lock(clean) == []
