"""Run a batch: plan (skip what is up to date), submit to Dask, record, summarise.

:func:`plan` compares the manifest's tasks with the state records; :func:`run_batch`
submits the tasks that need running, shows progress (done / running / failed, ETA and the
dashboard link), records tasks whose worker was lost, and writes the summary table and
plots at the end. Ctrl-C or SIGTERM cancels what is still queued or running, closes the
cluster it started (no worker processes are left) and leaves every finished task
recorded: running the same command again resumes the batch.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .engine import EngineOptions, open_client
from .manifest import Manifest
from .state import is_up_to_date, load_hash_cache, read_records, save_hash_cache, write_record
from .tasks import Task, clean_partials, expand_tasks, run_task

__all__ = ["BatchResult", "Plan", "plan", "run_batch"]

log = logging.getLogger(__name__)


@dataclass
class Plan:
    tasks: list[Task]
    to_run: list[Task]
    skipped: list[Task]
    reason: dict[str, str]  # task id -> why it runs (new, failed, changed input, ...)

    def describe(self) -> str:
        lines = [
            f"{len(self.tasks)} tasks: {len(self.to_run)} to run, {len(self.skipped)} up to date"
        ]
        for t in self.tasks:
            why = self.reason.get(t.id, "up to date (skipped)")
            q = ", ".join(f"{v:g}" for v in t.q)
            lines.append(f"  {t.id:<48s} q={q:<20s} {t.method:<9s} {why}")
        return "\n".join(lines)


def _why(task: Task, rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "new"
    if rec.get("status") == "failed":
        return "retry (failed before)"
    if rec.get("input_hash") != task.input_hash:
        return "input file changed"
    if rec.get("config_hash") != task.config_hash:
        return "configuration changed"
    return "results missing"


def plan(manifest: Manifest, *, force: bool = False) -> Plan:
    """The tasks of a manifest and which of them need running."""
    cache = load_hash_cache(manifest.output)
    tasks = expand_tasks(manifest, cache)
    with contextlib.suppress(OSError):
        save_hash_cache(manifest.output, cache)
    records = read_records(manifest.output)
    to_run, skipped, reason = [], [], {}
    for t in tasks:
        rec = records.get(t.id)
        if not force and is_up_to_date(t, rec):
            skipped.append(t)
        else:
            to_run.append(t)
            reason[t.id] = "forced" if force else _why(t, rec)
    return Plan(tasks, to_run, skipped, reason)


@dataclass
class BatchResult:
    plan: Plan
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Path] = field(default_factory=dict)
    dashboard: str | None = None
    interrupted: bool = False
    wall_time: float = 0.0

    @property
    def n_failed(self) -> int:
        return sum(1 for r in self.records.values() if r.get("status") != "done")


def _fmt_s(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Progress:
    """One status line per change: done / running / failed and the ETA."""

    def __init__(self, total: int, stream: TextIO | None, client: Any) -> None:
        self.total, self.stream, self.client = total, stream, client
        self.done = self.failed = 0
        self.start = time.monotonic()
        self._last = 0.0

    def running(self) -> int:
        try:
            return sum(len(v) for v in self.client.processing().values())
        except Exception:
            return -1

    def update(self, ok: bool, force: bool = False) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        now = time.monotonic()
        if self.stream is None or (
            not force and now - self._last < 1.0 and self.finished < self.total
        ):
            return
        self._last = now
        elapsed = now - self.start
        left = self.total - self.finished
        eta = elapsed / self.finished * left if self.finished else float("nan")
        run = self.running()
        print(
            f"[batch] {self.done}/{self.total} done, {max(run, 0)} running or queued, {self.failed} failed"
            + (f", ETA {_fmt_s(eta)}" if left and self.finished else "")
            + f" ({_fmt_s(elapsed)} elapsed)",
            file=self.stream,
            flush=True,
        )

    @property
    def finished(self) -> int:
        return self.done + self.failed


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (so both clean up alike).

    Only where nobody handles SIGTERM yet: the ``homodyne`` command's own signal guard
    (:mod:`homodyne.runtime.signals`) already turns it into an interruption.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _lost_record(task: Task, exc: BaseException) -> dict[str, Any]:
    return {
        "id": task.id,
        "file": task.file,
        "q": list(task.q),
        "method": task.method,
        "joint_q": task.joint_q,
        "input_hash": task.input_hash,
        "config_hash": task.config_hash,
        "status": "failed",
        "run_dir": None,
        "error": f"{type(exc).__name__}: {exc} (the worker running it was lost too often)",
        "wall_time_s": None,
    }


def run_batch(
    manifest: Manifest,
    engine: EngineOptions | None = None,
    *,
    force: bool = False,
    client: Any = None,
    progress: TextIO | None = sys.stderr,
    summary: bool = True,
    plots: bool = True,
) -> BatchResult:
    """Run every task of ``manifest`` that is not up to date; returns records and outputs.

    ``client``: an existing :class:`distributed.Client` to use (otherwise one is made from
    ``engine``, and its cluster is closed at the end).
    """
    t0 = time.monotonic()
    p = plan(manifest, force=force)
    result = BatchResult(p)
    manifest.output.mkdir(parents=True, exist_ok=True)
    if p.to_run:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(open_client(engine or EngineOptions()))
            result.dashboard = getattr(client, "dashboard_link", None)
            if progress is not None:
                print(
                    f"[batch] {len(p.to_run)} tasks to run ({len(p.skipped)} up to date) on "
                    f"{len(client.scheduler_info().get('workers', {}))} workers"
                    + (f"; dashboard: {result.dashboard}" if result.dashboard else ""),
                    file=progress,
                    flush=True,
                )
            stack.enter_context(_sigterm_as_interrupt())
            _submit_and_wait(client, p.to_run, result, progress, engine or EngineOptions())
    records = read_records(manifest.output)
    ids = {t.id for t in p.tasks}
    result.records = {k: v for k, v in records.items() if k in ids}
    for t in p.tasks:
        clean_partials(t)
    if summary:
        from .summary import write_summary

        result.summary = write_summary(manifest, p.tasks, result.records, plots=plots)
    result.wall_time = time.monotonic() - t0
    return result


def _submit_and_wait(
    client: Any, tasks: list[Task], result: BatchResult, stream: TextIO | None, opts: EngineOptions
) -> None:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {}
    for t in tasks:
        res = {"GPU": 1} if opts.gpu and t.method in ("mcmc", "all") else None
        fut = client.submit(run_task, t, key=f"homodyne-{t.id}-{token}", pure=False, resources=res)
        futures[fut] = t
    prog = _Progress(len(tasks), stream, client)
    try:
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # KilledWorker, CommClosedError, ...
                rec = _lost_record(task, exc)
                write_record(Path(task.output), rec)
            ok = rec.get("status") == "done"
            if not ok and stream is not None:
                print(f"[batch] {task.id}: failed: {rec.get('error')}", file=stream, flush=True)
            prog.update(ok, force=not ok)
            fut.release()
    except KeyboardInterrupt:
        result.interrupted = True
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        if stream is not None:
            print(
                f"[batch] interrupted: {prog.done} tasks finished and recorded; "
                "run the same command again to resume",
                file=stream,
                flush=True,
            )
        raise
