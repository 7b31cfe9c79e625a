"""Safety of the output folder: run names, ownership, locks and stale temporary folders.

* :func:`validate_run_name`: a run name is one plain name (no ``/`` or ``\\``, not ``.``
  or ``..``, not absolute, no NUL, not hidden), never a path.
* :data:`MARKER`: every run folder the package commits carries ``.homodyne-run``;
  ``--overwrite`` replaces only a folder with that file (and never a symbolic link), so
  it can never delete a folder the package did not write.
* :func:`reserve_run`: before any fitting, checks the name, creates the output
  directory and proves that it can be written (a clear :class:`OutputError` naming the
  path otherwise), takes an exclusive lock (``.<name>.lock``, :func:`fcntl.flock`) so that
  a second run into the same run folder stops with a clear error instead of mixing files,
  and removes the temporary folders of runs that were killed (owner process gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError, OutputExistsError
from ..runtime import signals

__all__ = [
    "MARKER",
    "OWNER",
    "Reservation",
    "check_replaceable",
    "check_writable",
    "finish_folder",
    "owner_alive",
    "remove_stale_partials",
    "reserve_run",
    "run_exists_error",
    "validate_run_name",
    "write_owner",
]

log = logging.getLogger(__name__)

#: File in every committed run folder: the package wrote this folder.
MARKER = ".homodyne-run"
#: File in every temporary (``.partial``) folder: which process is writing it.
OWNER = ".owner.json"
#: A temporary folder without an owner file (older versions) counts as stale after this.
ORPHAN_AGE_S = 3600.0


def run_exists_error(final: Path) -> OutputExistsError:
    """The error for a run folder that exists while overwriting is off."""
    return OutputExistsError(
        f"{final}: run folder already exists; choose another output.run_name / --output-dir, "
        "or set output.overwrite to true"
    )


def validate_run_name(name: object) -> str:
    """``name`` if it is a plain folder name, else a :class:`ConfigError` saying why."""
    hint = (
        "output.run_name / --run-name must be a plain folder name (use --output-dir for the place)"
    )
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{hint}; got {name!r}")
    if name in (".", ".."):
        raise ConfigError(f"{hint}; {name!r} is not a name")
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise ConfigError(f"{hint}; {name!r} contains a path separator")
    if "\0" in name:
        raise ConfigError(f"{hint}; {name!r} contains a NUL character")
    if name.startswith("."):
        raise ConfigError(f"{hint}; {name!r} starts with '.' (reserved for temporary folders)")
    if len(name.encode()) > 200:
        raise ConfigError(f"{hint}; {name[:40]!r}... is longer than 200 bytes")
    return name


# ------------------------------------------------------------------------ ownership
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    try:
        return int(stat[stat.rfind(b")") + 2 :].split()[19])
    except (IndexError, ValueError):
        return None


def _owner_record() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "start_ticks": _start_ticks(pid),
        "boot_id": _boot_id(),
        "host": socket.gethostname(),
    }


def write_owner(folder: Path) -> None:
    """Record this process as the writer of a temporary folder."""
    (folder / OWNER).write_text(json.dumps(_owner_record()) + "\n", encoding="utf-8")


def owner_alive(record: dict[str, Any]) -> bool | None:
    """Whether the process that wrote ``record`` still runs; None when this host cannot
    tell (another host, e.g. on a shared file system)."""
    if record.get("host") != socket.gethostname():
        return None
    if record.get("boot_id") and record.get("boot_id") != _boot_id():
        return False
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = record.get("start_ticks")
    return started is None or _start_ticks(pid) in (None, started)


def finish_folder(folder: Path) -> None:
    """Turn a temporary folder into a committed one: marker in, owner file out."""
    (folder / MARKER).write_text(
        json.dumps({"created_by": "homodyne-analysis", "pid": os.getpid()}) + "\n",
        encoding="utf-8",
    )
    with contextlib.suppress(FileNotFoundError):
        (folder / OWNER).unlink()
    os.chmod(folder, _dir_mode())


def _dir_mode() -> int:
    from .._util.atomic import umask_mode

    return umask_mode(directory=True)


def check_replaceable(final: Path, overwrite: bool) -> None:
    """Raise unless ``final`` may be replaced: overwriting asked for, a real folder (not
    a link) and one the package wrote (:data:`MARKER`)."""
    if not overwrite:
        raise run_exists_error(final)
    if final.is_symlink() or not final.is_dir():
        raise OutputExistsError(
            f"{final}: exists and is not a run folder (a file or a link); --overwrite "
            "replaces only run folders written by homodyne; remove it yourself or choose "
            "another --run-name"
        )
    if not (final / MARKER).is_file():
        raise OutputExistsError(
            f"{final}: exists but was not written by homodyne (no {MARKER} file); "
            "--overwrite replaces only run folders written by homodyne; choose another "
            "--run-name or --output-dir"
        )


def remove_stale_partials(directory: Path) -> list[Path]:
    """Remove the temporary folders of runs whose process is gone; returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".lock"):
            _remove_stale_lock(Path(entry.path))
            continue
        if not entry.name.startswith(".") or not (
            entry.name.endswith(".partial") or ".old-" in entry.name
        ):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        stale = _is_stale(path)
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                log.warning("removed %s, left by a run that was killed", path)
                removed.append(path)
    return removed


