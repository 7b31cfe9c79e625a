"""Site deployment for HPC centres: install the ``cpu`` or ``gpu`` environment of a release
from its lockfile into a shared prefix, smoke-test it and write Lmod and Tcl modulefiles.

    homodyne-deploy install --prefix /sw --version 1.0.0 --env cpu --lock homodyne-1.0.0.lock
    python -m homodyne.deploy install ...          # the same

Needs py-rattler (``pip install py-rattler``); see docs/hpc_deployment.rst.
"""

from .install import DeployError, Request, Result, deploy, verify, write_modulefiles
from .lockfile import LockError
from .modulefiles import ModuleInfo, render_lua, render_tcl

__all__ = [
    "DeployError",
    "LockError",
    "ModuleInfo",
    "Request",
    "Result",
    "deploy",
    "render_lua",
    "render_tcl",
    "verify",
    "write_modulefiles",
]
