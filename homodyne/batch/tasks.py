"""Batch tasks: one (file, q) analysis each (one file over several q with ``joint_q``).

:func:`expand_tasks` turns a manifest into tasks, each carrying its complete, validated
configuration as plain data, its input (file SHA-256) and configuration hashes and the
name of its run folder. :func:`run_task` is what a Dask worker executes: it runs the
existing pipeline (:func:`homodyne.analysis.run_analysis`, or :func:`homodyne.joint.run_joint`)
unchanged into the task's own run folder and writes the task's state record.

A task's run folder is ``<output>/runs/<task id>``; it is written atomically by
:mod:`homodyne.results.writer` (a hidden ``.<id>.*.partial`` folder renamed into place), and
the task replaces any earlier folder of its id, so a retry after a lost worker never
leaves two results. Partial folders of a dead attempt are removed when the task runs
again (same host) and when the batch ends (any host).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from .manifest import Manifest

__all__ = ["Task", "expand_tasks", "file_q_rings", "run_task"]


@dataclass(frozen=True)
class Task:
    """One unit of work of a batch (plain data, cheap to send to a worker)."""

    id: str
    file: str
    q: tuple[float, ...]  # one q, or the q rings of a joint fit
    method: str
    joint_q: bool
    config: dict[str, Any]  # the complete configuration of this task
    config_path: str  # the base configuration (relative data paths resolve from here)
    output: str  # the batch folder
    input_hash: str
    config_hash: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / "runs" / self.id

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["q"] = list(self.q)
        return d


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "file"


def _canonical_hash(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_hash(path: Path, cache: dict[str, Any] | None = None) -> str:
    """SHA-256 of a file's bytes; memoised in ``cache`` by (path, size, mtime)."""
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    if cache is not None and key in cache:
        return str(cache[key])
    from ..data import file_sha256

    digest = str(file_sha256(path))
    if cache is not None:
        cache[key] = digest
    return digest


def file_q_rings(path: Path, layout: str = "auto") -> list[float]:
    """The q rings stored in an APS file (mean q of each ring, ascending)."""
    from ..data.hdf5_io import open_hdf5
    from ..data.loader import _LAYOUTS, _q_rings, detect_layout

    with open_hdf5(path) as h5:
        lay = detect_layout(h5, path, layout)
        table = _LAYOUTS[lay][1](h5, path)
    _, rings = _q_rings(table.q)
    return [float(v) for v in rings]


def _task_config(manifest: Manifest, base: dict[str, Any], path: Path, q: float) -> dict[str, Any]:
    from ..config import config_from_dict

    cfg = json.loads(json.dumps(base))
    for section, values in manifest.overrides_for(path).items():
        if section == "parameters":
            for name, entry in values.items():
                cur = cfg.setdefault("parameters", {}).setdefault(name, {})
                cur.update(entry if isinstance(entry, dict) else {"value": entry})
        else:
            cfg.setdefault(section, {}).update(values)
    cfg.setdefault("data", {})
    cfg["data"]["file"] = str(path)
    cfg["data"]["q"] = q
    source = f"{manifest.config} (with the overrides of {manifest.source} for {path.name})"
    # validated like a configuration file, so a bad override fails before any work
    return config_from_dict(cfg, source=source, path=manifest.config).to_dict()


def expand_tasks(manifest: Manifest, hash_cache: dict[str, Any] | None = None) -> list[Task]:
    """The tasks of a manifest, in file order then q order (validated, hashed)."""
    from ..config import load_config

    base_cfg = load_config(manifest.config)
    base = base_cfg.to_dict()
    tasks: list[Task] = []
    seen: set[str] = set()
    for path in manifest.files:
        if manifest.q == "all":
            try:
                qs = file_q_rings(path, base["data"]["layout"])
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"{path}: cannot list its q rings ({exc})") from exc
        elif manifest.q is None:
            qs = [float(base["data"]["q"])]
        else:
            qs = [float(v) for v in manifest.q]
        digest = file_hash(path, hash_cache)
        groups = [tuple(qs)] if manifest.joint_q else [(q,) for q in qs]
        for group in groups:
            cfg = _task_config(manifest, base, path, group[0])
            if manifest.joint_q:
                tid = f"{_slug(path.stem)}__joint-q{len(group)}__{manifest.method}"
            else:
                tid = f"{_slug(path.stem)}__q{group[0]:.5g}__{manifest.method}"
            if tid in seen:
                tid = f"{tid}__{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
            if tid in seen:
                raise ConfigError(f"{manifest.source}: q {group} of {path} is listed twice")
            seen.add(tid)
            chash = _canonical_hash(
                {
                    "config": cfg,
                    "q": list(group),
                    "method": manifest.method,
                    "joint": manifest.joint_q,
                }
            )
            tasks.append(
                Task(
                    id=tid,
                    file=str(path),
                    q=tuple(float(v) for v in group),
                    method=manifest.method,
                    joint_q=manifest.joint_q,
                    config=cfg,
                    config_path=str(manifest.config),
                    output=str(manifest.output),
                    input_hash=digest,
                    config_hash=chash,
                )
            )
    if not tasks:
        raise ConfigError(f"{manifest.source}: the manifest gives no task")
    return tasks


def clean_partials(task: Task) -> list[Path]:
    """Remove hidden partial folders left by an interrupted attempt of this task."""
    runs = task.run_dir.parent
    removed = []
    if runs.is_dir():
        for p in runs.glob(f".{task.id}.*"):
            if p.name.endswith(".partial") or ".old-" in p.name:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def run_task(task: Task) -> dict[str, Any]:
    """Run one task in this process (what a worker executes); returns its state record.

    The record is also written atomically to the batch's state folder, so a task that
    finished is recorded even when the process that submitted it is gone.
    """
    from ..config import config_from_dict
    from .state import write_record

    start = time.time()
    cpu0 = time.thread_time()  # this task's own CPU (not the worker's other threads)
    # (temporary folders of a killed attempt on this host are removed by the run's
    # reservation, results.guard; any left by a lost host when the batch ends)
    record: dict[str, Any] = {
        "id": task.id,
        "file": task.file,
        "q": list(task.q),
        "method": task.method,
        "joint_q": task.joint_q,
        "input_hash": task.input_hash,
        "config_hash": task.config_hash,
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID"),
        "modules": os.environ.get("LOADEDMODULES"),
    }
    try:
        cfg = json.loads(json.dumps(task.config))
        cfg["output"].update(
            {"directory": str(task.run_dir.parent), "run_name": task.id, "overwrite": True}
        )
        config = config_from_dict(cfg, source=f"batch task {task.id}", path=Path(task.config_path))
        command = ["homodyne", "batch", "task", task.id]
        if task.joint_q:
            from ..joint import run_joint

            outcome = run_joint(config, q_values=list(task.q), method=task.method, command=command)
            run_dir = outcome.run_dir
            converged = outcome.success
        else:
            from ..analysis import run_analysis

            out = run_analysis(config, method=task.method, command=command, quiet=True)
            run_dir = out.run_dir
            converged = out.classical is None or bool(out.classical.success)
        record.update(status="done", run_dir=str(run_dir), converged=converged, error=None)
    except Exception as exc:
        record.update(
            status="failed",
            run_dir=None,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8),
        )
    record["wall_time_s"] = round(time.time() - start, 3)
    record["cpu_time_s"] = round(time.thread_time() - cpu0, 3)
    write_record(Path(task.output), record)
    return record
