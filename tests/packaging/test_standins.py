"""The offline channel's conda-forge run metadata: compiler, pytensor, pymc, CUDA jaxlib."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from types import SimpleNamespace

import pytest

pytest.importorskip("rattler")
pytest.importorskip("rattler_build")

from tools.conda_offline import envs, standins


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler on this machine")
def test_compiler_standin_puts_unprefixed_gcc_and_gxx_into_bin(tmp_path):
    from rattler.index import index_fs

    channel = tmp_path / "ch"
    (channel / "noarch").mkdir(parents=True)
    (channel / "linux-64").mkdir()
    standins.compiler_standin(channel)
    asyncio.run(index_fs(channel, write_zst=False, write_shards=False))
    records = envs.solve([channel.as_uri()], ["gxx"])
    assert [r.name.normalized for r in records] == ["gxx"]
    prefix = tmp_path / "env"
    envs.install(records, prefix, cache_dir=tmp_path / "pkgs")
    for name in ("gcc", "g++", "cc", "c++"):
        assert (prefix / "bin" / name).is_file()
    src = tmp_path / "x.cpp"
    src.write_text("int main() { return 0; }\n")
    subprocess.run([prefix / "bin" / "g++", str(src), "-o", str(tmp_path / "x")], check=True)
    assert subprocess.run([tmp_path / "x"]).returncode == 0


def test_pytensor_needs_gxx_and_pymc_is_a_metapackage_over_pymc_base():
    wheels = {
        "pytensor": SimpleNamespace(version="3.3.8"),
        "pymc": SimpleNamespace(version="6.4.0"),
    }
    o = standins.overrides(wheels)
    assert o["pytensor"].extra_depends == ["gxx"]
    assert o["pymc"].name == "pymc-base"
    assert standins.metapackages(wheels) == [
        {"name": "pymc", "version": "6.4.0", "depends": ["pymc-base ==6.4.0"]}
    ]
    assert standins.overrides({}) == {} and standins.metapackages({}) == []


def test_cuda_jaxlib_depends_on_the_cuda_virtual_package():
    from tools.conda_offline import channel
    from tools.conda_offline.depmap import DepMap

    runtime = SimpleNamespace(version="12.9.79")
    wheels = {"nvidia-cuda-runtime-cu12": runtime}
    overrides, metas = channel.cuda_overrides(DepMap.load(), wheels, "12")
    assert "__cuda" in overrides["jaxlib"].extra_depends
    assert overrides["jaxlib"].build.startswith("cuda12_")
    assert metas == [{"name": "cuda-version", "version": "12.9", "constrains": ["__cuda >=12"]}]
