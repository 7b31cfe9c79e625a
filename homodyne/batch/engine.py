"""Where the tasks run: Dask (distributed), from a laptop to a SLURM or PBS cluster.

* default: an embedded :class:`distributed.LocalCluster`, one single-threaded worker
  process per core (``--workers`` to change), memory split evenly;
* ``--scheduler ADDRESS``: join a running Dask scheduler (``tcp://host:8786`` or a
  scheduler file);
* ``--cluster slurm|pbs``: a dask-jobqueue cluster. Its settings come from the site's
  Dask configuration (``~/.config/dask/jobqueue.yaml`` or ``DASK_CONFIG``, keys
  ``jobqueue.slurm.*`` / ``jobqueue.pbs.*``); the options given here (queue, account,
  walltime, cores, memory, the HPC module loaded in the job prologue (after the
  ``--prologue`` lines, e.g. ``module use /site/modulefiles``), extra directives
  such as ``--gres=gpu:1``) override them. The cluster scales adaptively between 0 and
  ``max_jobs`` jobs.

GPU workers: start the workers with a resource (``--gpu`` adds ``--resources GPU=1`` to
jobqueue workers; for your own workers run ``dask worker ADDRESS --resources GPU=1``) and
MCMC tasks then ask for ``GPU=1``, so at most one MCMC task runs per GPU.

MCMC tasks start their chains in processes of their own, which Dask's default daemonic
worker processes may not do: the clusters made here start non-daemonic workers; workers
started by hand need ``DASK_DISTRIBUTED__WORKER__DAEMON=False`` in their environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendUnavailableError, ConfigError

__all__ = ["EngineOptions", "open_client"]

log = logging.getLogger(__name__)


#: Dask settings of the workers the batch starts:
#:
#: * non-daemonic worker processes: an MCMC task starts its chains in processes of its own;
#: * no statistical profiler (its 10 ms samples cost CPU on every task);
#: * the nanny's pre-spawn environment without ``MALLOC_TRIM_THRESHOLD_``: setting it turns
#:   off glibc's adaptive mmap threshold, so every large NumPy temporary is mmap'ed and
#:   page-faulted afresh, which doubled the CPU time of a laminar 8 x 200² fit (measured
#:   with benchmarks/bench_batch.py); the BLAS/OpenMP single-thread settings are kept.
WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.daemon": False,
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
}
#: The same for workers started by dask-jobqueue (exported in the job script).
WORKER_ENV = {
    "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "\"{'OMP_NUM_THREADS': 1, 'MKL_NUM_THREADS': 1, 'OPENBLAS_NUM_THREADS': 1}\"",
}


@dataclass
class EngineOptions:
    """How to get a Dask client (see the module docstring)."""

    scheduler: str | None = None
    cluster: str | None = None  # None (local) | "slurm" | "pbs"
    workers: int | None = None  # local workers / most jobqueue jobs
    queue: str | None = None
    account: str | None = None
    walltime: str | None = None
    cores: int | None = None
    memory: str | None = None
    module: str | None = None  # HPC module loaded in the job prologue
    module_init: str = "/etc/profile"  # sourced first when `module` is not defined
    prologue: list[str] = field(default_factory=list)  # more job-script lines
    job_directives: list[str] = field(default_factory=list)
    python: str | None = None
    gpu: bool = False
    log_directory: str | None = None
    dashboard: bool = True

    def jobqueue_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a dask-jobqueue cluster: only what was given here."""
        kw: dict[str, Any] = {}
        for name in ("queue", "account", "walltime", "cores", "memory", "python", "log_directory"):
            v = getattr(self, name)
            if v is not None:
                kw[name] = v
        if self.cores is not None:
            kw["processes"] = self.cores  # one single-threaded worker per core
        prologue = list(self.prologue)
        if self.module or any(line.lstrip().startswith("module ") for line in prologue):
            # batch shells are not login shells: define `module` when the site has not
            prologue.insert(0, f"type module >/dev/null 2>&1 || . {self.module_init}")
        if self.module:
            prologue.append(f"module load {self.module}")
        prologue += [f"export {k}={v}" for k, v in WORKER_ENV.items()]
        kw["job_script_prologue"] = prologue
        if self.job_directives:
            kw["job_extra_directives"] = list(self.job_directives)
        if self.gpu:
            kw["worker_extra_args"] = ["--resources", "GPU=1"]
        return kw


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised without the extra only
        raise BackendUnavailableError(
            "batch analysis needs Dask: pip install 'homodyne-analysis[batch]' "
            "(conda: dask distributed dask-jobqueue pyarrow)"
        ) from exc


def local_worker_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_client(opts: EngineOptions) -> Iterator[Any]:
    """A connected :class:`distributed.Client`; the cluster it created is closed on exit."""
    _require_dask()
    from distributed import Client

    if opts.scheduler and opts.cluster:
        raise ConfigError("--scheduler and --cluster exclude each other: give one")
    if opts.scheduler:
        target = opts.scheduler
        if os.path.isfile(target):
            client = Client(scheduler_file=target)
        else:
            client = Client(target)
        try:
            yield client
        finally:
            client.close()
        return
    if opts.cluster:
        cluster = _jobqueue_cluster(opts)
        try:
            cluster.adapt(minimum=0, maximum=opts.workers or 4)
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
        return
    import dask
    from distributed import LocalCluster

    n = opts.workers or local_worker_count()
    stack = contextlib.ExitStack()
    stack.enter_context(dask.config.set(WORKER_CONFIG))  # see WORKER_CONFIG
    # the nanny sets its pre-spawn variables in this process too: put them back afterwards
    stack.callback(_restore_environ, dict(os.environ))
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port (several batches may run at once)
        silence_logs=logging.ERROR,
        resources={"GPU": 1} if opts.gpu else None,
    )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
        stack.close()


def _restore_environ(saved: dict[str, str]) -> None:
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _jobqueue_cluster(opts: EngineOptions) -> Any:
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise BackendUnavailableError(
            "--cluster needs dask-jobqueue: pip install 'homodyne-analysis[batch]'"
        ) from exc
    classes = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}
    if opts.cluster not in classes:
        raise ConfigError(f"--cluster: expected one of {', '.join(classes)}, got {opts.cluster!r}")
    kw = opts.jobqueue_kwargs()
    try:
        return classes[opts.cluster](**kw)
    except ValueError as exc:  # e.g. cores/memory neither configured nor given
        raise ConfigError(
            f"--cluster {opts.cluster}: {exc}; give --cores and --memory or set "
            f"jobqueue.{opts.cluster}.* in the site's Dask configuration (jobqueue.yaml)"
        ) from exc
