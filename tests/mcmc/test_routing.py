"""HOMODYNE_GPU_INTENT routing, the plugin entry point, the legacy facade and the
``homodyne-gpu`` wrapper, without sampling (and without importing any MCMC stack)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from homodyne.bayes.sampler import MCMCBackend
from homodyne.errors import BackendUnavailableError, ConfigError
from homodyne.optimization import backends

from .conftest import STACK_MODULES, run_python


def fake(
    name: str, available: bool = True, uses_gpu: bool = False, calls: list | None = None
) -> MCMCBackend:
    def run(**kwargs):  # records the call instead of sampling
        if calls is not None:
            calls.append((name, kwargs))
        return f"result of {name}"

    run.__name__ = f"run_{name}"
    return MCMCBackend(
        name=name,
        backend_name=f"{name.upper()}_NAME",
        description=f"fake {name}",
        run=run,
        requires=("json",) if available else ("no_such_module_for_homodyne_tests",),
        pip_extra=f"extra-{name}",
        conda_package=f"conda-{name}",
        uses_gpu=uses_gpu,
    )


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch):
    """Replace the registry by fake backends; returns a function to set availability and GPU."""
    state = {"pymc": True, "numpyro": True, "gpu": False}
    calls: list = []

    def load(name: str):
        if name not in ("pymc", "numpyro"):
            raise ConfigError(f"no MCMC backend named {name!r}")
        return fake(name, state[name], uses_gpu=name == "numpyro", calls=calls)

    monkeypatch.setattr(backends, "load_backend", load)
    monkeypatch.setattr(backends, "gpu_visible", lambda: state["gpu"])
    monkeypatch.delenv("HOMODYNE_MCMC_BACKEND", raising=False)

    def setup(**kw):
        state.update(kw)
        return calls

    return setup


@pytest.mark.parametrize(
    ("intent", "gpu", "pymc", "numpyro", "expected", "has_gpu"),
    [
        (None, False, True, True, "pymc", False),  # unset: the seed's default, PyMC
        ("false", True, True, True, "pymc", False),  # a GPU does not matter to 'false'
        ("FALSE", False, True, True, "pymc", False),
        ("0", False, True, True, "pymc", False),
        ("true", False, True, True, "numpyro", False),  # NumPyro on the JAX CPU
        ("True", True, True, True, "numpyro", True),
        ("1", True, True, True, "numpyro", True),
        ("auto", True, True, True, "numpyro", True),  # GPU visible: GPU backend
        ("auto", False, True, True, "pymc", False),  # no GPU: PyMC if installed
        ("auto", False, False, True, "numpyro", False),  # else NumPyro on the CPU
        ("auto", True, True, False, "pymc", False),  # GPU but no NumPyro: PyMC
        (" Auto ", False, True, True, "pymc", False),
    ],
)
def test_intent_routing(monkeypatch, fakes, intent, gpu, pymc, numpyro, expected, has_gpu) -> None:
    fakes(gpu=gpu, pymc=pymc, numpyro=numpyro)
    if intent is None:
        monkeypatch.delenv("HOMODYNE_GPU_INTENT", raising=False)
    else:
        monkeypatch.setenv("HOMODYNE_GPU_INTENT", intent)
    fn, name, gpu_flag = backends.get_mcmc_backend()
    assert fn.__name__ == f"run_{expected}"
    assert name == f"{expected.upper()}_NAME"
    assert gpu_flag is has_gpu


@pytest.mark.parametrize(
    ("intent", "missing", "extra", "conda"),
    [
        ("true", "numpyro", "extra-numpyro", "conda-numpyro"),
        ("false", "pymc", "extra-pymc", "conda-pymc"),
    ],
)
def test_missing_backend_names_extra_and_conda_package(
    monkeypatch, fakes, intent, missing, extra, conda
) -> None:
    fakes(**{missing: False})
    monkeypatch.setenv("HOMODYNE_GPU_INTENT", intent)
    with pytest.raises(BackendUnavailableError) as info:
        backends.get_mcmc_backend()
    msg = str(info.value)
    assert (
        f"homodyne-analysis[{extra}]" in msg
        and conda in msg
        and f"HOMODYNE_GPU_INTENT={intent}" in msg
    )
    assert isinstance(info.value, ImportError)


def test_auto_with_nothing_installed_names_the_gpu_extra(monkeypatch, fakes) -> None:
    fakes(pymc=False, numpyro=False)
    monkeypatch.setenv("HOMODYNE_GPU_INTENT", "auto")
    with pytest.raises(BackendUnavailableError, match="extra-numpyro"):
        backends.get_mcmc_backend()


def test_bad_intent_is_a_config_error(monkeypatch, fakes) -> None:
    monkeypatch.setenv("HOMODYNE_GPU_INTENT", "sometimes")
    with pytest.raises(ConfigError, match="true, false or auto"):
        backends.get_mcmc_backend()


def test_backend_by_name(monkeypatch, fakes) -> None:
    monkeypatch.setenv("HOMODYNE_GPU_INTENT", "false")
    monkeypatch.setenv("HOMODYNE_MCMC_BACKEND", "numpyro")
    assert backends.get_mcmc_backend()[1] == "NUMPYRO_NAME"
    assert backends.get_mcmc_backend(name="pymc")[1] == "PYMC_NAME"
    with pytest.raises(ConfigError, match="no MCMC backend named"):
        backends.get_mcmc_backend(name="nonesuch")


def test_legacy_sampler_routes_like_get_mcmc_backend(monkeypatch, fakes) -> None:
    from homodyne.optimization.mcmc import MCMCSampler

    calls = fakes()
    for intent, expected in (("false", "pymc"), ("true", "numpyro")):
        monkeypatch.setenv("HOMODYNE_GPU_INTENT", intent)
        sampler = MCMCSampler("the analyzer", {"analysis_mode": "static_isotropic"})
        assert sampler.run_mcmc_analysis(draws=10) == f"result of {expected}"
        assert sampler.backend_name == f"{expected.upper()}_NAME"
        name, kwargs = calls[-1]
        assert name == expected
        assert kwargs["analysis_core"] == "the analyzer" and kwargs["draws"] == 10
        assert kwargs["config"] == {"analysis_mode": "static_isotropic"}
        assert kwargs["filter_angles_for_optimization"] is True


def test_run_homodyne_reexports_the_router() -> None:
    from homodyne import run_homodyne

    assert callable(run_homodyne.get_mcmc_backend)


def test_builtin_backends_are_registered_through_the_entry_point_group() -> None:
    import importlib.metadata as md

    eps = {ep.name: ep.value for ep in md.entry_points(group="homodyne.mcmc_backends")}
    assert eps.get("pymc") == "homodyne.optimization.mcmc_cpu_backend:BACKEND"
    assert eps.get("numpyro") == "homodyne.optimization.mcmc_gpu_backend:BACKEND"
    b = backends.load_backend("pymc")
    assert (
        b.backend_name == "PyMC_CPU"
        and b.pip_extra == "mcmc"
        and b.conda_package == "homodyne-analysis-cpu"
    )
    g = backends.load_backend("numpyro")
    assert (
        g.backend_name == "NumPyro_GPU_JAX"
        and g.pip_extra == "mcmc-gpu"
        and g.conda_package == "homodyne-analysis-gpu"
    )


def test_third_party_plugin_is_listed_and_selectable(tmp_path: Path) -> None:
    """A plugin installed as its own distribution (a .dist-info with an entry point)."""
    site = tmp_path / "site"
    (site / "toy_plugin").mkdir(parents=True)
    (site / "toy_plugin" / "__init__.py").write_text(
        textwrap.dedent("""
        from homodyne.bayes.sampler import MCMCBackend

        def run_toy(**kwargs):
            return "toy ran"

        BACKEND = MCMCBackend(name="toy", backend_name="Toy_CPU", description="a toy sampler",
                              run=run_toy, requires=("json",), pip_extra=None, conda_package=None)
        BROKEN = MCMCBackend(name="broken", backend_name="Broken", description="needs a missing module",
                             run=run_toy, requires=("no_such_module_for_homodyne_tests",), pip_extra="broken")
    """)
    )
    dist = site / "toy_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[homodyne.mcmc_backends]\ntoy = toy_plugin:BACKEND\nbroken = toy_plugin:BROKEN\n"
    )
    code = """
