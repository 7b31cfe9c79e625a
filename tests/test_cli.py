"""The command line: runs, results on disk, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from homodyne.cli.config_cli import main as config_main
from homodyne.run_homodyne import main

from .conftest import write_config


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_and_version_are_fast_and_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); from homodyne.run_homodyne import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'h5py', 'matplotlib', 'pymc', 'jax') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
    res = subprocess.run(
        [sys.executable, "-m", "homodyne.run_homodyne", "--version"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "homodyne" in res.stdout


def test_classical_run_writes_complete_results(
    tmp_path: Path, laminar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, "laminar_flow", laminar_file, output={"run_name": "r1"})
    code, _out, err = run(["--config", str(cfg), "-q"], capsys)
    folder = tmp_path / "out" / "r1"
    doc = json.loads((folder / "results.json").read_text())
    # this parameter point is not identifiable (D0 and D_offset trade off): the results are
    # written and the exit status is 3, with the verdict's reason on stderr
    levels = {f["level"] for f in doc["classical"]["verdict"]["findings"]}
    assert code == 3 and doc["verdict"]["exit_status"] == 3 and "degenerate" in levels, err
    assert "verdict is not good" in err and "degenerate" in err
    named = " ".join(f["reason"] for f in doc["classical"]["verdict"]["findings"])
    assert "D_offset" in named or "D0" in named
    assert set(doc["parameters"]) == {
        "D0",
        "alpha",
        "D_offset",
        "gamma_dot_t0",
        "beta",
        "gamma_dot_t_offset",
        "phi0",
    }
    assert set(doc["parameters"]["D0"]) >= {"value", "stderr", "unit", "fixed"}
    assert doc["parameters"]["D0"]["unit"] == "Å²/s"
    assert 0.9 < doc["chi2"]["reduced_chi2"] < 1.1
    assert len(doc["scaling"]["contrast"]) == len(doc["input"]["phi_used"]) == 8
    assert doc["input"]["sha256"] and len(doc["input"]["sha256"]) == 64
    assert doc["config"]["analysis_mode"] == "laminar_flow"
    assert "numpy" in doc["environment"]["packages"]
    with np.load(folder / "fit.npz", allow_pickle=False) as npz:
        assert npz["c2_fitted"].shape == (8, 120, 120)
        assert npz["residuals"].shape == (8, 120, 120)
        assert np.nanstd(npz["residuals"]) == pytest.approx(0.003, rel=0.1)
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert "c2_lag_cuts.png" in pngs and "g2_one_time.png" in pngs
    assert sum(p.startswith("c2_heatmaps_phi_") for p in pngs) == 8
    assert not list((tmp_path / "out").glob(".*partial"))
    # an existing run folder is never overwritten silently
    code, _, err = run(["--config", str(cfg), "-q"], capsys)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(
        ["--config", str(cfg), "-q", "--overwrite", "--no-plots", "--static-anisotropic"], capsys
    )
    doc2 = json.loads((folder / "results.json").read_text())
    # a static model cannot describe flow data: written, but exit 3 with a wrong-noise verdict
    assert code == 3 and doc2["verdict"]["level"] == "wrong-noise", err
    assert doc2["analysis_mode"] == "static_anisotropic" and not list(folder.glob("*.png"))


def test_data_option_and_plot_only(
    tmp_path: Path, static_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, "static_anisotropic", None, output={"run_name": "p"})
    code, _out, err = run(
        [
            "--config",
            str(cfg),
            "--data",
            str(static_file),
            "--plot-experimental-data",
            "--plot-simulated-data",
        ],
        capsys,
    )
    assert code == 0, err
    names = {p.name for p in (tmp_path / "out" / "p_plots").iterdir()}
    assert any(n.startswith("c2_experimental_phi_") for n in names)
    assert any(n.startswith("c2_simulated_phi_") for n in names)


def _broken_copy(src: Path, dst: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as h5:
        edit(h5)
    return dst


def _nan_every_bin(h5: h5py.File) -> None:
    grp = h5["xpcs/twotime/correlation_map"]
    for name in grp:
        data = grp[name][...]
        data[3, 7] = np.nan
        grp[name][...] = data


#: Configuration errors exit 2 (usage or configuration), data errors 1.
_CONFIG_CASES = {"bad_bounds", "value_outside", "malformed", "incomplete"}


@pytest.mark.parametrize(
    "case,pattern",
    [
        ("missing_file", r"not found|does not exist|No such file"),
        ("not_hdf5", r"not an HDF5 file|cannot open"),
        ("no_groups", r"xpcs"),
        ("q_absent", r"q"),
        ("phi_absent", r"φ|phi|angle"),
        ("frames_outside", r"frame"),
        ("nan", r"NaN"),
        ("bad_bounds", r"min < max"),
        ("value_outside", r"outside the bounds"),
        ("malformed", r"not valid JSON"),
        ("incomplete", r"missing key 'analysis_mode'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1_or_2(
    case: str, pattern: str, tmp_path: Path, laminar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = laminar_file
    data_section: dict = {}
    params: dict = {}
    if case == "missing_file":
        data = tmp_path / "nope.h5"
    elif case == "not_hdf5":
        data = tmp_path / "text.h5"
        data.write_text("hello")
    elif case == "no_groups":
        data = tmp_path / "empty.h5"
        with h5py.File(data, "w") as h5:
            h5.create_group("entry")
    elif case == "q_absent":
        data_section = {"q": 0.02}
    elif case == "phi_absent":
        data_section = {"phi": [45.0]}
    elif case == "frames_outside":
        data_section = {"frames": [100, 500]}
    elif case == "nan":
        data = _broken_copy(laminar_file, tmp_path / "nan.h5", _nan_every_bin)
        data_section = {"nonfinite": "error"}  # the default masks them (tests/test_defaults.py)
    elif case == "bad_bounds":
        params = {"D0": {"min": 10.0, "max": 5.0, "value": 7.0}}
    elif case == "value_outside":
        params = {"alpha": {"value": 3.0}}
    cfg = write_config(tmp_path, "laminar_flow", data, data=data_section, parameters=params)
    if case == "malformed":
        cfg.write_text(cfg.read_text()[:-5])
    if case == "incomplete":
        doc = json.loads(cfg.read_text())
        del doc["analysis_mode"]
        cfg.write_text(json.dumps(doc))
    code, out, err = run(["--config", str(cfg)], capsys)
    assert code == (2 if case in _CONFIG_CASES else 1), (out, err)
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("INFO")]
    assert len(lines) == 1, err
    assert lines[0].startswith("homodyne: error:")
    assert "Traceback" not in err
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "argv,pattern",
    [
        ([], r"--config FILE is required"),
        (["--method", "bayes", "--config", "x.json"], r"invalid choice: 'bayes'"),
        (["--static-isotropic", "--laminar-flow", "--config", "x.json"], r"not allowed with"),
        (["--frobnicate"], r"unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], pattern: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(pattern, err)


def test_homodyne_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "my_config.json"
    assert config_main(["--mode", "static_isotropic", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["analysis_mode"] == "static_isotropic"
    assert config_main(["--mode", "laminar_flow", "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert config_main(["--mode", "laminar_flow", "-o", str(out), "--force"]) == 0


def test_simulate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.h5"
    code, stdout, err = run(
        [
            "simulate",
            "--mode",
            "static_anisotropic",
            "-o",
            str(out),
            "--frames",
            "40",
            "--layout",
            "aps_old",
            "--param",
            "D0=900",
        ],
        capsys,
    )
    assert code == 0, err
    assert '"D0": 900.0' in stdout
    from homodyne.data import load_dataset

    ds = load_dataset(out, q=0.0054)
    assert ds.c2.shape[1:] == (40, 40) and ds.layout == "aps_old"
    code, _, err = run(["simulate", "-o", str(out)], capsys)
    assert code == 2 and "exists" in err
    code, _, err = run(["simulate", "-o", str(tmp_path / "x.h5"), "--param", "D1=3"], capsys)
    assert code == 2 and "unknown parameter 'D1'" in err


def test_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "--output-dir", str(tmp_path / "demo"), "--frames", "80"], capsys)
    assert "recovery (truth vs fit)" in out
    doc = json.loads((tmp_path / "demo" / "results" / "demo" / "results.json").read_text())
    # the exit status is the verdict's: 0 when good, 3 when not (results written either way)
    assert code == doc["verdict"]["exit_status"] == (0 if doc["verdict"]["good"] else 3), err


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--target-accept", "1.5"], r"mcmc\.target_accept"),
        (["--draws", "0"], r"mcmc\.draws"),
        (["--max-lag", "0"], r"mcmc\.max_lag"),
        (["--mcmc-backend", "no_such_backend"], r"no_such_backend"),
    ],
)
def test_bad_mcmc_override_gives_one_line_and_exit_2(
    argv: list[str],
    pattern: str,
    tmp_path: Path,
    laminar_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    from .conftest import keep_environment

    # main() sets HOMODYNE_MCMC_BACKEND for --mcmc-backend; monkeypatch removes it again
    keep_environment(monkeypatch, "HOMODYNE_MCMC_BACKEND")
    monkeypatch.delenv("HOMODYNE_MCMC_BACKEND", raising=False)
    cfg = write_config(tmp_path, "laminar_flow", laminar_file)
    code, out, err = run(["--config", str(cfg), "--method", "mcmc", *argv], capsys)
    assert code == 2, (out, err)  # a configuration error
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("INFO")]
    assert len(lines) == 1 and lines[0].startswith("homodyne: error:"), err
    assert re.search(pattern, lines[0]), lines[0]
    if argv[0] != "--mcmc-backend":
        assert "command line overrides" in lines[0]


def test_mcmc_overrides_reach_the_configuration(tmp_path: Path, laminar_file: Path) -> None:
    from homodyne.config import load_config

    cfg = load_config(write_config(tmp_path, "laminar_flow", laminar_file))
    new = cfg.with_overrides(
        "mcmc", {"draws": 50, "chains": 2, "target_accept": 0.8, "max_lag": 20}, "command line"
    )
    assert (new.mcmc["draws"], new.mcmc["chains"], new.mcmc["target_accept"]) == (50, 2, 0.8)
    assert new.mcmc["max_lag"] == 20 and new.mcmc["tune"] == cfg.mcmc["tune"]
    assert cfg.mcmc["draws"] != 50  # the original is unchanged
    assert cfg.with_overrides("mcmc", {}, "command line") is cfg
