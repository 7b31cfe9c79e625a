"""JAX platform choice where the CUDA plugin is installed but no NVIDIA device can be
used. The CUDA wheels are not installed on the test machines, so the plugin is a stand-in
package on ``PYTHONPATH`` (found by the same ``importlib`` lookup as the real one) and the
device is hidden with ``CUDA_VISIBLE_DEVICES``; what JAX itself would log with the real
plugin cannot be observed here (see docs/cli.rst)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from homodyne.runtime.gpu import choose_platform

from ..mcmc.conftest import HAVE_NUMPYRO


@pytest.mark.parametrize(
    ("kw", "choice", "why"),
    [
        ({"sys_platform": "darwin"}, "cpu", "macOS"),
        ({"plugin_installed": False}, "cpu", "no CUDA-enabled jaxlib"),
        ({"device_present": False}, "cpu", "no NVIDIA GPU is visible"),
        ({"driver_loadable": False}, "cpu", "libcuda.so.1"),
        ({}, "auto", None),
    ],
)
def test_choose_platform(kw: dict, choice: str, why: str | None) -> None:
    args = {
        "sys_platform": "linux",
        "plugin_installed": True,
        "device_present": True,
        "driver_loadable": True,
        **kw,
    }
    got, reason = choose_platform(**args)
    assert got == choice
    assert (reason is None) if why is None else (why in reason)  # type: ignore[operator]


@pytest.fixture
def fake_plugin(tmp_path: Path) -> Path:
    pkg = tmp_path / "plugins" / "jax_cuda12_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('stand-in: must never be imported')\n")
    return tmp_path / "plugins"


def _env(fake: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(fake), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    env.update(extra)
    return env


def test_plugin_without_a_device_chooses_cpu_before_jax_starts(fake_plugin: Path) -> None:
    code = (
        "import os, sys\n"
        "from homodyne.runtime.gpu import apply_jax_environment, cuda_plugin_installed\n"
        "assert cuda_plugin_installed()\n"
        "print(apply_jax_environment(), os.environ['JAX_PLATFORMS'], 'jax' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(fake_plugin, CUDA_VISIBLE_DEVICES=""),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["cpu", "cpu", "False"]


@pytest.mark.skipif(not HAVE_NUMPYRO, reason="JAX not installed")
def test_configure_jax_logs_one_info_line_and_no_error(fake_plugin: Path) -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from homodyne.runtime.gpu import apply_jax_environment, configure_jax\n"
        "apply_jax_environment()\n"
        "print(configure_jax())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(fake_plugin, CUDA_VISIBLE_DEVICES=""),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cpu"
    lines = [ln for ln in proc.stderr.splitlines() if "JAX" in ln]
    assert len(lines) == 1 and lines[0].startswith("INFO"), proc.stderr
    assert "CUDA plugin of jaxlib is installed but no NVIDIA GPU is visible" in lines[0]
    assert "ERROR" not in proc.stderr and "Traceback" not in proc.stderr