import json, os, sys
from homodyne.optimization import backends
rows = {r["name"]: r for r in backends.list_backends()}
fn, name, gpu = backends.get_mcmc_backend()
try:
    os.environ["HOMODYNE_MCMC_BACKEND"] = "broken"
    backends.get_mcmc_backend()
    err = None
except Exception as exc:
    err = str(exc)
print(json.dumps({"rows": {k: [v["available"], v.get("install")] for k, v in rows.items()},
                  "selected": [k for k, v in rows.items() if v["selected"]], "ran": fn(), "name": name, "err": err,
                  "stacks": sorted(m for m in sys.modules if m.split('.')[0] in STACKS)}))
""".replace("STACKS", repr(STACK_MODULES))
    import os

    env = {
        "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "HOMODYNE_MCMC_BACKEND": "toy",
    }
    proc = run_python(code, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rows"]["toy"] == [True, None]
    assert (
        out["rows"]["broken"][0] is False
        and "homodyne-analysis[broken]" in out["rows"]["broken"][1]
    )
    assert {"pymc", "numpyro"} <= set(out["rows"])
    assert out["selected"] == ["toy"] and out["ran"] == "toy ran" and out["name"] == "Toy_CPU"
    assert "no_such_module_for_homodyne_tests" in out["err"]
    assert out["stacks"] == []


def test_gpu_wrapper_sets_intent_and_jax_environment_then_delegates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from homodyne import run_homodyne
    from homodyne.runtime.gpu import gpu_wrapper

    from ..conftest import JAX_ENVIRONMENT, keep_environment

    keep_environment(monkeypatch, *JAX_ENVIRONMENT)  # absent here; the wrapper sets them
    seen = {}

    def fake_main(argv=None, *, prog="homodyne"):
        import os

        seen.update(
            argv=argv,
            prog=prog,
            intent=os.environ.get("HOMODYNE_GPU_INTENT"),
            prealloc=os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"),
            x64=os.environ.get("JAX_ENABLE_X64"),
            xla_flags=os.environ.get("XLA_FLAGS"),
        )
        return 3

    monkeypatch.setattr(run_homodyne, "main", fake_main)
    had_jax = "jax" in sys.modules
    assert gpu_wrapper.main(["--method", "mcmc"]) == 3
    assert seen == {
        "argv": ["--method", "mcmc"],
        "prog": "homodyne-gpu",
        "intent": "true",
        "prealloc": "false",
        "x64": "true",
        "xla_flags": f"--xla_force_host_platform_device_count={max(os.cpu_count() or 1, 4)}",
    }
    assert ("jax" in sys.modules) == had_jax  # the wrapper itself does not import JAX


def test_host_device_count_keeps_the_users_xla_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from homodyne.runtime import gpu

    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    gpu._host_devices()
    flags = os.environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_cpu_enable_fast_math=false"
    assert flags[1].startswith("--xla_force_host_platform_device_count=")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    gpu._host_devices()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"


@pytest.mark.parametrize(
    ("method", "chains", "on_gpu", "devices", "expected"),
    [
        ("auto", 4, True, 1, "vectorized"),
        ("auto", 4, False, 4, "parallel"),
        ("auto", 8, False, 4, "sequential"),  # not enough CPU devices
        ("auto", 1, False, 4, "sequential"),
        ("parallel", 4, True, 1, "vectorized"),
        ("vectorized", 4, False, 4, "vectorized"),  # an explicit choice is kept
        ("sequential", 4, True, 1, "sequential"),
        ("processes", 4, True, 1, "vectorized"),  # worker processes are a CPU method
        ("processes", 4, False, 4, "sequential"),  # fewer than two usable cores
    ],
)
def test_numpyro_chain_method_choice(method, chains, on_gpu, devices, expected) -> None:
    from homodyne.optimization.mcmc_gpu_backend import choose_chain_method

    assert choose_chain_method(method, chains, on_gpu, devices) == expected


@pytest.mark.parametrize(
    ("method", "cores", "on_gpu", "expected"),
    [
        ("processes", 2, False, "processes"),
        ("processes", 1, False, "sequential"),  # one usable core
        ("processes", 0, False, "sequential"),  # no affinity control (macOS, Windows)
        ("processes", 16, True, "vectorized"),
        ("auto", 16, False, "parallel"),  # worker processes are never the automatic choice
    ],
)
def test_numpyro_worker_processes_are_an_explicit_cpu_choice(
    method, cores, on_gpu, expected
) -> None:
    from homodyne.optimization.mcmc_gpu_backend import choose_chain_method

    assert choose_chain_method(method, 4, on_gpu, 4, cores=cores) == expected


def test_homodyne_gpu_help_runs_without_jax() -> None:
    code = """
