"""Signals during MCMC runs: PyMC (forked sampling processes) and NumPyro (chains in
threads of one process, or in spawned worker processes). Each run is a real
``homodyne`` / ``homodyne-gpu`` process on a small static problem."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from ..mcmc.conftest import HAVE_NUMPYRO, HAVE_PYMC
from .conftest import STOP_S, Cmd, children, leftovers, write_cfg

pytestmark = pytest.mark.mcmc

#: Long enough that sampling is still going when the signal comes.
LONG = ["--method", "mcmc", "--draws", "20000", "--tune", "500", "--chains", "2", "--no-plots"]


def _start(tmp_path: Path, small_file: Path, *, gpu: bool, env: dict | None = None) -> Cmd:
    cfg = write_cfg(tmp_path, "static_isotropic", small_file)
    return Cmd(["-c", str(cfg), "--run-name", "run", *LONG], cwd=tmp_path, gpu=gpu, env=env)


def _assert_interrupted(cmd: Cmd, sig: int, t0: float, backend: str, tmp_path: Path) -> None:
    code = cmd.finish(timeout=120)
    elapsed = time.monotonic() - t0
    assert code == 128 + sig, cmd.stderr
    assert elapsed < STOP_S, f"{elapsed:.1f} s to stop"
    lines = [ln for ln in cmd.stderr.splitlines() if "interrupted by" in ln]
    assert len(lines) == 1, cmd.stderr
    assert f"interrupted by {signal.Signals(sig).name} during MCMC ({backend})" in lines[0]
    assert "results written" not in cmd.stdout
    assert not (tmp_path / "out" / "run").exists()
    assert leftovers(tmp_path / "out") == []
    cmd.assert_no_process_left()
    assert len(cmd.seen) > 1  # there were worker processes, and they are gone


# --------------------------------------------------------------------------- PyMC
needs_pymc = pytest.mark.skipif(not HAVE_PYMC, reason="PyMC not installed")


def _pymc_sampling(cmd: Cmd) -> None:
    cmd.wait_for(r"NUTS: \[z\]", timeout=600)
    cmd.wait_until(lambda: len(children(cmd.proc.pid)) >= 2, "two sampling processes")
    cmd.wait_for(r"Sampling|Multiprocess", timeout=60)


@needs_pymc
@pytest.mark.parametrize(("sig", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_pymc_interrupted_while_sampling(
    sig: int, group: bool, tmp_path: Path, small_file: Path
) -> None:
    """Ctrl-C (SIGINT to the group) and SIGTERM (to the parent only): PyMC returns a
    partial trace after the interruption; the run must not save it as a result."""
    cmd = _start(tmp_path, small_file, gpu=False)
    _pymc_sampling(cmd)
    t0 = cmd.signal(sig, group=group)
    _assert_interrupted(cmd, sig, t0, "PyMC_CPU", tmp_path)


@needs_pymc
def test_pymc_workers_die_with_a_killed_parent(tmp_path: Path, small_file: Path) -> None:
    cmd = _start(tmp_path, small_file, gpu=False)
    _pymc_sampling(cmd)
    workers = children(cmd.proc.pid)
    cmd.signal(signal.SIGKILL)
    assert cmd.finish(timeout=60) == -signal.SIGKILL
    cmd.assert_no_process_left(timeout=10)  # parent-death signal: no orphaned sampler
    assert workers and not (tmp_path / "out" / "run").exists()


# --------------------------------------------------------------------------- NumPyro
needs_numpyro = pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro/JAX not installed")


@needs_numpyro
def test_numpyro_in_process_chains_stop_within_seconds(tmp_path: Path, small_file: Path) -> None:
    """Chains in threads of one process ('parallel'): the main thread sits in an XLA
    program that runs no Python; the watchdog ends the run after its grace time."""
    cmd = _start(tmp_path, small_file, gpu=True, env={"HOMODYNE_CHAIN_METHOD": "parallel"})
    cmd.wait_for(r"NumPyro NUTS:", timeout=600)
    t0 = cmd.signal(signal.SIGINT, group=True)
    code = cmd.finish(timeout=120)
    assert code == 130, cmd.stderr
    assert time.monotonic() - t0 < STOP_S
    assert "interrupted by SIGINT during MCMC (NumPyro_GPU_JAX)" in cmd.stderr
    assert "Segmentation" not in cmd.stderr and "Traceback" not in cmd.stderr
    assert not (tmp_path / "out" / "run").exists() and leftovers(tmp_path / "out") == []
    cmd.assert_no_process_left()


@needs_numpyro
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_numpyro_worker_processes(sig: int, tmp_path: Path, small_file: Path) -> None:
    """The 'processes' chain method: spawned workers are stopped on SIGTERM and die with
    the parent on SIGKILL. Warnings are shown (the other runs here hide them): the
    resource tracker, which outlives the run by a moment, must find no semaphore that a
    killed worker left registered (chain 0's progress bar is running when the signal
    comes, and tqdm's default lock is such a semaphore)."""
    env = {
        "HOMODYNE_CHAIN_METHOD": "processes",
        "PYTHONWARNINGS": "default",
        # NumPyro hides its progress bar under CI and pytest-xdist; this test needs it
        "CI": None,
        "PYTEST_XDIST_WORKER": None,
    }
    cmd = _start(tmp_path, small_file, gpu=True, env=env)
    cmd.wait_for(r"NumPyro NUTS:", timeout=600)
    # the spawned workers (a resource tracker may be a further child)
    cmd.wait_until(lambda: len(children(cmd.proc.pid)) >= 2, "the chain worker processes")
    cmd.wait_for(r"\| *\d+/\d+ \[", timeout=600)  # chain 0 shows its bar: it is sampling
    t0 = cmd.signal(sig)
    if sig == signal.SIGKILL:
        assert cmd.finish(timeout=60) == -signal.SIGKILL
        cmd.assert_no_process_left(timeout=10)
        assert not (tmp_path / "out" / "run").exists()
    else:
        _assert_interrupted(cmd, sig, t0, "NumPyro_GPU_JAX", tmp_path)
        # finish() read stderr to its end, which the tracker holds open until it exits;
        # the one line, no tracebacks or warnings of multiprocessing's clean-up after it
        assert "Traceback" not in cmd.stderr and "resource_tracker" not in cmd.stderr, cmd.stderr
