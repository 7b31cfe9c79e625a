"""A batch on a real SLURM (run by .ci/slurm.sh, which starts slurmctld and slurmd).

dask-jobqueue submits real jobs (sbatch); the job prologue loads a small test module of
these tests through Lmod (``module use`` + ``module load``, the way a site loads the
homodyne HPC module); every task must run inside a SLURM job with that module loaded.
Skipped unless HOMODYNE_TEST_SLURM=1 (set by the stage); with CI=true a missing SLURM fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homodyne.batch import EngineOptions, load_manifest, run_batch
from homodyne.batch.engine import open_client

from .conftest import make_files, write_base_config, write_manifest

_WANTED = os.environ.get("HOMODYNE_TEST_SLURM") == "1"
_HAVE = shutil.which("sbatch") is not None and shutil.which("squeue") is not None
if not _WANTED:
    pytestmark = pytest.mark.skip(
        reason="SLURM tests run in the slurm CI stage (HOMODYNE_TEST_SLURM=1)"
    )
elif not _HAVE and os.environ.get("CI") != "true":
    pytestmark = pytest.mark.skip(reason="sbatch/squeue not found")

MODULE = "homodyne-batch-test/1.0"


def _module_dir(tmp: Path) -> Path:
    d = tmp / "modulefiles" / "homodyne-batch-test"
    d.mkdir(parents=True)
    (d / "1.0.lua").write_text(
        'whatis("test module of the homodyne batch SLURM tests")\n'
        'setenv("HOMODYNE_BATCH_TEST_MODULE", "loaded")\n'
        f'prepend_path("PATH", "{Path(sys.executable).parent}")\n'
    )
    return tmp / "modulefiles"


def _opts(tmp: Path, **kw) -> EngineOptions:
    return EngineOptions(
        cluster="slurm",
        workers=2,
        queue="debug",
        walltime="00:10:00",
        cores=1,
        memory="1GB",
        prologue=[f"module use {_module_dir(tmp)}"],
        module=MODULE,
        module_init="/usr/share/lmod/lmod/init/bash",
        log_directory=str(tmp / "jobs"),
        **kw,
    )


def _squeue() -> list[str]:
    r = subprocess.run(
        ["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True, check=True
    )
    return [line for line in r.stdout.splitlines() if line.strip()]


def test_batch_on_slurm_jobs_with_the_module_loaded(tmp_path: Path) -> None:
    assert _HAVE, "SLURM is not installed (CI=true: the slurm stage must provide it)"
    make_files(tmp_path / "data", 2)
    write_base_config(tmp_path)
    m = load_manifest(
        write_manifest(
            tmp_path, 'config = "base.json"\nfiles = ["data/*.h5"]\nq = "all"\noutput = "out"\n'
        )
    )
    with open_client(_opts(tmp_path)) as client:
        res = run_batch(m, client=client, progress=None, plots=False)
        assert res.n_failed == 0 and len(res.records) == 4
        jobs = {r["job_id"] for r in res.records.values()}
        assert None not in jobs and 1 <= len(jobs) <= 2  # adaptive: at most `workers` jobs
        for r in res.records.values():
            assert MODULE in (r["modules"] or ""), r
            doc = json.loads((Path(r["run_dir"]) / "results.json").read_text())
            assert doc["classical"]["converged"]
        env = client.run(lambda: os.environ.get("HOMODYNE_BATCH_TEST_MODULE"))
        assert set(env.values()) <= {"loaded"}
    # the cluster is closed: its jobs leave the queue
    deadline = time.monotonic() + 60
    while _squeue() and time.monotonic() < deadline:
        time.sleep(1)
    assert not _squeue()


def test_cancelled_job_mid_batch_is_retried(tmp_path: Path) -> None:
    """scancel of a worker's job (a lost node) while it runs a task: the task runs again."""
    assert _HAVE
    make_files(tmp_path / "data", 3, frames=120)
    write_base_config(tmp_path)
    m = load_manifest(
        write_manifest(
            tmp_path, 'config = "base.json"\nfiles = ["data/*.h5"]\nq = [0.012]\noutput = "out"\n'
        )
    )
    import threading

    cancelled: list[str] = []
    with open_client(_opts(tmp_path)) as client:

        def canceller() -> None:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(1.0)
                    job = client.run(lambda: os.environ.get("SLURM_JOB_ID"), workers=[busy[0]])[
                        busy[0]
                    ]
                    subprocess.run(["scancel", job], check=True)
                    cancelled.append(job)
                    return
                time.sleep(0.2)

        th = threading.Thread(target=canceller)
        th.start()
        res = run_batch(m, client=client, progress=None, plots=False)
        th.join()
    assert cancelled
    assert res.n_failed == 0 and len(res.records) == 3
    runs = sorted(p.name for p in (m.output / "runs").iterdir())
    assert runs == sorted(res.records)
