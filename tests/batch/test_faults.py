"""Faults with real processes: a worker killed mid-task, SIGTERM/Ctrl-C of the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from homodyne.batch import load_manifest, plan, run_batch
from homodyne.batch.engine import EngineOptions, open_client

from .conftest import make_files, subprocess_env, write_base_config, write_manifest


def _slow_batch(tmp: Path, n_files: int) -> Path:
    # 120 frames: a few seconds per task, so that a kill lands in the middle of one
    make_files(tmp / "data", n_files, frames=120)
    write_base_config(tmp)
    return write_manifest(
        tmp, 'config = "base.json"\nfiles = ["data/*.h5"]\nq = [0.012]\noutput = "out"\n'
    )


def test_worker_killed_mid_task_is_retried_elsewhere(tmp_path: Path) -> None:
    m = load_manifest(_slow_batch(tmp_path, 4))
    killed: dict[str, int] = {}
    with open_client(EngineOptions(workers=2, dashboard=False)) as client:

        def killer() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = {w: keys for w, keys in client.processing().items() if keys}
                if busy:
                    worker, keys = next(iter(busy.items()))
                    time.sleep(0.5)  # let the task get going (data loaded, fit running)
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, key=keys[0])
                    return
                time.sleep(0.05)

        th = threading.Thread(target=killer)
        th.start()
        res = run_batch(m, client=client, progress=None, plots=False)
        th.join()
    assert killed, "no task was seen running"
    assert res.n_failed == 0 and len(res.records) == 4
    pids = {r["pid"] for r in res.records.values()}
    assert killed["pid"] not in pids  # the killed attempt recorded nothing
    victim = next(r for r in res.records.values() if r["id"] in killed["key"])
    assert victim["status"] == "done"
    runs = m.output / "runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        res.records
    )  # no duplicates, no partials
    for r in res.records.values():
        assert json.loads((Path(r["run_dir"]) / "results.json").read_text())["classical"][
            "converged"
        ]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_batch_keeps_finished_tasks_and_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # Two quick tasks first, then 14 that each run a 32-start multistart on all 300 frames
    # (seconds each): the batch cannot finish between the first finished task and the
    # signal, however loaded the machine (16 equal tasks, and then 14 larger files whose
    # time was mostly loading and writing, all ended in that gap while the test process
    # was starved)
    n_tasks = 16
    manifest = _slow_batch(tmp_path, 2)
    for i, path in enumerate(make_files(tmp_path / "long", n_tasks - 2, frames=300, seed0=50)):
        path.rename(tmp_path / "data" / f"z_long{i:02d}_{path.name}")
    manifest = write_manifest(
        tmp_path,
        'config = "base.json"\nfiles = ["data/*.h5"]\nq = [0.012]\noutput = "out"\n\n'
        '[[overrides]]\nfiles = "z_long*"\n'
        "classical = { multistart = 32, coarse_frames = 300 }\n",
    )
    # at the lowest priority (nice execs it: same pid), so that the batch and its workers
    # cannot starve this test's polling loop on a loaded machine
    cmd = [
        "nice",
        "-n",
        "19",
        sys.executable,
        "-m",
        "homodyne.run_homodyne",
        "batch",
        str(manifest),
        "--workers",
        "2",
        "--no-plots",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env()
    )
    state = tmp_path / "out" / "state"
    deadline = time.monotonic() + 180
    children: list[psutil.Process] = []
    while time.monotonic() < deadline:
        children = _descendants(proc.pid) or children
        done = [p for p in state.glob("*.json")] if state.is_dir() else []
        if done:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("no task finished in time")
    children = _descendants(proc.pid) or children
    assert children, "the batch started no worker processes"
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + int(sig), err  # 130 for SIGINT, 143 for SIGTERM
    assert "interrupted" in err and "resume" in err
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"processes left behind: {[p.pid for p in alive]}"
    m = load_manifest(manifest)
    p = plan(m)
    assert 1 <= len(p.skipped) < n_tasks  # finished tasks are kept ...
    for t in p.skipped:
        assert (t.run_dir / "results.json").is_file()
    # ... no half result is visible, and the rerun finishes the rest
    runs = tmp_path / "out" / "runs"
    visible = [d.name for d in runs.iterdir() if not d.name.startswith(".")]
    assert sorted(visible) == sorted(t.id for t in p.skipped)
    r = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"({len(p.skipped)} were up to date)" in r.stdout
    assert not plan(m).to_run
    assert not [d for d in runs.iterdir() if d.name.startswith(".")]
