"""Right by default: the template's angle selection, the data-derived bounds and starts,
the truth of simulated data, and generic NumPy input, each through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from homodyne.cli.config_cli import main as config_main
from homodyne.cli.subcommands import DEMO_TRUTH
from homodyne.config import config_from_dict, load_config, template
from homodyne.data import load_dataset, simulate_dataset, write_simulated_file
from homodyne.data.angle_selection import distinct_directions
from homodyne.data.auto_defaults import AUTO_PARAMETERS, data_scales
from homodyne.errors import ConfigError, DataError
from homodyne.problem import Problem
from homodyne.run_homodyne import main

#: An 8-angle laminar data set with the angles spread over 0-157.5° (a detector ring).
RING_PHI = [22.5 * k for k in range(8)]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_recovered(parameters: dict, truth: dict, nsigma: float = 3.0) -> None:
    for name, row in parameters.items():
        if row.get("fixed"):
            continue
        z = (row["value"] - truth[name]) / row["stderr"]
        assert abs(z) < nsigma, (
            f"{name}: {row['value']:.6g} ± {row['stderr']:.3g}, truth {truth[name]}"
        )


@pytest.fixture(scope="module")
def ring_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ring") / "ring.h5"
    return write_simulated_file(
        path,
        mode="laminar_flow",
        params=DEMO_TRUTH,
        phi=RING_PHI,
        n_frames=120,
        contrast=0.3,
        noise_sigma=0.003,
        seed=11,
    )


# --------------------------------------------------------------------------- the README path
def test_readme_path_recovers_every_parameter(
    tmp_path: Path, ring_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """homodyne-config --mode laminar_flow -o my.json, then homodyne --config my.json --data."""
    cfg = tmp_path / "my_config.json"
    assert config_main(["--mode", "laminar_flow", "-o", str(cfg)]) == 0
    doc = json.loads(cfg.read_text())
    assert doc["angle_filter"]["enabled"] is False
    assert all(doc["parameters"][n]["min"] == "auto" for n in AUTO_PARAMETERS)
    capsys.readouterr()
    code, out, err = _run(
        ["--config", str(cfg), "--data", str(ring_file), "--output-dir", str(tmp_path / "o"),
         "--run-name", "r", "--no-plots"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "angles: 8 of 8 used (0, 22.5, 45, 67.5, 90, 112.5, 135, 157.5 deg)" in out
    res = json.loads((tmp_path / "o" / "r" / "results.json").read_text())
    sel = res["input"]["angle_selection"]
    assert sel["used"] == RING_PHI and sel["available"] == RING_PHI and sel["excluded"] == []
    assert res["truth"] == pytest.approx(DEMO_TRUTH)  # read back from the file's attributes
    _assert_recovered(res["parameters"], DEMO_TRUTH)
    chosen = res["input"]["defaults_from_data"]["parameters"]
    assert set(chosen) == set(AUTO_PARAMETERS)
    for name in AUTO_PARAMETERS:  # the truth lies well inside the data-derived bounds
        lo, hi = chosen[name]["min"], chosen[name]["max"]
        assert lo < DEMO_TRUTH[name] < hi
        assert res["parameters"][name]["value"] not in (lo, hi)
    assert res["config"]["parameters"]["D0"]["min"] == "auto"  # the snapshot keeps "auto"
    assert "angles: 8 of 8 used" in (tmp_path / "o" / "r" / "report.txt").read_text()


def test_explicit_angle_filter_records_why_angles_were_left_out(ring_file: Path) -> None:
    raw = template("laminar_flow")
    raw["angle_filter"].update(enabled=True, ranges=[[-10.0, 50.0]])
    problem = Problem.from_config(config_from_dict(raw), load_dataset(ring_file, q=0.0054))
    sel = problem.angle_selection
    assert sel["used"] == [0.0, 22.5, 45.0]
    assert [e["phi"] for e in sel["excluded"]] == RING_PHI[3:]
    assert all("outside angle_filter.ranges [-10, 50]" in e["reason"] for e in sel["excluded"])


def test_one_flow_direction_is_refused_or_phi0_fixed_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the old template's filter ([-10, 10], [170, 190]) on angles -10 ... 147.5: one angle
    data = write_simulated_file(
        tmp_path / "d.h5", mode="laminar_flow", params=DEMO_TRUTH,
        phi=[-10.0 + 22.5 * k for k in range(8)], n_frames=40, noise_sigma=0.003, seed=2,
    )  # fmt: skip
    raw = template("laminar_flow", data_file=str(data))
    raw["angle_filter"]["enabled"] = True
    raw["output"].update(directory=str(tmp_path / "o"), run_name="r")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(raw))
    code, out, err = _run(["--config", str(cfg), "--no-plots"], capsys)
    assert code == 2 and out == ""  # a configuration error
    lines = [ln for ln in err.splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1
    assert "one direction modulo 180°" in lines[0] and "phi0_when_undetermined" in lines[0]
    assert not (tmp_path / "o" / "r").exists()

    raw["angle_filter"]["phi0_when_undetermined"] = "fix"
    cfg.write_text(json.dumps(raw))
    code, out, err = _run(["--config", str(cfg), "--no-plots"], capsys)
    assert code in (0, 3), err  # the verdict may still be "not good" on one angle
    assert "phi0 fixed at 0 deg" in out and "phi0 is fixed" in err
    res = json.loads((tmp_path / "o" / "r" / "results.json").read_text())
    assert res["parameters"]["phi0"]["fixed"] is True
    assert res["input"]["angle_selection"]["used"] == [-10.0]
    assert len(res["input"]["angle_selection"]["excluded"]) == 7


@pytest.mark.parametrize(
    ("phi", "n"),
    [([0.0], 1), ([0.0, 180.0], 1), ([-10.0, 170.0, 350.0], 1), ([359.8, 0.1], 1),
     ([0.0, 90.0], 2), ([0.0, 180.0, 45.0], 2), (RING_PHI, 8)],
)  # fmt: skip
def test_distinct_flow_directions(phi: list[float], n: int) -> None:
    assert distinct_directions(np.array(phi)) == n


def test_fixed_phi0_needs_no_second_direction() -> None:
    ds = simulate_dataset("laminar_flow", DEMO_TRUTH, phi=[0.0, 180.0], frames=(1, 30))
    raw = template("laminar_flow")
    with pytest.raises(ConfigError, match="one direction modulo 180"):
        Problem.from_config(config_from_dict(raw), ds)
    raw["parameters"]["phi0"].update(value=5.0, fixed=True)
    assert Problem.from_config(config_from_dict(raw), ds).n_angles == 2


# --------------------------------------------------------------------------- bounds from the data
def test_data_scales_follow_the_decay() -> None:
    q, J = 0.0054, 2000.0  # constant J: g1² = exp(-q² J Δt), 1/e at 1/(q² J) = 17 s
    for dt, frames in ((0.1, (1, 400)), (1.0, (1, 100))):
        ds = simulate_dataset(
            "static_isotropic", {"D0": J, "alpha": 0.0, "D_offset": 0.0}, q=q, dt=dt,
            frames=frames,
        )  # fmt: skip
        s = data_scales(ds.c2, ds.t, q, 2e6)
        assert s["J_scale"] == pytest.approx(J, rel=0.03), (dt, s)


def test_default_bounds_do_not_bind_on_a_large_offset(tmp_path: Path) -> None:
    """D_offset = 800 Å²/s lies far outside the former absolute bounds (±100)."""
    truth = {"D0": 4000.0, "alpha": -0.7, "D_offset": 800.0}
    path = write_simulated_file(
        tmp_path / "s.h5", mode="static_anisotropic", params=truth, phi=[0.0, 60.0, 120.0],
        n_frames=150, contrast=0.25, noise_sigma=0.003, seed=4,
    )  # fmt: skip
    from homodyne.analysis import fit_classical

    config = config_from_dict(template("static_anisotropic"))
    problem = Problem.from_config(config, load_dataset(path, q=0.0054))
    res = fit_classical(config, problem)
    assert res.success and not res.at_bounds
    for name, p in res.parameters.items():
        assert abs(p.value - truth[name]) < 3 * p.stderr, (name, p.value, p.stderr)


def test_auto_is_only_for_dimensional_parameters_and_bounds_are_checked() -> None:
    raw = template("static_isotropic")
    raw["parameters"]["alpha"]["min"] = "auto"
    with pytest.raises(ConfigError, match=r"parameters.alpha.min: 'auto' .* available for D0"):
        config_from_dict(raw)
    raw = template("static_isotropic")
    raw["parameters"]["D0"]["value"] = 5.0  # below the given min; max stays "auto"
    raw["parameters"]["D0"]["min"] = 10.0
    ds = simulate_dataset(
        "static_isotropic", {"D0": 1000.0, "alpha": 0.0, "D_offset": 0.0}, noise_sigma=0.003
    )
    with pytest.raises(
        ConfigError, match=r"parameters\.D0\.value: initial value 5\.0 is below min"
    ):
        config_from_dict(raw)
    raw["parameters"]["D0"].update(value=20.0, min="auto", max=15.0)
    with pytest.raises(ConfigError, match=r"initial value 20\.0 is above max \(15\.0\)"):
        config_from_dict(raw)
    raw["parameters"]["D0"].update(value=1e7, min=10.0, max="auto")  # outside the data's range
    with pytest.raises(
        ConfigError, match=r"D0\.value 1e\+07 is outside the bounds \[10, .*\] set from"
    ):
        Problem.from_config(config_from_dict(raw), ds)
    raw["parameters"]["D0"]["value"] = "auto"
    p = Problem.from_config(config_from_dict(raw), ds).parameters["D0"]
    assert p.min == 10.0 and p.min <= p.value <= p.max


# --------------------------------------------------------------------------- truth
def test_truth_is_stored_in_the_file_and_survives_the_cache(tmp_path: Path) -> None:
    ds = simulate_dataset("static_isotropic", {"D0": 10.0, "alpha": 0.5, "D_offset": 1.0})
    assert ds.truth == {"D0": 10.0, "alpha": 0.5, "D_offset": 1.0}
    for layout in ("aps_u", "aps_old"):
        path = write_simulated_file(
            tmp_path / f"{layout}.h5", layout=layout, mode="static_isotropic",
            params={"D0": 10.0, "alpha": 0.5, "D_offset": 1.0}, phi=[0.0], n_frames=10,
        )  # fmt: skip
        first = load_dataset(path, q=0.0054, cache_dir=tmp_path / "cache")
        cached = load_dataset(path, q=0.0054, cache_dir=tmp_path / "cache")
        assert first.truth == cached.truth == {"D0": 10.0, "alpha": 0.5, "D_offset": 1.0}


def test_measured_data_have_no_truth(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(
        path,
        c2=simulate_dataset("static_isotropic", {"D0": 1e3, "alpha": 0, "D_offset": 0}).c2,
        dt=0.1,
    )
    assert load_dataset(path, q=0.0054).truth is None


# --------------------------------------------------------------------------- NumPy input
def _stack(n: int = 60, phi=(0.0, 60.0, 120.0)) -> np.ndarray:
    truth = {"D0": 3000.0, "alpha": -0.5, "D_offset": 300.0}
    return simulate_dataset(
        "static_anisotropic", truth, phi=list(phi), frames=(1, n), contrast=0.25,
        noise_sigma=0.003, seed=5,
    ).c2.copy()  # fmt: skip


def test_npz_and_npy_input(tmp_path: Path) -> None:
    c2 = _stack()
    np.savez(tmp_path / "a.npz", c2=c2, phi=[0.0, 60.0, 120.0], q=0.0054, dt=0.1)
    ds = load_dataset(tmp_path / "a.npz", q=0.0055)  # within the relative tolerance
    assert (ds.layout, ds.q, ds.dt, ds.frames, ds.phi.tolist()) == (
        "numpy", 0.0054, 0.1, (1, 60), [0.0, 60.0, 120.0])  # fmt: skip
    np.testing.assert_array_equal(ds.c2, c2)
    sub = load_dataset(tmp_path / "a.npz", q=0.0054, phi=[120.0, 0.2], frames=(5, 40))
    assert sub.phi.tolist() == [120.0, 0.0] and sub.frames == (5, 40)
    np.testing.assert_array_equal(sub.c2[0], c2[2, 4:40, 4:40])
    np.save(tmp_path / "b.npy", c2[0].astype(np.float32))
    one = load_dataset(tmp_path / "b.npy", q=0.006, dt=0.5)
    assert (one.q, one.dt, one.phi.tolist(), one.n_frames) == (0.006, 0.5, [0.0], 60)
    np.save(tmp_path / "c.npy", c2)
    three = load_dataset(tmp_path / "c.npy", q=0.006, dt=0.5, phi=[10.0, 20.0, 30.0])
    assert three.phi.tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("save", "kwargs", "fragment"),
    [
        ({"c2": "stack", "q": 0.01, "dt": 0.1, "phi": [0.0, 1.0, 2.0]}, {"q": 0.0054}, "holds q = 0.01"),
        ({"c2": "stack", "phi": [0.0, 1.0, 2.0]}, {"q": 0.0054}, "no frame time"),
        ({"c2": "stack", "dt": 0.1}, {"q": 0.0054}, "no angles"),
        ({"c2": "stack", "dt": 0.1}, {"q": 0.0054, "phi": [0.0]}, "lists 1 angles"),
        ({"c2": "stack", "dt": 0.1, "phi": [0.0, 60.0, 120.0]}, {"q": 0.0054, "phi": [30.0]}, "no angle within"),
        ({"matrix": "stack"}, {"q": 0.0054}, "no array 'c2'"),
        ({"c2": "flat", "dt": 0.1}, {"q": 0.0054}, "one n x n matrix or a stack"),
        ({"c2": "stack", "dt": 0.1, "phi": [0.0, 60.0, 120.0]}, {"q": 0.0054, "frames": (50, 80)}, "frames (50, 80) out of range"),
        ({"c2": "asym", "dt": 0.1}, {"q": 0.0054}, "not symmetric"),
    ],
)  # fmt: skip
def test_bad_numpy_input_names_the_problem(
    tmp_path: Path, save: dict, kwargs: dict, fragment: str
) -> None:
    c2 = _stack()
    arrays = {"stack": c2, "flat": c2.reshape(3, -1), "asym": c2[0] + np.triu(np.ones((60, 60)), 1)}
    payload = {k: (arrays[v] if isinstance(v, str) else v) for k, v in save.items()}
    np.savez(tmp_path / "x.npz", **payload)
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "x.npz", **kwargs)
    assert fragment in str(err.value) and "x.npz" in str(err.value)
    assert "\n" not in str(err.value)


def test_nan_masked_by_default_and_refused_when_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c2 = _stack()
    c2[:, np.arange(60), np.arange(60)] = np.nan  # the whole diagonal: never used
    c2[1, 3, 17] = c2[1, 17, 3] = np.nan
    c2[2, 5, 6] = c2[2, 6, 5] = np.inf
    np.savez(tmp_path / "n.npz", c2=c2, phi=[0.0, 60.0, 120.0], q=0.0054, dt=0.1)
    raw = template("static_anisotropic", data_file=str(tmp_path / "n.npz"))
    raw["output"].update(directory=str(tmp_path / "o"), run_name="r")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(raw))
    code, out, err = _run(["--config", str(cfg), "--no-plots"], capsys)
    assert code in (0, 3), err
    assert "masked: 2 NaN/inf values off the diagonal; 2 pairs (i, j) left out" in out
    res = json.loads((tmp_path / "o" / "r" / "results.json").read_text())
    m = res["input"]["masked"]
    assert (m["nonfinite_values"], m["pairs_left_out"]) == (2, 2)
    assert res["input"]["n_pairs_per_angle"] == 60 * 59 // 2 - 2
    assert res["input"]["layout"] == "numpy"

    raw["data"]["nonfinite"] = "error"
    cfg.write_text(json.dumps(raw))
    code, out, err = _run(["--config", str(cfg), "--no-plots", "--overwrite"], capsys)
    assert code == 1
    assert "non-finite values off the diagonal at 2 angle(s)" in err


def test_load_config_accepts_numpy_layout(tmp_path: Path) -> None:
    raw = template("static_isotropic", data_file="x.npy")
    raw["data"]["layout"] = "numpy"
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert load_config(tmp_path / "c.json").data["layout"] == "numpy"


def test_data_scales_ignore_masked_values_and_need_a_decay() -> None:
    ds = simulate_dataset(
        "static_anisotropic", {"D0": 2000.0, "alpha": 0.0, "D_offset": 0.0}, phi=[0.0, 90.0],
        frames=(1, 200),
    )  # fmt: skip
    clean = data_scales(ds.c2, ds.t, 0.0054, 2e6)
    c2 = ds.c2.copy()
    c2[1, 0, 1] = c2[1, 1, 0] = np.inf
    c2[0, 3, 50] = c2[0, 50, 3] = np.nan
    assert data_scales(c2, ds.t, 0.0054, 2e6)["J_scale"] == pytest.approx(
        clean["J_scale"], rel=1e-3
    )
    with pytest.raises(DataError, match="no angle shows a positive contrast"):
        data_scales(np.ones_like(c2), ds.t, 0.0054, 2e6)


def test_demo_recovers_every_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``homodyne demo`` as shipped (8 angles x 200 frames): every free parameter within 3σ
    of the truth stored in the file, none at a bound."""
    code, out, err = _run(["demo", "--output-dir", str(tmp_path / "demo")], capsys)
    assert code == 0, err
    res = json.loads((tmp_path / "demo" / "results" / "demo" / "results.json").read_text())
    assert res["truth"] == pytest.approx(DEMO_TRUTH)
    assert res["input"]["angle_selection"]["used"] == RING_PHI
    _assert_recovered(res["parameters"], DEMO_TRUTH)
    assert not any(row.get("at_bound") for row in res["parameters"].values())
    assert "angles: 8 of 8 used" in out and "recovery (truth vs fit)" in out
