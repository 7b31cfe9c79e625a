"""``homodyne --method all`` end to end with the PyMC backend, with the sampler settings
given on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import write_config
from .conftest import HAVE_PYMC, run_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_PYMC, reason="PyMC backend not installed"),
]


def test_method_all_with_command_line_sampler_settings(tmp_path: Path, static_file: Path) -> None:
    cfg = write_config(tmp_path, "static_anisotropic", static_file, output={"run_name": "r"})
    argv = [
        "--config", str(cfg), "--method", "all", "-q", "--no-plots",
        "--chains", "2", "--tune", "150", "--draws", "120", "--seed", "5",
        "--target-accept", "0.85", "--max-treedepth", "8", "--frame-stride", "2",
    ]  # fmt: skip
    code = f"""
import os, sys
os.environ["HOMODYNE_GPU_INTENT"] = "false"
from homodyne.run_homodyne import main
rc = main({argv!r})
from homodyne.runtime.stacks import imported_modules  # ArviZ 1 registers lazy jax/numpyro
print("STACKS", imported_modules(("jax", "numpyro")))
sys.exit(rc)
"""
    proc = run_python(code, env={"MPLBACKEND": "Agg"}, timeout=600)
    folder = tmp_path / "out" / "r"
    # results written; the classical fit (data-derived bounds) is good, but 2 x 120 draws
    # do not reach the ESS threshold: the run's verdict is not good, exit status 3
    verdict = json.loads((folder / "results.json").read_text())["verdict"]
    assert proc.returncode == 3 == verdict["exit_status"], proc.stderr[-4000:]
    assert verdict["methods"]["classical"] == "good" and verdict["methods"]["mcmc"] != "good"
    assert proc.stdout.strip().splitlines()[-1] == "STACKS []"
    summary = json.loads((folder / "mcmc_summary.json").read_text())
    st = summary["settings"]
    assert (st["chains"], st["tune"], st["draws"], st["seed"]) == (2, 150, 120, 5)
    assert (st["target_accept"], st["max_treedepth"], st["frame_stride"]) == (0.85, 8, 2)
    assert summary["data_reduction"]["frame_stride"] == 2
    assert summary["backend"] == "pymc"
    assert summary["start"]["source"].startswith("classical fit")
    assert (folder / "mcmc_pymc.nc").exists() and (folder / "results.json").exists()
    # the configuration snapshot records what was used, overrides included
    snapshot = json.loads((folder / "results.json").read_text())
    assert snapshot["config"]["mcmc"]["draws"] == 120
    assert "--draws" in snapshot["command"]
