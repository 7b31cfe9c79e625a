"""The solve/install/lock helpers, kept in the installed package (homodyne.deploy.solver)
so that homodyne-deploy needs no source checkout; re-exported here for the offline tools."""

from homodyne.deploy.solver import (
    PLATFORM,
    install,
    install_from_lock,
    locked_records,
    solve,
    virtual_packages,
    write_lock,
)

__all__ = [
    "PLATFORM",
    "install",
    "install_from_lock",
    "locked_records",
    "solve",
    "virtual_packages",
    "write_lock",
]
