"""The SHA-256 of a file."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256"]

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory).

    Raises :class:`OSError` when the file cannot be read; callers say what it was for."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        # a for loop, not ``while chunk := ...``: see tests/faults/test_loop_handlers.py
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
