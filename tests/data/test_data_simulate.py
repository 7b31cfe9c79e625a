"""The simulator: physics anchors, noise statistics, simulated files of both layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from homodyne.data import (
    DEFAULT_PHI,
    FRAME_TIME_KEY,
    default_params,
    filter_angles,
    load_dataset,
    simulate_dataset,
    write_simulated_file,
)
from homodyne.errors import ConfigError, DataError
from homodyne.model import MODES, c2_matrix

LAMINAR = default_params("laminar_flow")


def test_noise_free_data_are_the_model_with_diagonal_offset_plus_contrast() -> None:
    contrast, offset = [0.1, 0.2, 0.3], [1.0, 0.9, 1.1]
    ds = simulate_dataset(
        "laminar_flow",
        LAMINAR,
        phi=[-3.0, 5.0, 178.0],
        frames=(5, 40),
        dt=0.2,
        contrast=contrast,
        offset=offset,
    )
    assert ds.layout == "synthetic" and ds.sigma is None and ds.source is None
    assert ds.frames == (5, 40) and ds.n_frames == 36
    np.testing.assert_allclose(ds.t, np.arange(5, 41) * 0.2)
    for a in range(3):
        np.testing.assert_array_equal(np.diag(ds.c2[a]), np.full(36, offset[a] + contrast[a]))
        np.testing.assert_array_equal(ds.c2[a], ds.c2[a].T)
    theta = [LAMINAR[n] for n in MODES["laminar_flow"]]
    expected = c2_matrix(theta, ds.t, ds.phi, 0.0054, 2e6, contrast, offset, "laminar_flow")
    np.testing.assert_array_equal(ds.c2, expected)


def test_static_anchor_single_exponential() -> None:
    d0, q, dt = 800.0, 0.006, 0.05
    ds = simulate_dataset(
        "static_isotropic",
        {"D0": d0, "alpha": 0.0, "D_offset": 0.0},
        q=q,
        dt=dt,
        frames=(1, 30),
        contrast=0.25,
        offset=1.02,
    )
    lag = np.abs(ds.t[:, None] - ds.t[None, :])
    np.testing.assert_allclose(ds.c2[0], 1.02 + 0.25 * np.exp(-q * q * d0 * lag), rtol=1e-12)
    assert ds.phi.tolist() == list(DEFAULT_PHI["static_isotropic"])


def test_laminar_flow_perpendicular_to_the_flow_is_static() -> None:
    params = {**LAMINAR, "phi0": 4.0}
    flow = simulate_dataset("laminar_flow", params, phi=[94.0], frames=(1, 25))
    static = simulate_dataset(
        "static_isotropic",
        {k: params[k] for k in MODES["static_isotropic"]},
        phi=[94.0],
        frames=(1, 25),
    )
    np.testing.assert_allclose(flow.c2, static.c2, rtol=1e-12)


def test_noise_level_is_recovered_and_the_stack_stays_symmetric() -> None:
    sigma = 0.01
    clean = simulate_dataset("laminar_flow", LAMINAR, frames=(1, 60))
    noisy = simulate_dataset("laminar_flow", LAMINAR, frames=(1, 60), noise_sigma=sigma, seed=3)
    np.testing.assert_array_equal(noisy.sigma, np.full(len(DEFAULT_PHI["laminar_flow"]), sigma))
    residual = noisy.c2 - clean.c2
    np.testing.assert_array_equal(noisy.c2, np.swapaxes(noisy.c2, 1, 2))
    iu, ju = np.triu_indices(60, 1)
    off = residual[:, iu, ju].ravel()
    assert off.std() == pytest.approx(sigma, rel=0.05)
    assert abs(off.mean()) < 4 * sigma / np.sqrt(off.size)
    diag = np.diagonal(residual, axis1=1, axis2=2).ravel()
    assert diag.std() == pytest.approx(sigma, rel=0.25)  # the diagonal is noisy too
    # neighbouring elements carry independent draws
    i, j = np.triu_indices(59, 1)  # pairs (i, j) whose right neighbour (i, j + 1) exists
    r = np.corrcoef(residual[:, i, j].ravel(), residual[:, i, j + 1].ravel())[0, 1]
    assert abs(r) < 0.1


def test_per_angle_noise_levels() -> None:
    sigmas = [0.002, 0.02]
    clean = simulate_dataset(
        "static_anisotropic", default_params("static_anisotropic"), phi=[0.0, 90.0], frames=(1, 50)
    )
    noisy = simulate_dataset(
        "static_anisotropic",
        default_params("static_anisotropic"),
        phi=[0.0, 90.0],
        frames=(1, 50),
        noise_sigma=sigmas,
        seed=1,
    )
    iu, ju = np.triu_indices(50)
    for a, s in enumerate(sigmas):
        assert (noisy.c2[a] - clean.c2[a])[iu, ju].std() == pytest.approx(s, rel=0.1)


def test_seed_makes_noise_reproducible() -> None:
    a = simulate_dataset("laminar_flow", LAMINAR, frames=(1, 20), noise_sigma=0.01, seed=7)
    b = simulate_dataset("laminar_flow", LAMINAR, frames=(1, 20), noise_sigma=0.01, seed=7)
    c = simulate_dataset("laminar_flow", LAMINAR, frames=(1, 20), noise_sigma=0.01, seed=8)
    np.testing.assert_array_equal(a.c2, b.c2)
    assert not np.array_equal(a.c2, c.c2)


def test_default_laminar_angles_are_not_symmetric_about_phi0() -> None:
    phi = np.asarray(DEFAULT_PHI["laminar_flow"])
    assert phi.size == 8
    np.testing.assert_array_equal(filter_angles(phi, [(-10, 10), (170, 190)]), np.arange(8))
    mirrored = np.mod(-phi, 360.0)
    gaps = np.abs(np.mod(mirrored[:, None] - np.mod(phi, 360.0)[None, :] + 180, 360) - 180)
    assert gaps.min() > 0.5  # no angle has its mirror image -φ in the set


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "turbulent", "params": {}}, "unknown mode"),
        ({"mode": "laminar_flow", "params": default_params("static_isotropic")}, "missing"),
        ({"mode": "static_isotropic", "params": LAMINAR}, "unexpected"),
        (
            {"mode": "static_isotropic", "params": {"D0": np.nan, "alpha": 0, "D_offset": 0}},
            "finite",
        ),
        (
            {
                "mode": "static_isotropic",
                "params": default_params("static_isotropic"),
                "noise_sigma": -0.1,
            },
            "noise_sigma",
        ),
        (
            {
                "mode": "static_isotropic",
                "params": default_params("static_isotropic"),
                "contrast": [0.1, 0.2],
            },
            "contrast",
        ),
        (
            {
                "mode": "static_isotropic",
                "params": default_params("static_isotropic"),
                "frames": (0, 10),
            },
            "frames",
        ),
        (
            {"mode": "static_isotropic", "params": default_params("static_isotropic"), "q": -1.0},
            "q and dt",
        ),
    ],
)
def test_bad_simulation_inputs(kwargs: dict[str, object], fragment: str) -> None:
    mode, params = kwargs.pop("mode"), kwargs.pop("params")
    with pytest.raises(ConfigError, match=fragment):
        simulate_dataset(mode, params, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("layout", ["aps_u", "aps_old"])
def test_simulated_file_holds_the_physics_at_each_q(
    tmp_path: Path, layout: Literal["aps_u", "aps_old"]
) -> None:
    q_values = (0.0044, 0.0054, 0.0064)
    path = write_simulated_file(
        tmp_path / f"sim_{layout}.h5", layout=layout, q_values=q_values, n_frames=24, dt=0.1
    )
    assert path.exists()
    for q in q_values:
        ds = load_dataset(path, q=q)
        assert ds.layout == layout and ds.dt == 0.1
        expected = simulate_dataset("laminar_flow", LAMINAR, q=q, dt=0.1, frames=(1, 24))
        np.testing.assert_array_equal(ds.phi, expected.phi)
        np.testing.assert_allclose(ds.c2, expected.c2, rtol=1e-13, atol=0)
    # a window of the file is the physics at the window's own times (origin not moved)
    window = load_dataset(path, q=0.0054, frames=(6, 20))
    direct = simulate_dataset("laminar_flow", LAMINAR, q=0.0054, dt=0.1, frames=(6, 20))
    np.testing.assert_allclose(window.c2, direct.c2, rtol=1e-12, atol=0)


def test_simulated_file_options(tmp_path: Path) -> None:
    options = {
        "layout": "aps_old",
        "mode": "static_anisotropic",
        "q_values": [0.005],
        "phi": [0.0, 90.0],
        "n_frames": 16,
        "noise_sigma": 0.01,
        "seed": 2,
        "write_frame_time": False,
        "dtype": np.float32,
    }
    path = write_simulated_file(tmp_path / "sim.h5", **options)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=FRAME_TIME_KEY):
        load_dataset(path, q=0.005)
    ds = load_dataset(path, q=0.005, dt=0.05)
    assert ds.dt == 0.05 and ds.layout == "aps_old"
    same_seed = write_simulated_file(tmp_path / "sim2.h5", **options)  # type: ignore[arg-type]
    np.testing.assert_array_equal(ds.c2, load_dataset(same_seed, q=0.005, dt=0.05).c2)
    clean = simulate_dataset(
        "static_anisotropic",
        default_params("static_anisotropic"),
        phi=[0.0, 90.0],
        q=0.005,
        dt=0.1,
        frames=(1, 16),
    )
    assert 0.005 < float(np.std(ds.c2 - clean.c2)) < 0.02
    with pytest.raises(ConfigError, match="layout"):
        write_simulated_file(tmp_path / "x.h5", layout="nexus")  # type: ignore[arg-type]
