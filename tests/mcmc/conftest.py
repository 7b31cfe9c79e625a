"""MCMC test helpers: fresh-interpreter runs of each backend, and the GPU skip rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
STACK_MODULES = ("pymc", "pytensor", "jax", "jaxlib", "numpyro")


def run_python(
    code: str, *, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (no stack inherited from the test process)."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


def run_worker(backend: str, outdir: Path, *args: str, timeout: float = 900) -> dict:
    """Run ``_worker.py`` for one backend (other stack hidden) and return its report."""
    return run_worker_script(
        "_worker.py", backend, str(outdir), *args, outdir=outdir, timeout=timeout
    )


def run_worker_script(script: str, *args: str, outdir: Path, timeout: float = 900) -> dict:
    """Run a worker script of this folder in a fresh interpreter; return its report.json."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    env.pop("HOMODYNE_MCMC_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{script} {args} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return json.loads((outdir / "report.json").read_text())


def _needs(modules: tuple[str, ...]) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


HAVE_PYMC = _needs(("pymc", "pytensor", "arviz"))
HAVE_NUMPYRO = _needs(("numpyro", "jax", "arviz"))


def _shared_run(tmp_path_factory: pytest.TempPathFactory, backend: str) -> tuple[dict, Path]:
    """Run the worker once per test session, also under pytest-xdist.

    The folder above the worker's base temp is shared by all xdist workers of a session;
    the first to get here runs the backend, the others wait on the lock and reuse it.
    """
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # basetemp is <session>/popen-gwN
        base = base.parent
    root = base / f"mcmc_{backend}_run"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = root / "report.json"
        if report.exists():
            return json.loads(report.read_text()), root
        failed = root / "failed.txt"
        if failed.exists():
            raise AssertionError(failed.read_text())
        try:
            return run_worker(backend, root), root
        except AssertionError as exc:
            failed.write_text(str(exc))
            raise


@pytest.fixture(scope="session")
def pymc_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    if not HAVE_PYMC:
        pytest.skip("PyMC backend not installed (pip install 'homodyne-analysis[mcmc]')")
    return _shared_run(tmp_path_factory, "pymc")


@pytest.fixture(scope="session")
def numpyro_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    if not HAVE_NUMPYRO:
        pytest.skip("NumPyro backend not installed (pip install 'homodyne-analysis[mcmc-gpu]')")
    return _shared_run(tmp_path_factory, "numpyro")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests cleanly unless JAX would see a GPU (decided without importing JAX)."""
    from homodyne.runtime.gpu import gpu_visible

    # the marker, not the keywords: a test id or name that merely contains "gpu" (the
    # HPC modulefile tests parametrised over cpu/gpu) is not a GPU test
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or gpu_visible():
        return
    if os.environ.get("HOMODYNE_REQUIRE_GPU"):
        raise pytest.UsageError(
            "HOMODYNE_REQUIRE_GPU is set but no GPU is visible to JAX here "
            "(needs a CUDA jaxlib and an NVIDIA device)"
        )
    skip = pytest.mark.skip(
        reason="no GPU visible to JAX here (needs a CUDA jaxlib and an NVIDIA device)"
    )
    for item in gpu_items:
        item.add_marker(skip)
