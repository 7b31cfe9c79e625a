"""Manifest parsing, task expansion, per-file overrides, the dry run (no cluster needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from homodyne.batch import expand_tasks, load_manifest, manifest_from_dict, plan
from homodyne.errors import ConfigError

from .conftest import Q_VALUES, subprocess_env, write_manifest


def test_toml_manifest_expands_files_times_q(batch_dir: Path) -> None:
    m = load_manifest(batch_dir / "batch.toml")
    tasks = expand_tasks(m)
    assert len(tasks) == 3 * len(Q_VALUES)
    assert [t.q[0] for t in tasks[:2]] == pytest.approx(Q_VALUES)
    assert {Path(t.file).name for t in tasks} == {f"sample{i}_T{290 + 10 * i}.h5" for i in range(3)}
    for t in tasks:
        assert t.config["data"]["q"] == t.q[0]
        assert t.config["data"]["file"] == t.file
        assert t.run_dir == batch_dir / "out" / "runs" / t.id
        assert len(t.input_hash) == 64 and len(t.config_hash) == 64
    assert len({t.id for t in tasks}) == len(tasks)
    # the same file gives the same input hash, different q different config hashes
    assert tasks[0].input_hash == tasks[1].input_hash
    assert tasks[0].config_hash != tasks[1].config_hash


def test_json_manifest_and_explicit_q(batch_dir: Path) -> None:
    p = batch_dir / "batch.json"
    p.write_text(
        json.dumps({"config": "base.json", "files": "data/sample1*.h5", "q": 0.02, "method": "all"})
    )
    tasks = expand_tasks(load_manifest(p))
    assert [(Path(t.file).name, t.q, t.method) for t in tasks] == [
        ("sample1_T300.h5", (0.02,), "all")
    ]


def test_overrides_apply_to_matching_files_only(batch_dir: Path) -> None:
    write_manifest(
        batch_dir,
        'config = "base.json"\nfiles = ["data/*.h5"]\nq = [0.012]\n'
        '[[overrides]]\nfiles = "sample2_*"\nclassical = { multistart = 3 }\n'
        "parameters = { D0 = { value = 500.0 } }\n",
    )
    tasks = {Path(t.file).name: t for t in expand_tasks(load_manifest(batch_dir / "batch.toml"))}
    assert tasks["sample2_T310.h5"].config["classical"]["multistart"] == 3
    assert tasks["sample2_T310.h5"].config["parameters"]["D0"]["value"] == 500.0
    assert tasks["sample0_T290.h5"].config["classical"]["multistart"] == 0
    assert tasks["sample2_T310.h5"].config_hash != tasks["sample0_T290.h5"].config_hash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('config = "base.json"\nfiles = ["nothing/*.h5"]\n', "matches no file"),
        ('config = "missing.json"\nfiles = ["data/*.h5"]\n', "does not exist"),
        (
            'config = "base.json"\nfiles = ["data/*.h5"]\nmethod = "fast"\n',
            "method: expected one of",
        ),
        ('config = "base.json"\nfiles = ["data/*.h5"]\nq = [-1]\n', "positive number"),
        ('config = "base.json"\nfiles = ["data/*.h5"]\nfile = "x"\n', "unknown key 'file'"),
        (
            'config = "base.json"\nfiles = ["data/*.h5"]\n[[overrides]]\nfiles = "*"\nclasical = {}\n',
            "unknown section 'clasical'",
        ),
        ('config = "base.json"\nfiles = ["data/*.h5"\n', "not valid TOML"),
    ],
)
def test_bad_manifests_name_the_problem(batch_dir: Path, text: str, message: str) -> None:
    p = write_manifest(batch_dir, text)
    with pytest.raises(ConfigError, match=message) as exc:
        expand_tasks(load_manifest(p))
    assert str(p) in str(exc.value)


def test_bad_override_value_is_validated_like_a_config(batch_dir: Path) -> None:
    write_manifest(
        batch_dir,
        'config = "base.json"\nfiles = ["data/*.h5"]\n[[overrides]]\nfiles = "sample1*"\n'
        'classical = { multistart = "many" }\n',
    )
    with pytest.raises(ConfigError, match=r"sample1_T300\.h5.*classical\.multistart"):
        expand_tasks(load_manifest(batch_dir / "batch.toml"))


def test_q_all_reads_the_rings_of_each_file(batch_dir: Path) -> None:
    m = manifest_from_dict(
        {"config": "base.json", "files": ["data/sample0*"], "q": "all"}, base=batch_dir
    )
    assert [t.q[0] for t in expand_tasks(m)] == pytest.approx(Q_VALUES)
    m.joint_q = True
    (t,) = expand_tasks(m)
    assert t.joint_q and t.q == pytest.approx(Q_VALUES) and "joint-q2" in t.id


def test_dry_run_lists_tasks_and_starts_nothing(batch_dir: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "homodyne.run_homodyne",
            "batch",
            str(batch_dir / "batch.toml"),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "6 tasks: 6 to run, 0 up to date" in r.stdout
    assert r.stdout.count(" new") == 6
    assert not (batch_dir / "out" / "runs").exists()
    p = plan(load_manifest(batch_dir / "batch.toml"))
    assert len(p.to_run) == 6


def test_cli_usage_and_manifest_errors(batch_dir: Path) -> None:
    base = [sys.executable, "-m", "homodyne.run_homodyne", "batch"]
    r = subprocess.run(base, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert r.returncode == 2 and "give a manifest" in r.stderr
    write_manifest(batch_dir, 'config = "base.json"\nfiles = ["zzz/*.h5"]\n')
    r = subprocess.run(
        [*base, str(batch_dir / "batch.toml"), "--dry-run"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert r.returncode == 2  # a configuration error (errors.ConfigError)
    assert r.stderr.strip().count("\n") == 0 and "matches no file" in r.stderr
