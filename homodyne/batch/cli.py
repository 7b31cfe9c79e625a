"""``homodyne batch``: run a manifest (or command-line globs) of analyses on Dask."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["batch_main"]


def _parser(prog: str, parser_cls: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = parser_cls(
        prog=prog,
        description=(
            "Analyse many data files x q rings with the homodyne pipeline on Dask (a local "
            "cluster by default, an existing scheduler, or SLURM/PBS through dask-jobqueue); "
            "resumable; writes summary.csv, summary.parquet and summary plots."
        ),
        epilog="See docs/batch.rst. Exit status: 0 all tasks done, 1 some failed, 2 usage or configuration error, 130/143 interrupted by SIGINT/SIGTERM.",
    )
    p.add_argument("manifest", nargs="?", help="batch manifest (.toml or .json)")
    src = p.add_argument_group("without a manifest")
    src.add_argument("--config", "-c", metavar="FILE", help="base configuration (JSON)")
    src.add_argument("--files", nargs="+", metavar="GLOB", help="data files (globs)")
    src.add_argument("--q", nargs="+", metavar="Q", help="q values [1/Å], or 'all'")
    src.add_argument("--method", choices=("classical", "mcmc", "all"))
    src.add_argument("--output", "-o", metavar="DIR", help="batch folder (default batch_results)")
    src.add_argument(
        "--joint-q", action="store_true", help="one joint fit per file over the selected q"
    )
    src.add_argument(
        "--metadata-column", metavar="NAME", help="file attribute for the summary's x axis"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the tasks (and which would run) and stop"
    )
    p.add_argument(
        "--force", action="store_true", help="run every task again, even those up to date"
    )
    p.add_argument(
        "--summary-only", action="store_true", help="rewrite the summary from the records"
    )
    p.add_argument("--no-plots", action="store_true", help="no summary plots")
    e = p.add_argument_group("engine (Dask)")
    e.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="join this Dask scheduler (address or scheduler file)",
    )
    e.add_argument(
        "--cluster", choices=("slurm", "pbs"), help="start workers as batch jobs (dask-jobqueue)"
    )
    e.add_argument(
        "--workers", type=int, metavar="N", help="local workers (default: one per core) / most jobs"
    )
    e.add_argument("--queue", help="jobqueue: partition/queue")
    e.add_argument("--account", help="jobqueue: account/project")
    e.add_argument("--walltime", help="jobqueue: wall time per job, e.g. 01:00:00")
    e.add_argument("--cores", type=int, help="jobqueue: cores per job")
    e.add_argument("--memory", help="jobqueue: memory per job, e.g. 8GB")
    e.add_argument(
        "--module", help="jobqueue: HPC module loaded in the job prologue (e.g. homodyne/cpu)"
    )
    e.add_argument(
        "--prologue",
        action="append",
        default=[],
        metavar="LINE",
        help="jobqueue: more job-script lines (repeatable)",
    )
    e.add_argument(
        "--job-directive",
        action="append",
        default=[],
        metavar="LINE",
        help="jobqueue: extra #SBATCH/#PBS directive, e.g. --gres=gpu:1",
    )
    e.add_argument(
        "--gpu", action="store_true", help="workers carry a GPU resource; MCMC tasks take one each"
    )
    e.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return p


def _manifest(a: argparse.Namespace, p: argparse.ArgumentParser) -> Any:
    from .manifest import load_manifest, manifest_from_dict

    if a.manifest:
        if a.files or a.config:
            p.error("give either a manifest or --config/--files, not both")
        m = load_manifest(a.manifest)
        for key in ("method", "metadata_column"):
            if getattr(a, key):
                setattr(m, key, getattr(a, key))
        if a.output:
            m.output = Path(a.output).resolve()
        if a.joint_q:
            m.joint_q = True
        return m
    if not a.config or not a.files:
        p.error("give a manifest, or --config FILE and --files GLOB...")
    raw: dict[str, Any] = {"config": a.config, "files": a.files, "method": a.method or "classical"}
    if a.q:
        raw["q"] = "all" if a.q == ["all"] else [float(v) for v in a.q]
    raw["output"] = a.output or "batch_results"
    raw["joint_q"] = bool(a.joint_q)
    if a.metadata_column:
        raw["metadata_column"] = a.metadata_column
    return manifest_from_dict(raw, source="command line", base=Path.cwd())


def batch_main(argv: Sequence[str], prog: str, parser_cls: type[argparse.ArgumentParser]) -> int:
    from .engine import EngineOptions
    from .run import plan, run_batch

    p = _parser(prog, parser_cls)
    a = p.parse_args(argv)
    if a.q and a.q != ["all"]:
        try:
            [float(v) for v in a.q]
        except ValueError:
            p.error(f"--q: expected numbers or 'all', got {a.q}")
    m = _manifest(a, p)
    if a.dry_run:
        print(plan(m, force=a.force).describe())
        return 0
    if a.summary_only:
        from .state import read_records
        from .summary import write_summary

        pl = plan(m)
        files = write_summary(m, pl.tasks, read_records(m.output), plots=not a.no_plots)
        for k, v in files.items():
            print(f"{k}: {v}")
        return 0
    opts = EngineOptions(
        scheduler=a.scheduler,
        cluster=a.cluster,
        workers=a.workers,
        queue=a.queue,
        account=a.account,
        walltime=a.walltime,
        cores=a.cores,
        memory=a.memory,
        module=a.module,
        prologue=a.prologue,
        job_directives=a.job_directive,
        gpu=a.gpu,
        log_directory=str(m.output / "jobs") if a.cluster else None,
    )
    stream = None if a.quiet else sys.stderr
    # closing the cluster after Ctrl-C/SIGTERM takes longer than a single run's unwinding
    grace = os.environ.get("HOMODYNE_INTERRUPT_GRACE")
    os.environ.setdefault("HOMODYNE_INTERRUPT_GRACE", "30")
    from ..runtime import signals

    def interrupted(signum: int) -> int:
        print(
            f"{prog}: interrupted; finished tasks are recorded in {m.output / 'state'}, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return signals.exit_code(signum)

    try:
        res = run_batch(m, opts, force=a.force, progress=stream, plots=not a.no_plots)
    except KeyboardInterrupt as exc:
        return interrupted(getattr(exc, "signum", None) or signals.interrupted() or 2)
    finally:
        if grace is None:
            os.environ.pop("HOMODYNE_INTERRUPT_GRACE", None)
    dropped = signals.interrupted()
    if dropped is not None:  # a library dropped the interruption and the batch ran on
        return interrupted(dropped)
    done = sum(1 for r in res.records.values() if r.get("status") == "done")
    print(
        f"{done}/{len(res.plan.tasks)} tasks done ({len(res.plan.skipped)} were up to date), "
        f"{res.n_failed} failed, {res.wall_time:.1f} s"
    )
    for k, v in res.summary.items():
        print(f"{k}: {v}")
    if res.n_failed:
        for r in res.records.values():
            if r.get("status") != "done":
                print(f"failed: {r['id']}: {r.get('error')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("HOMODYNE_GPU_INTENT", "false")
    sys.exit(batch_main(sys.argv[1:], "homodyne batch", argparse.ArgumentParser))
