"""Fixtures of the batch tests: small real data files with metadata, a base config, manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import pytest

from homodyne.config import template

#: Static truth of the batch files (fits in well under a second per task on 40 frames).
TRUTH = {"D0": 800.0, "alpha": -0.3, "D_offset": 0.0}
Q_VALUES = (0.012, 0.02)


def make_files(folder: Path, n: int, frames: int = 40, seed0: int = 0) -> list[Path]:
    from homodyne.data import write_simulated_file

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"sample{i}_T{290 + 10 * i}.h5"
        write_simulated_file(
            path,
            mode="static_isotropic",
            params=TRUTH,
            q_values=Q_VALUES,
            n_frames=frames,
            contrast=0.3,
            noise_sigma=0.004,
            seed=seed0 + i,
        )
        with h5py.File(path, "a") as h5:
            h5.attrs["temperature"] = 290.0 + 10 * i
            h5.attrs["sample_name"] = f"sample{i}"
            h5.attrs["beamline"] = "8-ID-I"
        out.append(path)
    return out


def write_base_config(folder: Path, **sections: dict) -> Path:
    cfg = template("static_isotropic")
    cfg["classical"]["multistart"] = 0
    cfg["parameters"]["D_offset"].update({"value": 0.0, "fixed": True})
    cfg["output"]["plots"] = False
    for name, values in sections.items():
        cfg[name].update(values)
    path = folder / "base.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def write_manifest(folder: Path, text: str) -> Path:
    path = folder / "batch.toml"
    path.write_text(text)
    return path


@pytest.fixture
def batch_dir(tmp_path: Path) -> Path:
    make_files(tmp_path / "data", 3)
    write_base_config(tmp_path)
    write_manifest(
        tmp_path,
        'config = "base.json"\nfiles = ["data/*.h5"]\nq = "all"\noutput = "out"\n'
        'metadata_column = "temperature"\n',
    )
    return tmp_path


@pytest.fixture(scope="module")
def local_client():
    """A real two-worker LocalCluster shared by the tests of a module."""
    from homodyne.batch.engine import EngineOptions, open_client

    with open_client(EngineOptions(workers=2, dashboard=False)) as client:
        yield client


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["HOMODYNE_GPU_INTENT"] = "false"
    return env
