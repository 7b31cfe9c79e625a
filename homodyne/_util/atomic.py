"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader (or a crash) never sees a half-written file: either the old file or the new one.
The temporary file is flushed and fsync'ed before the rename, so that after a crash the
new name never points at data that did not reach the disk. Files get the permissions
that ``open()`` would give under the process umask, not the 0600 of :mod:`tempfile`
(run folders are made by :func:`homodyne.runtime.signals.make_registered_temp_dir`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_call",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
    "umask_mode",
]


def current_umask() -> int:
    """The process umask, read without changing it where /proc says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read (briefly sets it)
    os.umask(mask)
    return mask


def umask_mode(directory: bool = False) -> int:
    """What ``open()`` (0o666) or ``mkdir()`` (0o777) would give under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    ``mode`` (e.g. ``0o644``) sets the file's permissions before the rename; by default
    they are what ``open()`` would give under the umask. On an exception the temporary
    file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, umask_mode() if mode is None else mode)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # (Windows commits only handles open for writing)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | Path,
    open_mode: str = "w",
    *,
    encoding: str | None = None,
    suffix: str = "",
    mode: int | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success flush, fsync and rename it to ``path``."""
    if open_mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: open_mode 'w' or 'wb', got {open_mode!r}")
    with atomic_path(path, suffix=suffix, mode=mode) as tmp:
        fh: IO[Any]
        with open(tmp, open_mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: str | Path, text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8", mode=mode) as fh:
        fh.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", mode=mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_call(path: str | Path, writer: Callable[[Path], None], suffix: str = "") -> Path:
    """Run ``writer(tmp_path)``, fsync what it wrote and move it to ``path`` atomically.

    ``suffix`` keeps the extension that some writers need (``.npz``, ``.png``).
    """
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)
        _fsync(tmp)
    return Path(path)
