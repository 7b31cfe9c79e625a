"""A cache of selected, frame-windowed stacks as plain ``.npz`` files (no pickle).

Key: SHA-256 of the source file's **content** hash (its SHA-256, computed once per run
and the same value recorded in ``results.json``), the selection parameters and
:data:`CACHE_FORMAT_VERSION` (see :func:`cache_key`). Any change of the file's bytes,
even one that keeps its size and modification time, or another selection, gives another
key, hence a miss. Each entry also stores ``payload_sha256``, a checksum of its own
arrays, verified on every read: an entry altered after it was written (its values
edited, its metadata kept) is reported with a warning and rebuilt from the source.
Files are written to a temporary name in the cache folder and moved into place with
:func:`os.replace` (with the permissions the umask gives), so a reader never sees a
half-written entry.

Arrays stored (all plain numeric or unicode arrays, loaded with ``allow_pickle=False``):

=======================  ==========  ==========================================================
``c2_exp``               (A, n, n)   full symmetric c2 matrices, float64
``phi_angles_list``      (A,)        angles [deg]
``wavevector_q_list``    (A,)        q of each selected bin [1/Å]
``t1``, ``t2``           (n,)        frame times [s] of rows and columns (equal; 1-D, not meshes)
``q``, ``dt``            ()          the data set's q [1/Å] and frame time [s]
``frames``               (2,)        (start, end), 1-based inclusive
``frame_step``           ()          stride between rows
``sigma``                (A,)        per-angle noise level; only when known
``layout``, ``source``   ()          strings; also ``source_sha256``, ``cache_key``, ``selection``
``format_version``       ()          integer; also ``source_size``, ``source_mtime_ns``
``payload_sha256``       ()          checksum of all the other arrays (:func:`payload_sha256`)
=======================  ==========  ==========================================================
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from homodyne._util.atomic import atomic_open
from homodyne._util.hashing import file_sha256 as _file_sha256
from homodyne.errors import DataError

from .dataset import Dataset

__all__ = [
    "CACHE_FORMAT_VERSION",
    "cache_key",
    "cache_path",
    "file_sha256",
    "payload_sha256",
    "read_cache",
    "write_cache",
]

logger = logging.getLogger(__name__)

#: Bump whenever what is stored, or how a selection is made, changes meaning.
CACHE_FORMAT_VERSION = 2


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    try:
        return _file_sha256(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file to checksum it ({exc})") from exc


def _source_identity(source: Path) -> tuple[str, int, int]:
    try:
        st = source.stat()
    except OSError as exc:
        raise DataError(f"{source}: data file not found ({exc.strerror})") from exc
    return str(source.resolve()), st.st_size, st.st_mtime_ns


def cache_key(source: Path, selection: Mapping[str, Any], content_sha256: str | None = None) -> str:
    """Hex SHA-256 of (the source's content SHA-256, selection, format version).

    ``content_sha256`` is the file's :func:`file_sha256` (computed here when not given;
    a run computes it once and passes it). ``selection`` must be JSON-serialisable
    (numbers, strings, lists, ``None``); floats are written with ``repr`` precision, so
    any change of a requested value changes the key.
    """
    if content_sha256 is None:
        _source_identity(source)  # a clear error for a missing file
        content_sha256 = file_sha256(source)
    payload = {
        "format_version": CACHE_FORMAT_VERSION,
        "source_sha256": content_sha256,
        "selection": dict(selection),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def payload_sha256(arrays: Mapping[str, Any]) -> str:
    """Checksum of an entry's arrays (names, dtypes, shapes and bytes; the
    ``payload_sha256`` entry itself excluded)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "payload_sha256":
            continue
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.reshape(-1).view(np.uint8).data)  # the array's bytes, not a copy
    return digest.hexdigest()


def cache_path(cache_dir: Path, source: Path, key: str) -> Path:
    """Where the entry of ``key`` lives: ``<cache_dir>/<source stem>.<key[:24]>.npz``."""
    return Path(cache_dir) / f"{source.stem}.{key[:24]}.npz"


def write_cache(
    path: Path, dataset: Dataset, *, key: str, selection: Mapping[str, Any], q_per_angle: Any
) -> None:
    """Store ``dataset`` at ``path`` atomically (temporary file + :func:`os.replace`)."""
    if dataset.source is None or dataset.source_sha256 is None:
        raise ValueError("only data sets read from a file (with its sha256) are cached")
    _, size, mtime_ns = _source_identity(dataset.source)
    t = dataset.t
    arrays: dict[str, Any] = {
        "c2_exp": dataset.c2,
        "phi_angles_list": dataset.phi,
        "wavevector_q_list": np.asarray(q_per_angle, dtype=np.float64),
        "t1": t,
        "t2": t,
        "q": np.float64(dataset.q),
        "dt": np.float64(dataset.dt),
        "frames": np.asarray(dataset.frames, dtype=np.int64),
        "frame_step": np.int64(dataset.frame_step),
        "layout": np.str_(dataset.layout),
        "source": np.str_(str(dataset.source)),
        "source_sha256": np.str_(dataset.source_sha256),
        "source_size": np.int64(size),
        "source_mtime_ns": np.int64(mtime_ns),
        "cache_key": np.str_(key),
        "selection": np.str_(json.dumps(dict(selection), sort_keys=True)),
        "format_version": np.int64(CACHE_FORMAT_VERSION),
    }
    if dataset.sigma is not None:
        arrays["sigma"] = dataset.sigma
    if dataset.truth is not None:
        arrays["truth"] = np.str_(json.dumps(dataset.truth, sort_keys=True))
    arrays["payload_sha256"] = np.str_(payload_sha256(arrays))
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)
    logger.info(
        "cached %s (%d angles x %d frames) at %s",
        dataset.source.name,
        dataset.n_angles,
        dataset.n_frames,
        path,
    )


def read_cache(path: Path, *, key: str, source: Path) -> Dataset | None:
    """The data set stored at ``path`` if it is a valid entry for ``key``, else ``None``.

    A missing file is a plain miss; an unreadable or foreign file (wrong key or format
    version, damaged zip) is logged and treated as a miss, so it gets rewritten.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["format_version"]) != CACHE_FORMAT_VERSION or str(npz["cache_key"]) != key:
                logger.warning("cache entry %s does not match this request; ignoring it", path)
                return None
            arrays = {name: npz[name] for name in npz.files}
            if str(arrays.get("payload_sha256", "")) != payload_sha256(arrays):
                logger.warning(
                    "cache entry %s fails its checksum (altered or damaged); rebuilding it "
                    "from the source",
                    path,
                )
                return None
            npz = arrays
            return Dataset(
                c2=npz["c2_exp"],
                phi=npz["phi_angles_list"],
                q=float(npz["q"]),
                dt=float(npz["dt"]),
                frames=(int(npz["frames"][0]), int(npz["frames"][1])),
                frame_step=int(npz["frame_step"]),
                layout=str(npz["layout"]),  # type: ignore[arg-type]
                source=source,
                source_sha256=str(npz["source_sha256"]),
                sigma=npz["sigma"] if "sigma" in npz else None,
                truth=json.loads(str(npz["truth"])) if "truth" in npz else None,
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, DataError) as exc:
        logger.warning("cache entry %s is unreadable (%s); reading the source again", path, exc)
        return None