def _remove_stale_lock(path: Path) -> None:
    """Remove a lock file that no process holds (its run was killed)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # held: a live run
        return
    try:
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_stale(path: Path) -> bool:
    if ".old-" in path.name:  # an overwrite that was killed between its two renames
        pid = path.name.rsplit(".old-", 1)[1]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return False
    try:
        record = json.loads((path / OWNER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return False
        return age > ORPHAN_AGE_S
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict):
        return False
    return owner_alive(record) is False


# ------------------------------------------------------------------------ the directory
def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and prove a file can be written in it; an
    :class:`OutputError` naming the path (and the reason) otherwise."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"{directory}: cannot create the output directory: a file of that name exists"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"{directory}: cannot create the output directory ({exc.strerror or exc}); "
            "choose another --output-dir / output.directory"
        ) from None
    if not directory.is_dir():
        raise OutputError(f"{directory}: the output directory is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".homodyne-write-test.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{directory}: the output directory cannot be written ({exc.strerror or exc}); "
            "choose another --output-dir / output.directory"
        ) from None


class Reservation:
    """An exclusive claim of ``directory/name`` by this process (an flock on
    ``directory/.name.lock``); :meth:`release` gives it up and removes the lock file."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.lock_path = final.with_name(f".{final.name}.lock")
        self._fd: int | None = None
        self.depth = 0

    def acquire(self) -> None:
        import fcntl

        for _ in range(20):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise OutputError(
                    f"{self.lock_path}: cannot create the lock file ({exc.strerror or exc})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                raise OutputError(
                    f"{self.final}: another run{f' (process {holder})' if holder else ''} "
                    "is writing this run folder; wait for it to finish or choose another "
                    "--run-name"
                ) from None
            # the file may have been removed by its previous holder after we opened it
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                signals.register_temp_dir(self.lock_path)
                return
            os.close(fd)
        raise OutputError(f"{self.lock_path}: could not take the lock")  # pragma: no cover

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        os.close(self._fd)
        self._fd = None
        signals.unregister_temp_dir(self.lock_path)


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""


_HELD: dict[Path, Reservation] = {}


@contextlib.contextmanager
def reserve_run(
    directory: Path | str, name: str, *, overwrite: bool = False
) -> Iterator[Reservation]:
    """Claim ``directory/name`` for this run, checking everything that can be checked
    before any work: the name, the directory (created, writable), no other run writing
    the same folder, and an existing folder replaceable (overwrite asked for, written by
    this package). Temporary folders of killed runs in ``directory`` are removed (one
    warning line each). Nested use by the same process reuses the claim."""
    validate_run_name(name)
    directory = Path(directory).expanduser().absolute()
    final = directory / name
    held = _HELD.get(final)
    if held is not None:
        held.depth += 1
        try:
            yield held
        finally:
            held.depth -= 1
        return
    check_writable(directory)
    res = Reservation(final)
    res.acquire()
    _HELD[final] = res
    try:
        remove_stale_partials(directory)
        if os.path.lexists(final):
            check_replaceable(final, overwrite)
        yield res
    finally:
        _HELD.pop(final, None)
        res.release()


def claim_for_process(directory: Path | str, name: str, *, overwrite: bool = False) -> Path:
    """:func:`reserve_run` held until :func:`release_claim` (or the process ends; the
    kernel drops the lock then): for a pipeline that checks its output before the work
    and writes it much later. Returns the run folder's path."""
    cm = reserve_run(directory, name, overwrite=overwrite)
    res = cm.__enter__()
    _CLAIMS[res.final] = cm
    return res.final


def release_claim(final: Path) -> None:
    cm = _CLAIMS.pop(final, None)
    if cm is not None:
        cm.__exit__(None, None, None)


_CLAIMS: dict[Path, Any] = {}
