"""Typed, immutable configuration sections; command-line and environment overrides go
through Config.with_overrides; the library reads no HOMODYNE_* behaviour switch."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from homodyne.bayes.settings import MCMCSettings
from homodyne.config import SCHEMA, SECTION_TYPES, config_from_dict, template
from homodyne.config.checks import CHECKERS
from homodyne.errors import ConfigError
from homodyne.run_homodyne import environment_overrides, main


def test_sections_are_typed_frozen_and_read_like_mappings() -> None:
    cfg = config_from_dict(template("laminar_flow"))
    assert set(cfg.sections) == set(SCHEMA) == set(SECTION_TYPES)
    assert isinstance(cfg.mcmc, MCMCSettings)
    assert cfg.mcmc.draws == cfg.mcmc["draws"] == 1000
    assert dict(cfg.mcmc) == {k: f.default for k, f in SCHEMA["mcmc"].items()}
    assert list(cfg.output) == list(SCHEMA["output"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mcmc.draws = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.output["plots"] = False  # type: ignore[index]
    with pytest.raises(KeyError):
        cfg.mcmc["drawz"]
    assert pickle.loads(pickle.dumps(cfg.mcmc)) == cfg.mcmc
    json.dumps(cfg.to_dict())
    assert config_from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    assert MCMCSettings().chains == SCHEMA["mcmc"]["chains"].default


def test_with_overrides_makes_a_new_validated_configuration() -> None:
    cfg = config_from_dict(template("static_isotropic"))
    new = cfg.with_overrides("mcmc", {"reparam": "plain", "draws": 50}, "command line")
    assert (new.mcmc.reparam, new.mcmc.draws) == ("plain", 50)
    assert (cfg.mcmc.reparam, cfg.mcmc.draws) == ("auto", 1000)
    with pytest.raises(ConfigError, match=r"with command line overrides\): mcmc.reparam: "):
        cfg.with_overrides("mcmc", {"reparam": "fancy"}, "command line")


def test_every_field_kind_has_a_checker() -> None:
    kinds = {f.kind for fields in SCHEMA.values() for f in fields.values()}
    assert kinds <= set(CHECKERS)


def test_environment_is_read_at_the_entry_point_only(monkeypatch) -> None:
    env = {"HOMODYNE_MCMC_REPARAM": " plain ", "HOMODYNE_CHAIN_METHOD": "", "OTHER": "x"}
    assert environment_overrides(env) == {"reparam": "plain"}
    # the library does not follow the variable: a spec built without it uses its default
    from homodyne.bayes.posterior import build_posterior_spec

    from .mcmc.simdata import static_problem

    monkeypatch.setenv("HOMODYNE_MCMC_REPARAM", "plain")
    problem, _, _ = static_problem()
    assert build_posterior_spec(problem).space.names[0] == "J_ref"
    assert build_posterior_spec(problem, None, "plain").space.names[0] == "D0"


def test_command_line_and_environment_values_are_validated(tmp_path, monkeypatch, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(template("static_isotropic")))
    code = main(["--config", str(path), "--method", "mcmc", "--reparam", "fancy"])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code
    assert "(with command line overrides): mcmc.reparam: expected one of" in err
    monkeypatch.setenv("HOMODYNE_PYTENSOR_MODE", "llvm")
    code = main(["--config", str(path), "--method", "mcmc"])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code
    assert "(with environment overrides): mcmc.pytensor_mode: expected one of" in err
