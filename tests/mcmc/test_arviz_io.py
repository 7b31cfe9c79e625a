"""ArviZ 1 (DataTree) output: building, summaries, and reading files of ArviZ < 1 releases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("arviz")

from homodyne.results.inference_data import (
    _interval_name,
    from_groups,
    read_netcdf,
    summary_frame,
)

OLD_FILE = Path(__file__).parent / "data" / "mcmc_pymc_arviz0.nc"


def _tree():
    rng = np.random.default_rng(3)
    return from_groups(
        {
            "posterior": {
                "D0": rng.normal(10.0, 1.0, (2, 200)),
                "contrast": rng.normal(0.3, 0.01, (2, 200, 3)),
            },
            "sample_stats": {"diverging": np.zeros((2, 200), bool)},
            "observed_data": {"c2_obs": np.ones((3, 4))},
        },
        coords={"angle": np.arange(3), "pair": np.arange(4)},
        dims={"contrast": ["angle"], "c2_obs": ["angle", "pair"]},
        attrs={"homodyne_mode": "static_isotropic", "q": 0.005},
    )


def test_file_written_with_arviz_0_is_read_unchanged() -> None:
    tree = read_netcdf(OLD_FILE)
    assert set(tree.children) == {"posterior", "sample_stats", "observed_data", "constant_data"}
    assert tree.posterior["contrast"].dims == ("chain", "draw", "angle")
    assert tree.posterior["D0"].shape == (2, 60)
    assert tree.attrs["homodyne_mode"] == "static_isotropic"  # run attributes on the root
    assert json.loads(tree.attrs["fixed_parameters"]) == {}
    assert tree.constant_data["iu"].dims == ("pair",)
    df = summary_frame(tree, ["D0", "contrast"], 0.94)
    assert list(df.index) == ["D0", "contrast[0]", "contrast[1]"]
    row = df.loc["D0"]
    assert row["hdi_3%"] < row["mean"] < row["hdi_97%"]
    assert 900 < row["mean"] < 1100


def test_new_tree_round_trips_with_attributes_on_the_root(tmp_path: Path) -> None:
    path = tmp_path / "mcmc_pymc.nc"
    _tree().to_netcdf(str(path))
    back = read_netcdf(path)
    assert back.attrs["homodyne_mode"] == "static_isotropic"
    assert back.attrs["q"] == 0.005
    assert back.posterior.attrs["creation_library"] == "ArviZ"
    np.testing.assert_array_equal(back.observed_data["c2_obs"].values, np.ones((3, 4)))


def test_summary_keeps_the_pre_1_0_interval_names() -> None:
    df = summary_frame(_tree(), ["D0"], 0.94)
    assert {"mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"} <= set(df.columns)
    assert not any(c.endswith(("_lb", "_ub")) for c in df.columns)
    assert df.loc["D0", "hdi_3%"] < 10.0 < df.loc["D0", "hdi_97%"]


@pytest.mark.parametrize(
    ("column", "name"),
    [
        ("hdi94_lb", "hdi_3%"),
        ("hdi94_ub", "hdi_97%"),
        ("hdi90_lb", "hdi_5%"),
        ("hdi89_ub", "hdi_94.5%"),
        ("mean", "mean"),
        ("eti94_lb", "eti94_lb"),
    ],
)
def test_interval_column_names(column: str, name: str) -> None:
    assert _interval_name(column) == name


def test_arviz_lazy_placeholders_do_not_count_as_imported() -> None:
    """arviz-base registers lazy jax/numpyro modules; none of their code runs."""
    pytest.importorskip("jax")
    code = (
        "import sys, arviz\n"
        "from homodyne.runtime.stacks import imported, imported_modules\n"
        "print('jax' in sys.modules, imported('jax'), imported_modules({'jax', 'numpyro'}))\n"
        "import jax.numpy\n"
        "print(imported('jax'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split("\n")
    assert out[0] == "True False []"
    assert out[1] == "True"
