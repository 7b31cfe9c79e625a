"""Benchmark of the batch engine: Dask LocalCluster against one process (not a timed test).

The same N tasks (laminar flow, 8 angles x 200² frames, classical fit from the template
start; files simulated by the package) run

* one after another in this process (:func:`homodyne.batch.tasks.run_task` in a loop), and
* as a batch on a LocalCluster of W single-threaded worker processes
  (:func:`homodyne.batch.run_batch`, progress off, summary and plots on).

Reported: wall time and throughput of both, each task's own time (``wall_time_s`` of its
record: load, fit, write), the batch overhead per task — W x batch wall / N minus the
mean task time inside the batch — as a fraction of the task time, and the peak resident
memory of each worker process. The machine load (``uptime``) is recorded beside the numbers.

Usage::

    python benchmarks/bench_batch.py                      # 100 tasks, 2 workers
    python benchmarks/bench_batch.py --tasks 20 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _setup(root: Path, n_tasks: int, frames: int, q_per_file: int) -> Path:
    from homodyne.config import template
    from homodyne.data import write_simulated_file
    from homodyne.data.simulate import REALISTIC_PARAMS

    truth = {**REALISTIC_PARAMS, "phi0": 5.0}
    n_files = -(-n_tasks // q_per_file)
    qs = [0.0044 + 0.0005 * i for i in range(q_per_file)]
    (root / "data").mkdir()
    for i in range(n_files):
        write_simulated_file(
            root / "data" / f"laminar_{i:03d}.h5",
            mode="laminar_flow",
            params=truth,
            q_values=qs,
            n_frames=frames,
            contrast=0.3,
            noise_sigma=0.003,
            seed=i,
        )
    cfg = template("laminar_flow")
    cfg["output"]["plots"] = False
    (root / "base.json").write_text(json.dumps(cfg))
    manifest = root / "batch.toml"
    manifest.write_text('config = "base.json"\nfiles = ["data/*.h5"]\nq = "all"\noutput = "out"\n')
    return manifest


def _load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def _warm() -> None:
    """Import what a task imports (both sides start warm)."""
    import homodyne.analysis
    import homodyne.optimization.classical
    import homodyne.results.writer  # noqa: F401


def _cpu() -> float:
    return time.process_time()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--q-per-file", type=int, default=4)
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    a = ap.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from homodyne.batch import EngineOptions, load_manifest, run_batch
    from homodyne.batch.engine import open_client
    from homodyne.batch.tasks import expand_tasks, run_task

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        m = load_manifest(_setup(root, a.tasks, a.frames, a.q_per_file))
        tasks = expand_tasks(m)[: a.tasks]
        load_before = _load()
        _warm()
        # 1. one process, one task after another (the output of each goes to its own folder)
        seq_out = root / "sequential"
        t0 = time.perf_counter()
        c0 = time.process_time()
        seq_times, seq_task_cpu, seq_failed = [], [], {}
        for t in tasks:
            rec = run_task(dataclasses.replace(t, output=str(seq_out)))
            if rec["status"] != "done":  # a failed task did its work too: counted, listed
                seq_failed[t.id] = rec.get("error")
            seq_times.append(rec["wall_time_s"])
            seq_task_cpu.append(rec["cpu_time_s"])
        seq_wall = time.perf_counter() - t0
        seq_cpu = time.process_time() - c0
        seq_rss = _rss_mb()
        # 2. the batch on a LocalCluster
        from homodyne.batch.manifest import Manifest

        mb = Manifest(**{**m.__dict__})  # the same tasks, in the batch folder
        with open_client(EngineOptions(workers=a.workers, dashboard=False)) as client:
            client.run(_warm)  # workers up and warm before the clock starts
            wcpu0 = client.run(_cpu)
            t0 = time.perf_counter()
            c0 = time.process_time()
            res = run_batch(mb, client=client, progress=None, plots=True)
            batch_wall = time.perf_counter() - t0
            client_cpu = time.process_time() - c0  # scheduler, submission, summary, plots
            wcpu1 = client.run(_cpu)
            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        ids = {t.id for t in tasks}
        recs = [r for k, r in res.records.items() if k in ids]
        assert len(recs) == len(tasks)
        batch_failed = {r["id"]: r.get("error") for r in recs if r["status"] != "done"}
        bt = [r["wall_time_s"] for r in recs]
        bcpu = [r["cpu_time_s"] for r in recs]
        worker_cpu = sum(wcpu1[k] - wcpu0[k] for k in wcpu1 if k in wcpu0)
        load_after = _load()
    n, w = len(tasks), a.workers
    per_task_batch = w * batch_wall / n
    mean_task = statistics.fmean(bt)
    overhead = per_task_batch - mean_task
    cpu_over = (worker_cpu + client_cpu - sum(bcpu)) / n
    out = {
        "tasks": n,
        "workers": w,
        "case": f"laminar_flow 8 x {a.frames}², classical, template start",
        "sequential": {
            "wall_s": seq_wall,
            "cpu_s": seq_cpu,
            "tasks_per_min": 60 * n / seq_wall,
            "task_mean_s": statistics.fmean(seq_times),
            "task_cpu_mean_s": statistics.fmean(seq_task_cpu),
            "task_median_s": statistics.median(seq_times),
            "peak_rss_mb": seq_rss,
        },
        "batch": {
            "wall_s": batch_wall,
            "tasks_per_min": 60 * n / batch_wall,
            "task_mean_s": mean_task,
            "task_median_s": statistics.median(bt),
            "worker_s_per_task": per_task_batch,
            "overhead_per_task_s": overhead,
            "overhead_fraction": overhead / mean_task,
            "task_cpu_mean_s": statistics.fmean(bcpu),
            "worker_cpu_s": worker_cpu,
            "client_cpu_s": client_cpu,
            "overhead_cpu_per_task_s": cpu_over,
            "overhead_cpu_fraction": cpu_over / statistics.fmean(bcpu),
            "peak_rss_mb_per_worker": sorted(rss.values()),
            "summary_and_plots_included": True,
        },
        "speedup": seq_wall / batch_wall,
        "failed_sequential": seq_failed,
        "failed_batch": batch_failed,
        "load_before": load_before,
        "load_after": load_after,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    print(json.dumps(out, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
