"""Resumable batch state: one JSON record per task under ``<output>/state/``.

Each record (written atomically, by the worker that ran the task or, for a task whose
worker was lost, by the submitting process) holds the task id, the input (file SHA-256)
and configuration hashes, the status (``done`` or ``failed``), wall time, host, run
folder and error. A rerun skips a task whose record is ``done`` with the same hashes
and whose run folder exists, and runs everything else again (failed, changed, new,
interrupted tasks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_write_text

__all__ = ["is_up_to_date", "read_records", "write_record"]


def state_dir(output: Path) -> Path:
    return Path(output) / "state"


def write_record(output: Path, record: dict[str, Any]) -> Path:
    path = state_dir(output) / f"{record['id']}.json"
    return atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def read_records(output: Path) -> dict[str, dict[str, Any]]:
    """Every task record of a batch folder (unreadable records are ignored)."""
    out: dict[str, dict[str, Any]] = {}
    d = state_dir(output)
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and "id" in rec:
            out[str(rec["id"])] = rec
    return out


def is_up_to_date(task: Any, record: dict[str, Any] | None) -> bool:
    """True when ``task`` finished before with the same input and configuration."""
    if not record or record.get("status") != "done":
        return False
    if record.get("input_hash") != task.input_hash or record.get("config_hash") != task.config_hash:
        return False
    run_dir = record.get("run_dir")
    return isinstance(run_dir, str) and (Path(run_dir) / "results.json").is_file()


def load_hash_cache(output: Path) -> dict[str, Any]:
    p = state_dir(output) / "file_hashes.cache"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def save_hash_cache(output: Path, cache: dict[str, Any]) -> None:
    atomic_write_text(state_dir(output) / "file_hashes.cache", json.dumps(cache, indent=1) + "\n")
