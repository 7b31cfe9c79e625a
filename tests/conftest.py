"""Shared fixtures: real HDF5 files written by the package's own simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from homodyne.config import template
from homodyne.data.simulate import REALISTIC_PARAMS

#: The laminar-flow truth used across the tests (a realistic APS 8-ID-I point, φ0 = 5°).
LAMINAR_TRUTH = {**REALISTIC_PARAMS, "phi0": 5.0}
STATIC_TRUTH = {"D0": 1324.1, "alpha": -0.3, "D_offset": 20.0}


@pytest.fixture(scope="session")
def laminar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from homodyne.data import write_simulated_file

    path = tmp_path_factory.mktemp("data") / "laminar.h5"
    return write_simulated_file(
        path,
        mode="laminar_flow",
        params=LAMINAR_TRUTH,
        n_frames=120,
        contrast=0.3,
        noise_sigma=0.003,
        seed=7,
    )


@pytest.fixture(scope="session")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from homodyne.data import write_simulated_file

    path = tmp_path_factory.mktemp("data") / "static.h5"
    return write_simulated_file(
        path,
        mode="static_anisotropic",
        params=STATIC_TRUTH,
        n_frames=100,
        contrast=0.25,
        noise_sigma=0.003,
        seed=3,
        layout="aps_old",
    )


def write_config(folder: Path, mode: str, data_file: Path | None, **sections: dict) -> Path:
    """A template config with some sections updated; returns its path."""
    cfg = template(mode, data_file=str(data_file) if data_file else None)
    for name, values in sections.items():
        if name == "parameters":
            for pname, pvals in values.items():
                cfg["parameters"][pname].update(pvals)
        else:
            cfg[name].update(values)
    cfg["output"]["directory"] = str(folder / "out")
    path = folder / f"{mode}.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