import sys
from homodyne.runtime.gpu.gpu_wrapper import main
try:
    main(["--help"])
except SystemExit:
    pass
print("JAXLOADED" if "jax" in sys.modules else "NOJAX")
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "homodyne-gpu" in proc.stdout and proc.stdout.strip().endswith("NOJAX")


def test_gpu_visibility_without_importing_jax(monkeypatch: pytest.MonkeyPatch) -> None:
    from homodyne.runtime import gpu

    real_device_check = gpu.nvidia_device_present
    monkeypatch.setattr(gpu, "cuda_plugin_installed", lambda: True)
    monkeypatch.setattr(gpu, "nvidia_device_present", lambda: True)
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert gpu.gpu_visible() is (sys.platform not in ("darwin", "win32"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert gpu.gpu_visible() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert real_device_check() is False


def test_backends_command_marks_the_selected_backend() -> None:
    code = """
import os, sys
os.environ["HOMODYNE_GPU_INTENT"] = "false"
from homodyne.run_homodyne import main
rc = main(["backends"])
print("STACKS", sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "pymc", "pytensor", "numpyro")))
sys.exit(rc)
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("* pymc") for ln in lines), proc.stdout
    assert any(ln.startswith("  numpyro") for ln in lines), proc.stdout
    assert "* selected here (HOMODYNE_GPU_INTENT=false)" in proc.stdout
    assert lines[-1] == "STACKS []"  # listing imports no stack
