"""The batch summary: one tidy table (Parquet and CSV) and the summary plots.

One row per task and method: task id, status, file, sample name, the file's own
attributes (HDF5 root attributes of numbers or short strings, e.g. temperature), q, the
angles used, every fitted parameter (``<name>``, ``<name>_err`` for the classical
standard error or the posterior sd, ``<name>_hdi_low/high`` for MCMC), χ²_red, the
verdict (text and level, read defensively from results.json), wall time and the run
folder. Joint-q tasks add their q²-scaling check.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_call, atomic_write_text

__all__ = ["file_metadata", "summary_rows", "write_summary"]

log = logging.getLogger(__name__)


def file_metadata(path: str | Path) -> dict[str, Any]:
    """Scalar HDF5 root attributes of a data file, plus its sample name."""
    import h5py
    import numpy as np

    meta: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as h5:
            for key, val in h5.attrs.items():
                v = val
                if isinstance(v, bytes):
                    v = v.decode(errors="replace")
                if isinstance(v, np.ndarray) and v.size == 1:
                    v = v.reshape(-1)[0]
                if isinstance(v, np.generic):
                    v = v.item()
                if isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= 200):
                    meta[str(key)] = v
    except OSError as exc:
        log.warning("%s: cannot read its attributes (%s)", path, exc)
    sample = meta.get("sample_name", meta.get("sample", Path(path).stem))
    meta.setdefault("sample", str(sample))
    return meta


def _verdict(doc: dict[str, Any], block: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(text, level) of a verdict wherever results.json keeps it (string or dict)."""
    for v in (doc.get("verdict"), (block or {}).get("verdict")):
        if isinstance(v, dict):
            level = v.get("level") or v.get("status")
            if level is None and "passed" in v:
                level = "good" if v["passed"] else "not-converged"
            return (str(v.get("text") or v.get("summary") or level), str(level) if level else None)
        if isinstance(v, str):
            low = v.lower()
            level = (
                "good"
                if low.startswith("good")
                else "not-converged"
                if low.startswith("failed")
                else "wrong-noise"
                if low.startswith("poor")
                else None
            )
            return v, level
    return None, None


def _rows_of(doc: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    inp = doc.get("input") or {}
    base = {
        **base,
        "q": inp.get("q", base.get("q")),
        "phi_used": json.dumps(inp.get("phi_used")) if inp.get("phi_used") is not None else None,
        "n_angles": len(inp["phi_used"]) if isinstance(inp.get("phi_used"), list) else None,
        "mode": doc.get("analysis_mode"),
    }
    cl = doc.get("classical")
    if isinstance(cl, dict):
        row = {**base, "method": "classical"}
        for name, p in (cl.get("parameters") or {}).items():
            row[name] = p.get("value")
            row[f"{name}_err"] = p.get("stderr")
        row["chi2_red"] = cl.get("reduced_chi2")
        row["converged"] = cl.get("converged")
        row["verdict"], row["verdict_level"] = _verdict(doc, cl)
        rows.append(row)
    mc = doc.get("mcmc") or doc.get("mcmc_joint")  # a joint-q run: the joint posterior
    if isinstance(mc, dict):
        row = {**base, "method": "mcmc"}
        for name, p in (mc.get("parameters") or {}).items():
            row[name] = p.get("mean")
            row[f"{name}_err"] = p.get("sd")
            row[f"{name}_hdi_low"] = p.get("hdi_3%")
            row[f"{name}_hdi_high"] = p.get("hdi_97%")
        row["chi2_red"] = None  # the χ² of results.json is the classical fit's (its own row)
        v = mc.get("verdict")
        row["converged"] = v.get("passed") if isinstance(v, dict) else None
        row["verdict"], row["verdict_level"] = _verdict({}, mc)
        rows.append(row)
    jq = doc.get("joint_q")
    if isinstance(jq, dict):
        for row in rows:
            row["q"] = json.dumps(jq.get("q"))
            chk = jq.get("q2_scaling") or {}
            row["q2_scaling_ok"] = chk.get("consistent")
            row["q2_scaling_p"] = chk.get("p_value")
    if not rows:
        rows.append({**base, "method": None})
    return rows


def summary_rows(tasks: list[Any], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The table rows of a batch (tasks without a record appear as 'pending')."""
    meta_cache: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for t in tasks:
        rec = records.get(t.id) or {"status": "pending"}
        if t.file not in meta_cache:
            meta_cache[t.file] = file_metadata(t.file)
        base = {
            "task": t.id,
            "status": rec.get("status"),
            "file": t.file,
            **{f"meta_{k}": v for k, v in meta_cache[t.file].items()},
            "q": t.q[0] if len(t.q) == 1 else json.dumps(list(t.q)),
            "joint_q": t.joint_q,
            "wall_time_s": rec.get("wall_time_s"),
            "run_dir": rec.get("run_dir"),
            "error": rec.get("error"),
        }
        doc = None
        if rec.get("status") == "done" and rec.get("run_dir"):
            try:
                doc = json.loads(
                    (Path(rec["run_dir"]) / "results.json").read_text(encoding="utf-8")
                )
            except (OSError, json.JSONDecodeError) as exc:
                base["error"] = f"results.json unreadable: {exc}"
        rows.extend(
            _rows_of(doc, base) if isinstance(doc, dict) else [{**base, "method": t.method}]
        )
    # a tidy table: every row has every column
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return [{c: r.get(c) for c in cols} for r in rows]


def varying_metadata(rows: list[dict[str, Any]]) -> list[str]:
    """Metadata columns whose value differs between files."""
    out = []
    for c in rows[0] if rows else []:
        if c.startswith("meta_") and c != "meta_sample":
            vals = {json.dumps(r.get(c), default=str) for r in rows}
            if len(vals) > 1:
                out.append(c)
    return out


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(rows[0]) if rows else []
    arrays = {}
    for c in cols:
        vals = [r[c] for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds <= {int, float} and kinds:
            vals = [None if v is None else float(v) for v in vals]
        elif kinds - {bool}:
            vals = [None if v is None else (v if isinstance(v, str) else str(v)) for v in vals]
        arrays[c] = pa.array(vals)
    table = pa.table(arrays)
    atomic_call(path, lambda tmp: pq.write_table(table, tmp), suffix=".parquet")


def write_summary(
    manifest: Any, tasks: list[Any], records: dict[str, dict[str, Any]], *, plots: bool = True
) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.parquet`` and the plots into the batch folder."""
    out = Path(manifest.output)
    rows = summary_rows(tasks, records)
    written: dict[str, Path] = {}
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [])
    w.writeheader()
    w.writerows(rows)
    written["csv"] = atomic_write_text(out / "summary.csv", buf.getvalue())
    try:
        _write_parquet(out / "summary.parquet", rows)
        written["parquet"] = out / "summary.parquet"
    except ImportError:
        log.warning("pyarrow is not installed: summary.parquet not written (CSV only)")
    if plots and rows:
        from .plots import plot_summary

        written.update(plot_summary(out, rows, manifest.metadata_column))
    return written
