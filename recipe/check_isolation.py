"""Recipe test: the installed output has exactly its MCMC stack, and importing homodyne and
its backend loads nothing of the other stack.

    python check_isolation.py core|cpu|gpu VERSION
"""

import importlib
import importlib.metadata as md
import importlib.util
import sys

kind, version = sys.argv[1], sys.argv[2]
PYMC_STACK = ("pymc", "pytensor")
JAX_STACK = ("jax", "jaxlib", "numpyro")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


import homodyne  # noqa: E402

assert homodyne.__version__ == version, (homodyne.__version__, version)
assert md.version("homodyne-analysis") == version

# Both backends register through the plugin entry-point group, whatever is installed.
group = {ep.name for ep in md.entry_points(group="homodyne.mcmc_backends")}
assert {"pymc", "numpyro"} <= group, group

from homodyne.optimization.mcmc_cpu_backend import is_cpu_mcmc_available  # noqa: E402
from homodyne.optimization.mcmc_gpu_backend import is_gpu_mcmc_available  # noqa: E402

loaded = set(sys.modules)
assert not loaded & set(PYMC_STACK + JAX_STACK), (
    f"importing homodyne loaded {loaded & set(PYMC_STACK + JAX_STACK)}"
)

expect = {"core": (False, False), "cpu": (True, False), "gpu": (False, True)}[kind]
assert (is_cpu_mcmc_available(), is_gpu_mcmc_available()) == expect, (
    kind,
    is_cpu_mcmc_available(),
    is_gpu_mcmc_available(),
)

# The other stack is not even installed; this stack imports without pulling the other in.
if kind == "cpu":
    assert not any(installed(m) for m in JAX_STACK)
    importlib.import_module("pymc")
    assert not set(sys.modules) & set(JAX_STACK)
elif kind == "gpu":
    assert not any(installed(m) for m in PYMC_STACK)
    importlib.import_module("numpyro")
    assert not set(sys.modules) & set(PYMC_STACK)
else:
    assert not any(installed(m) for m in PYMC_STACK + JAX_STACK)
print(f"isolation ok: {kind} {version}")
