"""Whether a module is installed, found without importing it (cached)."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re

__all__ = ["module_available", "version_tuple"]


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release parts of a version string: "2.18.0rc1" → (2, 18, 0)."""
    parts = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if m is None:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


@functools.cache
def module_available(name: str, min_version: str | None = None) -> bool:
    """Whether ``name`` can be imported here, found with :func:`importlib.util.find_spec`
    (the module itself is not imported; for a dotted name its parent package is).

    With ``min_version`` the installed distribution of that name (its metadata) must
    have at least that version; a module without distribution metadata then counts as
    unavailable. The answer is cached for the life of the process.
    """
    try:
        if importlib.util.find_spec(name) is None:
            return False
    except (ImportError, ValueError):
        return False
    if min_version is None:
        return True
    try:
        have = importlib.metadata.version(name.split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return False
    return version_tuple(have) >= version_tuple(min_version)
