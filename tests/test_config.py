"""Configuration: templates, validation messages, parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homodyne.config import SCHEMA, config_from_dict, load_config, template, write_template
from homodyne.errors import ConfigError
from homodyne.model import MODES


@pytest.mark.parametrize("mode", list(MODES))
def test_template_is_complete_and_valid(mode: str, tmp_path: Path) -> None:
    path = write_template(mode, tmp_path / "c.json")
    cfg = load_config(path)
    assert cfg.mode == mode
    assert cfg.parameters.names == MODES[mode]
    raw = json.loads(path.read_text())
    for section, fields in SCHEMA.items():
        assert set(raw[section]) == set(fields)
    # the snapshot round-trips
    assert config_from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_template_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_template("laminar_flow", tmp_path / "c.json")
    with pytest.raises(ConfigError, match="exists"):
        write_template("laminar_flow", path)
    write_template("static_isotropic", path, overwrite=True)
    assert load_config(path).mode == "static_isotropic"


def _cfg(**changes: object) -> dict:
    cfg = template("laminar_flow")
    for dotted, value in changes.items():
        *head, last = dotted.split("__")
        node = cfg
        for h in head:
            node = node[h]
        node[last] = value
    return cfg


@pytest.mark.parametrize(
    "changes,pattern",
    [
        ({"data__qq": 1.0}, r"data: unknown key 'qq' \(did you mean 'q'\?\)"),
        (
            {"classical__method": "levenberg"},
            r"classical.method: expected one of 'lm', 'trf', 'nelder-mead', got 'levenberg'",
        ),
        ({"data__q": -1.0}, r"data.q: expected a value > 0.0, got -1.0"),
        ({"data__q": "0.005"}, r"data.q: expected a finite number, got '0.005'"),
        ({"data__frames": [10, 5]}, r"data.frames: expected 1 <= start < end"),
        ({"data__frames": [0, 5]}, r"1-based"),
        ({"classical__multistart": 2.5}, r"classical.multistart: expected an integer"),
        ({"angle_filter__ranges": [[10, -10]]}, r"range \[10, -10\] has min > max"),
        (
            {"parameters__D0__min": 10.0, "parameters__D0__max": 1.0},
            r"parameters.D0: bounds need min < max, got min=10.0 > max=1.0",
        ),
        (
            {"parameters__alpha__value": 5.0},
            r"parameters.alpha.value: initial value 5.0 is outside the bounds \[-2.0, 2.0\]",
        ),
        ({"parameters__D0__unit": "nm^2/s"}, r"parameters.D0.unit: D0 is in 'Å²/s'"),
        ({"parameters__D0__prior": {"dist": "Gauss"}}, r"prior.dist: expected one of Normal"),
        ({"parameters__D0__prior": {"dist": "Normal", "mu": 1.0}}, r"prior Normal needs 'sigma'"),
        ({"parameters__phi00": {}}, r"unknown key 'phi00' \(did you mean 'phi0'\?\)"),
        ({"noise__model": "fixed"}, r"noise.sigma: required when noise.model is 'fixed'"),
        ({"scaling__offset_min": 2.0}, r"offset_min \(2.0\) must be < offset_max"),
        (
            {"analysis_mode": "laminar"},
            r"analysis_mode: expected one of .* got 'laminar' \(did you mean 'laminar_flow'\?\)",
        ),
        ({"outptu": {}}, r"unknown key 'outptu' \(did you mean 'output'\?\)"),
        ({"analysis_mode": []}, r"analysis_mode: expected one of .* got \[\]"),  # unhashable
        ({"analysis_mode": {"x": 1}}, r"analysis_mode: expected one of .* got \{'x': 1\}"),
        (
            {"mcmc__platform": "tpu"},
            r"mcmc.platform: expected one of 'auto', 'gpu', 'cpu', got 'tpu'",
        ),
    ],
)
def test_bad_values_name_the_key_and_expectation(
    changes: dict, pattern: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_cfg(**changes)))
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_every_parameter_fixed_is_an_error() -> None:
    cfg = template("static_isotropic")
    for p in cfg["parameters"].values():
        p["fixed"] = True
    with pytest.raises(ConfigError, match="every parameter is fixed"):
        config_from_dict(cfg)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"analysis_mode": "laminar_flow",, }')
    with pytest.raises(ConfigError, match=r"not valid JSON: .* line 1"):
        load_config(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level must be a JSON object"):
        load_config(bad)
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="missing key 'analysis_mode'"):
        load_config(bad)


def test_minimal_config_takes_defaults_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "analysis_mode": "static_isotropic",
                "data": {"file": "d.h5"},
                "parameters": {"D0": {"fixed": True, "value": 500.0}},
            }
        )
    )
    cfg = load_config(path)
    assert cfg.resolve_path(cfg.data["file"]) == tmp_path.resolve() / "d.h5"
    assert cfg.parameters["D0"].fixed and cfg.parameters["D0"].value == 500.0
    assert cfg.parameters.free_names == ("alpha", "D_offset")
    assert cfg.classical["method"] == "lm"


def test_with_mode_switches_parameter_set() -> None:
    cfg = config_from_dict(template("laminar_flow"))
    st = cfg.with_mode("static_anisotropic")
    assert st.parameters.names == MODES["static_anisotropic"]
    assert st.with_mode("laminar_flow").parameters.names == MODES["laminar_flow"]
