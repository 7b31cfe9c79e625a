"""conda-lock itself, as far as it goes offline: it parses every environment file, takes
the offline channel, and its virtual packages decide whether a CUDA environment solves.

conda-lock cannot lock anything here: its solver is a conda executable it downloads
(conda-standalone) and its PyPI name map comes from GitHub. So conda-lock's own parser and
virtual-package code run on the real files, with the project's PyPI->conda map as the
lookup file, and the solve is done by rattler with conda-lock's virtual packages. That
shows what `--with-cuda 12` changes: without it conda-lock offers `__cuda 11.4`, which
jaxlib's CUDA 12 builds (through cuda-version's constraint) refuse.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from tools.conda_offline import condalock, envs, exclusion
from tools.conda_offline.depmap import REPO_ROOT, DepMap

if os.environ.get("HOMODYNE_PACKAGING_STAGE") == "1":
    import conda_lock  # noqa: F401  - the packaging stage installs it: a failure, not a skip
else:
    pytest.importorskip("conda_lock", reason="conda-lock runs in the packaging stage")

from conda_lock.src_parser import make_lock_spec
from conda_lock.virtual_package import default_virtual_package_repodata


@pytest.fixture(scope="module")
def mapping(tmp_path_factory) -> str:
    """The project's PyPI -> conda map in conda-lock's lookup format (pip included)."""
    dm = DepMap.load()
    names = {**dm.names, "pip": "pip", **{n: n for n in dm.pypi_only}}
    path = tmp_path_factory.mktemp("map") / "pypi_to_conda.json"
    path.write_text(
        json.dumps(
            {k: {"conda_name": v, "conda_forge": v, "pypi_name": k} for k, v in names.items()}
        )
    )
    return path.as_uri()


def _cuda_of(cuda: str | None) -> str:
    """The __cuda version conda-lock's virtual packages carry (linux-64)."""
    repo = default_virtual_package_repodata(cuda or "default")
    return next(p.version for p in repo.packages_by_subdir if p.name == "__cuda")


def test_jobs_cover_every_environment_file_with_cuda_where_needed():
    by = {Path(j.env_file).name: j for j in condalock.jobs()}
    assert set(by) == {"cpu.yml", "gpu.yml", "jax.yml", "dev.yml", "docs.yml", "nutpie.yml"}
    assert by["gpu.yml"].cuda == "12" and by["gpu.yml"].platforms == ("linux-64", "linux-aarch64")
    assert all(j.cuda is None for n, j in by.items() if n != "gpu.yml")
    assert "win-64" not in by["jax.yml"].platforms  # no jaxlib for Windows on conda-forge
    assert "--with-cuda 12" in by["gpu.yml"].command()


@pytest.mark.parametrize("job", condalock.jobs(), ids=lambda j: Path(j.env_file).name)
def test_conda_lock_parses_each_environment_file(job, mapping, tmp_path):
    channel = exclusion.write_channel(tmp_path / "ch", []).as_uri()
    spec = make_lock_spec(
        src_files=[REPO_ROOT / job.env_file],
        channel_overrides=[channel],
        platform_overrides=list(job.platforms),
        mapping_url=mapping,
    )
    assert [c.url for c in spec.channels] == [channel]
    assert sorted(spec.dependencies) == sorted(job.platforms)
    names = {d.name for d in spec.dependencies[job.platforms[0]]}
    assert {"python", "numpy", "pip"} <= names
    assert not any(d.name == "homodyne-analysis" for d in spec.dependencies[job.platforms[0]])
    if job.cuda:
        jaxlib = next(d for d in spec.dependencies["linux-64"] if d.name == "jaxlib")
        assert jaxlib.build == f"cuda{job.cuda}*"


def test_with_cuda_is_what_makes_the_gpu_environment_solvable(tmp_path):
    rec = exclusion._record
    channel = exclusion.write_channel(
        tmp_path / "ch",
        [  # the shape of conda-forge's records: cuda-version pins __cuda, jaxlib needs it
            rec(
                "cuda-version",
                "12.9",
                "h0_3",
                constrains=["__cuda >=12", "cudatoolkit 12.9|12.9.*"],
            ),
            rec("jaxlib", "0.9.0", "cuda129_py313h0_200", ["__cuda", "cuda-version >=12.9,<13"]),
        ],
    ).as_uri()
    specs = ["jaxlib >=0.7 cuda12*", "cuda-version >=12,<13"]
    assert _cuda_of(None) == "11.4"  # conda-lock's default, whatever CONDA_OVERRIDE_CUDA says
    with pytest.raises(Exception, match="cuda"):
        envs.solve([channel], specs, cuda=_cuda_of(None))
    gpu = next(j for j in condalock.jobs() if j.env_file.endswith("gpu.yml"))
    solved = envs.solve([channel], specs, cuda=_cuda_of(gpu.cuda))
    assert {r.name.normalized for r in solved} >= {"jaxlib", "cuda-version"}


def test_docs_and_workflow_use_the_same_commands():
    docs = (REPO_ROOT / "docs" / "packaging.rst").read_text()
    workflow = (REPO_ROOT / ".github" / "workflows" / "lock.yml").read_text()
    assert "python -m tools.conda_offline.condalock --run" in workflow
    assert "conda-lock lock" not in workflow  # no second, hand-written copy of the commands
    for job in condalock.jobs():
        assert job.command() in " ".join(docs.split()), job.command()
    assert shlex.split(condalock.jobs()[0].command())[:2] == ["conda-lock", "lock"]
