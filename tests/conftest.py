"""Shared fixtures (real HDF5 files written by the package's own simulator) and the rules
every test runs under (see docs/testing.rst):

* a test leaves ``os.environ`` and the working directory as it found them: a leak is
  undone and reported as an error of the test that made it (use ``monkeypatch``);
* with ``CI=true`` a test that skips because something is not installed fails instead
  (gpu-marked tests excepted, and tests/hpc outside its own stage, ``HOMODYNE_HPC_DEPLOY=1``);
* tests under tests/mcmc carry the ``mcmc`` marker, those that sample through the shared
  backend runs also ``slow``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from homodyne.config import template
from homodyne.data.simulate import REALISTIC_PARAMS

#: The laminar-flow truth used across the tests (a realistic APS 8-ID-I point, φ0 = 5°).
LAMINAR_TRUTH = {**REALISTIC_PARAMS, "phi0": 5.0}
STATIC_TRUTH = {"D0": 1324.1, "alpha": -0.3, "D_offset": 20.0}


@pytest.fixture(scope="session")
def laminar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from homodyne.data import write_simulated_file

    path = tmp_path_factory.mktemp("data") / "laminar.h5"
    return write_simulated_file(
        path,
        mode="laminar_flow",
        params=LAMINAR_TRUTH,
        n_frames=120,
        contrast=0.3,
        noise_sigma=0.003,
        seed=7,
    )


@pytest.fixture(scope="session")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from homodyne.data import write_simulated_file

    path = tmp_path_factory.mktemp("data") / "static.h5"
    return write_simulated_file(
        path,
        mode="static_anisotropic",
        params=STATIC_TRUTH,
        n_frames=100,
        contrast=0.25,
        noise_sigma=0.003,
        seed=3,
        layout="aps_old",
    )


def write_config(folder: Path, mode: str, data_file: Path | None, **sections: dict) -> Path:
    """A template config with some sections updated; returns its path."""
    cfg = template(mode, data_file=str(data_file) if data_file else None)
    for name, values in sections.items():
        if name == "parameters":
            for pname, pvals in values.items():
                cfg["parameters"][pname].update(pvals)
        else:
            cfg[name].update(values)
    cfg["output"]["directory"] = str(folder / "out")
    path = folder / f"{mode}.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# --------------------------------------------------------------------------- isolation
#: Variables that pytest changes while a test runs, and that libraries set once when first
#: imported (JAX: TF_CPP_MIN_LOG_LEVEL, TPU_SKIP_MDS_QUERY; threadpoolctl:
#: KMP_DUPLICATE_LIB_OK): not the test's doing, and read only at import.
_RUNNER_VARIABLES = {
    "PYTEST_CURRENT_TEST",
    "TF_CPP_MIN_LOG_LEVEL",
    "TPU_SKIP_MDS_QUERY",
    "KMP_DUPLICATE_LIB_OK",
}


@pytest.fixture(autouse=True)
def _no_leaked_environment() -> Iterator[None]:
    """Fail a test that changes os.environ or the working directory without undoing it.

    Autouse fixtures are set up first and torn down last, so ``monkeypatch`` has already
    restored what it changed when this runs; anything still different is a leak. It is
    undone here, so that one leaking test cannot change the outcome of the tests after it.
    """
    env, cwd = dict(os.environ), os.getcwd()
    yield
    now = dict(os.environ)
    changed = sorted(
        k for k in set(env) | set(now) if env.get(k) != now.get(k) and k not in _RUNNER_VARIABLES
    )
    moved = os.getcwd() != cwd
    if changed:
        for k in changed:
            if k in env:
                os.environ[k] = env[k]
            else:
                os.environ.pop(k, None)
    if moved:
        os.chdir(cwd)
    if changed or moved:
        what = [f"environment variables {changed}"] if changed else []
        what += [f"the working directory ({cwd} -> {os.getcwd()})"] if moved else []
        pytest.fail(
            f"the test left {' and '.join(what)} changed; use monkeypatch.setenv/delenv/chdir",
            pytrace=False,
        )


def keep_environment(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Have ``monkeypatch`` restore these variables after the test, set or not.

    ``monkeypatch.delenv(name, raising=False)`` records nothing when the variable is not
    set, so a variable that the code under test then sets (the CLI's
    HOMODYNE_MCMC_BACKEND, the JAX variables the NumPyro backend sets before importing
    JAX) would outlive the test. Setting it first makes monkeypatch remember its absence.
    """
    for name in names:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)


#: What the NumPyro backend and the GPU wrapper set in this process before importing JAX.
JAX_ENVIRONMENT = (
    "HOMODYNE_GPU_INTENT",
    "JAX_ENABLE_X64",
    "JAX_PLATFORMS",
    "XLA_FLAGS",
    "XLA_PYTHON_CLIENT_PREALLOCATE",
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


_MISSING = ("not installed", "could not import", "no module named")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under CI=true a skip for a missing installable part is a failure, not a pass."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    if not any(m in reason.lower() for m in _MISSING):
        return
    if item.get_closest_marker("gpu") is not None:
        return  # CI machines have no GPU; gpu tests run where one is (HOMODYNE_REQUIRE_GPU)
    in_hpc = "hpc" in Path(str(item.fspath)).parts
    if in_hpc and os.environ.get("HOMODYNE_HPC_DEPLOY") != "1":
        return  # tests/hpc needs the module tools that only its own stage installs
    report.outcome = "failed"
    report.longrepr = f"CI=true and a required part is missing: {reason}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``mcmc`` on everything in tests/mcmc; ``slow`` on the tests that sample a posterior
    through the shared worker runs (minutes each on two cores)."""
    mcmc_dir = Path(__file__).parent / "mcmc"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(mcmc_dir):
            item.add_marker(pytest.mark.mcmc)
        # (tests/mcmc/test_backends.py reaches them through its session fixture "runs")
        uses = set(getattr(item, "fixturenames", ()))
        if {"pymc_run", "numpyro_run"} & uses or (
            item.module.__name__.endswith("test_backends") and "runs" in uses
        ):
            item.add_marker(pytest.mark.slow)
