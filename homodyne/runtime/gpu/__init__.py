"""JAX runtime settings for the NumPyro backend, applied once and never on import.

* :func:`apply_jax_environment` sets the environment JAX reads when it is first imported
  (64-bit floats, no preallocation of GPU memory, the CPU platform where no GPU can be
  used). It does not import JAX, so ``homodyne-gpu --help`` or a classical fit stays fast
  and works without JAX installed.
* :func:`configure_jax` applies the same settings to an imported JAX (also when JAX was
  imported before, by the caller), finds out whether JAX sees a GPU, and says in one log
  line which device NumPyro will use.
* :func:`gpu_visible` answers "would JAX see a GPU here?" without importing JAX (used to
  route ``HOMODYNE_GPU_INTENT=auto``).
"""

from __future__ import annotations

import logging
import os
import shutil

# runs only nvidia-smi (found on PATH) with fixed arguments
import subprocess  # nosec B404
import sys

__all__ = [
    "apply_jax_environment",
    "choose_platform",
    "configure_jax",
    "cuda_driver_loadable",
    "cuda_plugin_installed",
    "gpu_visible",
    "nvidia_device_present",
]

log = logging.getLogger(__name__)

_CUDA_PLUGINS = (
    "jax_cuda12_plugin",
    "jax_cuda13_plugin",
    "jax_plugins.xla_cuda12",
    "jax_plugins.xla_cuda13",
)
_state: dict[str, object] = {}


def _find(name: str) -> bool:
    from ..._util.modules import module_available

    return module_available(name)


def cuda_plugin_installed() -> bool:
    """Whether a CUDA-enabled jaxlib plugin is installed (found without importing it)."""
    return any(_find(p) for p in _CUDA_PLUGINS)


def nvidia_device_present() -> bool:
    """Whether an NVIDIA GPU is visible to this process (device files or ``nvidia-smi -L``)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    if os.path.exists("/dev/nvidia0"):
        return True
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False)  # nosec B603
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def gpu_visible() -> bool:
    """Whether JAX would run on a GPU here, decided without importing JAX."""
    if sys.platform in ("darwin", "win32"):
        return False
    if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return False
    return cuda_plugin_installed() and nvidia_device_present()


def cuda_driver_loadable() -> bool:
    """Whether the NVIDIA driver library (``libcuda.so.1``) can be loaded; JAX's CUDA
    plugin needs it for ``cuInit``. Loading it initialises nothing."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def choose_platform(
    *,
    sys_platform: str,
    plugin_installed: bool,
    device_present: bool,
    driver_loadable: bool,
) -> tuple[str, str | None]:
    """The JAX platform to ask for: ``("cpu", reason)`` when no GPU can be used here, or
    ``("auto", None)`` (JAX takes the GPU). Pure: the inputs are what the caller found."""
    if sys_platform in ("darwin", "win32"):
        return "cpu", "macOS/Windows: the NumPyro backend uses the JAX CPU platform"
    if not plugin_installed:
        return "cpu", 'no CUDA-enabled jaxlib is installed (pip install "jax[cuda12]")'
    if not device_present:
        return "cpu", (
            "the CUDA plugin of jaxlib is installed but no NVIDIA GPU is visible "
            "(no /dev/nvidia0, nvidia-smi lists none, or CUDA_VISIBLE_DEVICES hides them)"
        )
    if not driver_loadable:
        return "cpu", (
            "an NVIDIA device is visible but the driver library libcuda.so.1 cannot be loaded"
        )
    return "auto", None


def apply_jax_environment() -> str:
    """Set the environment JAX reads at import (existing user settings win).

    Returns the platform choice (:func:`choose_platform`): ``"cpu"`` when no GPU can be
    used (macOS, Windows, no CUDA-enabled jaxlib, or one installed without a usable
    NVIDIA device: then JAX is kept from trying CUDA, which would log a ``cuInit``
    error with a traceback before falling back), else ``"auto"``.
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("JAX_ENABLE_X64", "true")
    _host_devices()
    if os.environ.get("JAX_PLATFORMS", "").strip():
        return "cpu" if os.environ["JAX_PLATFORMS"].strip().lower() == "cpu" else "auto"
    plugin = sys.platform not in ("darwin", "win32") and cuda_plugin_installed()
    device = plugin and nvidia_device_present()
    choice, reason = choose_platform(
        sys_platform=sys.platform,
        plugin_installed=plugin,
        device_present=device,
        driver_loadable=device and cuda_driver_loadable(),
    )
    if choice == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        _state.setdefault("reason", reason)
    return choice


#: Virtual CPU devices JAX creates (at least this many), so that chains can run in
#: parallel on the JAX CPU platform (one device, i.e. one thread, per chain).
HOST_DEVICES_MIN = 4


def _host_devices() -> None:
    """Ask XLA for several CPU devices (``--xla_force_host_platform_device_count``) unless
    the user's ``XLA_FLAGS`` already choose a number. Only the CPU platform is affected:
    on the CPU, NumPyro then runs one chain per device in parallel threads instead of all
    chains in one vectorised program, which is faster there (docs/mcmc.rst)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    n = max(os.cpu_count() or 1, HOST_DEVICES_MIN)
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def _enable_compilation_cache(jax: object) -> None:
    """JAX's persistent compilation cache, so that a later run of the same program (same
    shapes) skips XLA compilation. ``HOMODYNE_JAX_CACHE=0`` disables it; an explicit
    ``JAX_COMPILATION_CACHE_DIR`` is respected."""
    if os.environ.get("HOMODYNE_JAX_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "homodyne", "jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)  # type: ignore[attr-defined]
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)  # type: ignore[attr-defined]
    except (OSError, AttributeError, ValueError) as exc:  # read-only home, old JAX
        log.debug("JAX compilation cache not enabled: %s", exc)


def configure_jax() -> str:
    """Apply the JAX settings once and return the platform in use (``"gpu"`` or ``"cpu"``).

    Logs one line: the GPU in use, or that JAX falls back to its CPU platform and why.
    """
    if "platform" in _state:
        return str(_state["platform"])
    apply_jax_environment()
    import jax

    jax.config.update("jax_enable_x64", True)
    _enable_compilation_cache(jax)
    try:
        gpus = [d for d in jax.devices() if d.platform in ("gpu", "cuda")]
    except RuntimeError:
        gpus = []
    if gpus:
        _state["platform"] = "gpu"
        log.info(
            "JAX: NumPyro runs on the GPU (%s, %d visible)",
            getattr(gpus[0], "device_kind", "GPU"),
            len(gpus),
        )
    else:
        _state["platform"] = "cpu"
        reason = _state.get("reason") or "JAX sees no GPU"
        log.info(
            "JAX: no GPU in use (%s); NumPyro runs on the JAX CPU platform (%d cores)",
            reason,
            os.cpu_count() or 1,
        )
    return str(_state["platform"])
