"""Engine options: the dask-jobqueue job scripts (site config + options), GPU resources."""

from __future__ import annotations

import dask
import pytest

from homodyne.batch.engine import EngineOptions, _jobqueue_cluster

# registers the jobqueue defaults before any test sets part of the jobqueue config
pytest.importorskip("dask_jobqueue")
from homodyne.errors import ConfigError


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_job_script_from_options(kind: str, tmp_path) -> None:
    opts = EngineOptions(
        cluster=kind,
        queue="short",
        account="xpcs",
        walltime="01:30:00",
        cores=4,
        memory="16GB",
        prologue=["module use /site/modulefiles"],
        module="homodyne/cpu",
        job_directives=["--gres=gpu:1"] if kind == "slurm" else ["-l ngpus=1"],
        gpu=True,
        log_directory=str(tmp_path),
    )
    cluster = _jobqueue_cluster(opts)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    flag = "#SBATCH" if kind == "slurm" else "#PBS"
    assert f"{flag} -A xpcs" in script
    assert ("#SBATCH -p short" if kind == "slurm" else "#PBS -q short") in script
    assert "01:30:00" in script
    assert ("--gres=gpu:1" if kind == "slurm" else "-l ngpus=1") in script
    assert "--resources GPU=1" in script
    # one single-threaded worker process per core (the fits are single-threaded)
    assert "--nworkers 4" in script and "--nthreads 1" in script
    lines = script.splitlines()
    init = next(i for i, line in enumerate(lines) if line.startswith("type module"))
    use = lines.index("module use /site/modulefiles")
    load = lines.index("module load homodyne/cpu")
    worker = next(
        i
        for i, line in enumerate(lines)
        if "distributed.cli.dask_worker" in line or "dask worker" in line
    )
    assert init < use < load < worker
    assert lines.index("export DASK_DISTRIBUTED__WORKER__DAEMON=False") < worker  # MCMC chains


def test_site_configuration_is_used_and_options_override_it() -> None:
    site = {
        "jobqueue.slurm.cores": 8,
        "jobqueue.slurm.memory": "32GB",
        "jobqueue.slurm.queue": "site-queue",
        "jobqueue.slurm.account": "site-account",
        "jobqueue.slurm.walltime": "04:00:00",
    }
    with dask.config.set(site):
        c = _jobqueue_cluster(EngineOptions(cluster="slurm", queue="mine"))
        try:
            script = c.job_script()
        finally:
            c.close()
    assert "#SBATCH -p mine" in script and "#SBATCH -A site-account" in script
    assert "04:00:00" in script and "--cpus-per-task=8" in script and "--mem=30G" in script


def test_missing_cores_and_memory_is_an_actionable_error() -> None:
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}):
        with pytest.raises(ConfigError, match=r"--cores and --memory.*jobqueue.yaml"):
            _jobqueue_cluster(EngineOptions(cluster="slurm"))


def test_scheduler_and_cluster_exclude_each_other() -> None:
    from homodyne.batch.engine import open_client

    with pytest.raises(ConfigError, match="exclude each other"):
        with open_client(EngineOptions(scheduler="tcp://127.0.0.1:9", cluster="slurm")):
            pass
