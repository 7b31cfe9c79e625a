"""Batch analysis of many files and q rings on Dask, with a summary table and plots.

Python API::

    from homodyne.batch import load_manifest, plan, run_batch, EngineOptions
    m = load_manifest("batch.toml")
    print(plan(m).describe())                       # the dry run
    result = run_batch(m, EngineOptions(workers=4))  # LocalCluster of 4 workers
    result.summary["parquet"]                        # the tidy table

See ``docs/batch.rst``.
"""

from .engine import EngineOptions
from .manifest import Manifest, load_manifest, manifest_from_dict
from .run import BatchResult, Plan, plan, run_batch
from .tasks import Task, expand_tasks, run_task

__all__ = [
    "BatchResult",
    "EngineOptions",
    "Manifest",
    "Plan",
    "Task",
    "expand_tasks",
    "load_manifest",
    "manifest_from_dict",
    "plan",
    "run_batch",
    "run_task",
]
