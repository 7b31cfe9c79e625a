"""``mcmc.pytensor_mode`` names the PyTensor backend that really compiles the PyMC model
(PyTensor 3 links its ``FAST_RUN`` mode with Numba, so a name is not enough)."""

from __future__ import annotations

import json

import pytest

from .conftest import HAVE_PYMC, run_python

pytestmark = pytest.mark.skipif(not HAVE_PYMC, reason="PyMC backend not installed")


def test_each_mode_compiles_with_the_backend_it_names() -> None:
    code = """
import json
from pytensor.compile.mode import get_mode
from pytensor.link.numba.linker import NumbaLinker
from homodyne.optimization.mcmc_cpu_backend import _MODES, _pytensor_mode
out = {}
for name, mode in _MODES.items():
    linker = get_mode(mode).linker
    out[name] = {"numba": isinstance(linker, NumbaLinker),
                 "c_thunks": bool(getattr(linker, "c_thunks", False)) or type(linker).__name__ == "CLinker"}
out["auto"] = [_pytensor_mode("auto", n) for n in (100, 10**7)]
out["explicit"] = [_pytensor_mode("C"), _pytensor_mode("numba")]
print(json.dumps(out))
"""
    proc = run_python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["c"] == {"numba": False, "c_thunks": True}
    assert out["numba"]["numba"] is True
    assert out["auto"] == ["numba", "numba"]  # what auto has compiled with since PyTensor 3
    assert out["explicit"] == ["c", "numba"]
