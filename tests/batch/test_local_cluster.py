"""Batches on a real two-worker LocalCluster: results, summary, resume, retry of failures."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from homodyne.batch import EngineOptions, load_manifest, plan, run_batch

from .conftest import TRUTH, make_files, subprocess_env, write_base_config, write_manifest

#: An engine that cannot connect: a run that needs no work must never touch it.
NO_ENGINE = EngineOptions(scheduler="tcp://127.0.0.1:9")


def test_batch_runs_every_task_and_writes_the_summary(batch_dir: Path, local_client) -> None:
    m = load_manifest(batch_dir / "batch.toml")
    res = run_batch(m, client=local_client, progress=None, plots=True)
    assert len(res.records) == 6 and res.n_failed == 0
    for rec in res.records.values():
        assert rec["status"] == "done" and rec["wall_time_s"] > 0
        doc = json.loads((Path(rec["run_dir"]) / "results.json").read_text())
        assert doc["input"]["q"] == pytest.approx(rec["q"][0], rel=1e-3)
    # one run folder per task, no hidden leftovers
    runs = sorted(p.name for p in (m.output / "runs").iterdir())
    assert runs == sorted(res.records)
    rows = list(csv.DictReader((m.output / "summary.csv").open()))
    table = pq.read_table(m.output / "summary.parquet").to_pylist()
    assert len(rows) == len(table) == 6
    for row in table:
        assert row["status"] == "done" and row["method"] == "classical"
        assert row["meta_sample"].startswith("sample") and row["meta_beamline"] == "8-ID-I"
        assert row["meta_temperature"] in (290.0, 300.0, 310.0)
        assert 0.7 < row["chi2_red"] < 1.3
        assert row["verdict_level"] == "good" and row["verdict"]
        assert abs(row["D0"] - TRUTH["D0"]) < 4 * row["D0_err"]
        assert row["alpha_err"] > 0 and json.loads(row["phi_used"]) == [0.0]
        assert Path(row["run_dir"]).is_dir()
    for name in (
        "summary_vs_q.png",
        "summary_vs_temperature.png",
        "summary_J_t.png",
        "summary_verdicts.png",
    ):
        assert (m.output / name).stat().st_size > 5000, name

    # rerun: everything is up to date, no engine is even contacted
    again = run_batch(m, NO_ENGINE, progress=None, plots=False)
    assert len(again.plan.skipped) == 6 and not again.plan.to_run
    assert again.records == res.records

    # a changed input file and a changed configuration rerun exactly their tasks
    make_files(batch_dir / "data", 1, seed0=100)  # rewrites sample0 with other noise
    write_manifest(
        batch_dir,
        (batch_dir / "batch.toml").read_text()
        + '[[overrides]]\nfiles = "sample2_*"\nclassical = { ftol = 1e-9 }\n',
    )
    p = plan(load_manifest(batch_dir / "batch.toml"))
    why = {t.id.split("__")[0]: p.reason[t.id] for t in p.to_run}
    assert len(p.to_run) == 4 and len(p.skipped) == 2
    assert why == {"sample0_T290": "input file changed", "sample2_T310": "configuration changed"}


def test_failed_tasks_are_recorded_and_retried_on_rerun(batch_dir: Path, local_client) -> None:
    write_manifest(
        batch_dir,
        'config = "base.json"\nfiles = ["data/sample[01]*.h5"]\nq = [0.012, 0.5]\noutput = "out"\n',
    )
    m = load_manifest(batch_dir / "batch.toml")
    res = run_batch(m, client=local_client, progress=None, plots=False)
    failed = {k: r for k, r in res.records.items() if r["status"] == "failed"}
    assert sorted(failed) == ["sample0_T290__q0.5__classical", "sample1_T300__q0.5__classical"]
    for r in failed.values():
        assert "DataError" in r["error"] and "no q within" in r["error"]
        assert r["run_dir"] is None
    rows = pq.read_table(m.output / "summary.parquet").to_pylist()
    assert sorted(r["status"] for r in rows) == ["done", "done", "failed", "failed"]
    p = plan(m)
    assert sorted(t.id for t in p.to_run) == sorted(failed)
    assert all(p.reason[t] == "retry (failed before)" for t in failed)


def test_cli_batch_on_a_local_cluster(batch_dir: Path) -> None:
    """The command end to end: embedded LocalCluster, progress, exit status, summary paths."""
    files = [str(p) for p in sorted((batch_dir / "data").glob("sample[01]*.h5"))]
    cmd = [
        sys.executable,
        "-m",
        "homodyne.run_homodyne",
        "batch",
        "--config",
        str(batch_dir / "base.json"),
        "--files",
        *files,
        "--q",
        "0.012",
        "--output",
        str(batch_dir / "cli"),
        "--workers",
        "2",
        "--no-plots",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2/2 tasks done" in r.stdout and "csv:" in r.stdout
    assert "[batch] 2/2 done" in r.stderr and "dashboard: http" in r.stderr
    r2 = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert r2.returncode == 0 and "(2 were up to date)" in r2.stdout


@pytest.mark.mcmc
def test_mcmc_task_runs_its_chains_on_a_worker(tmp_path: Path, local_client) -> None:
    """MCMC in a worker process (its chains in processes of their own): a row per method."""
    pytest.importorskip("pymc")
    make_files(tmp_path / "data", 1)
    cfg_path = write_base_config(tmp_path)
    cfg = json.loads(cfg_path.read_text())
    cfg["mcmc"].update({"draws": 100, "tune": 100, "chains": 2})
    cfg_path.write_text(json.dumps(cfg))
    m = load_manifest(
        write_manifest(
            tmp_path,
            'config = "base.json"\nfiles = ["data/*.h5"]\nq = [0.012]\nmethod = "all"\noutput = "out"\n',
        )
    )
    res = run_batch(m, client=local_client, progress=None, plots=False)
    (rec,) = res.records.values()
    assert rec["status"] == "done", rec.get("error")
    rows = {r["method"]: r for r in pq.read_table(m.output / "summary.parquet").to_pylist()}
    assert set(rows) == {"classical", "mcmc"}
    mc = rows["mcmc"]
    assert mc["D0_hdi_low"] < mc["D0"] < mc["D0_hdi_high"] and mc["D0_err"] > 0
    assert mc["verdict"] and mc["verdict_level"] in ("good", "not-converged")
    assert rows["classical"]["chi2_red"] > 0 and mc["chi2_red"] is None


def test_scheduler_address_joins_a_running_cluster(batch_dir: Path, local_client) -> None:
    """--scheduler ADDRESS: the tasks go to the running cluster's workers, which stays up."""
    write_manifest(
        batch_dir, 'config = "base.json"\nfiles = ["data/sample0*.h5"]\nq = "all"\noutput = "out"\n'
    )
    m = load_manifest(batch_dir / "batch.toml")
    address = local_client.scheduler.address
    res = run_batch(m, EngineOptions(scheduler=address), progress=None, plots=False)
    assert res.n_failed == 0 and len(res.records) == 2
    assert res.dashboard is None or res.dashboard.startswith("http")
    assert len(local_client.scheduler_info()["workers"]) == 2  # not closed by the batch
