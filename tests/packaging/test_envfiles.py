"""environments/*.yml are generated from pixi.toml and every spec parses."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("rattler")
pytest.importorskip("yaml")

from tools.conda_offline import envfiles
from tools.conda_offline import manifest as mf


def test_env_files_in_step_with_pixi():
    assert envfiles.check() == []


def test_required_env_files_exist():
    assert {"cpu.yml", "gpu.yml", "dev.yml"} <= {p.name for p in envfiles.ENV_DIR.glob("*.yml")}


def test_gpu_file_is_cuda_and_has_no_pytensor():
    data = envfiles.parse(envfiles.ENV_DIR / "gpu.yml")
    names = {d.split()[0] for d in data["dependencies"] if isinstance(d, str)}
    assert "cuda-version" in names and "jaxlib >=0.7 cuda12*" in data["dependencies"]
    assert not names & {"pytensor", "pymc"}


def test_hand_edit_is_detected(tmp_path):
    shutil.copytree(envfiles.ENV_DIR, tmp_path / "environments")
    path = tmp_path / "environments" / "cpu.yml"
    path.write_text(path.read_text().replace("  - pymc >=6.4,<7\n", "  - pymc >=6.4,<7\n  - jax\n"))
    problems = envfiles.check(tmp_path / "environments")
    assert problems == ["environments/cpu.yml is out of step with pixi.toml"]


def test_pixi_change_is_detected():
    m = mf.load()
    m["feature"]["mcmc-cpu"]["dependencies"]["nutpie"] = ">=0.16"
    assert "environments/cpu.yml is out of step with pixi.toml" in envfiles.check(manifest=m)


def test_malformed_spec_is_refused(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("name: x\nchannels: [conda-forge]\ndependencies:\n  - numpy >=>1\n  - scipy\n")
    problems = envfiles.validate(path)
    assert len(problems) == 1 and "numpy" in problems[0]


def test_no_relative_editable_install_in_env_files():
    """`-e ..` resolves from the file's folder with conda/mamba but from the current one with
    micromamba: the files install no path; the docs give one command for all three tools."""
    for path in envfiles.ENV_DIR.glob("*.yml"):
        data = envfiles.parse(path)
        pip = [d for d in data["dependencies"] if isinstance(d, dict)]
        for entry in (e for d in pip for e in d.get("pip", [])):
            assert not entry.startswith(("-e", ".", "/")), (path.name, entry)
        assert "pip install --no-deps -e ." in path.read_text()
