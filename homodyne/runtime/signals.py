"""Interruption and worker processes: what SIGINT, SIGTERM and SIGHUP do to a run.

:func:`guard` (used once, by the command-line entry point) installs handlers for the
three signals. The first signal:

* records which signal arrived and in which stage of the run (:func:`set_stage`),
* raises :class:`Interrupted` (a :class:`KeyboardInterrupt`, so that libraries that
  clean up on Ctrl-C, such as PyMC's parallel sampler, do so) in the main thread; code
  that a library lets return normally after an interruption (PyMC returns a partial
  trace) calls :func:`check` and raises it again,
* wakes a watchdog thread. If the main thread has not unwound within
  :data:`GRACE_S` seconds (it can be stuck in compiled code that runs no Python, such as
  an XLA program of NumPyro), the watchdog removes the registered temporary folders,
  kills every descendant process, prints the one interruption line and ends the process
  with the signal's exit status, without running further Python or native clean-up.

Worker processes die with their parent: forked children get a parent-death signal
(``prctl(PR_SET_DEATHSIG, SIGKILL)`` on Linux) from an :func:`os.register_at_fork` hook,
and spawned workers call :func:`worker_setup` first thing. On the way out, the entry
point kills and reaps whatever descendants are left (:func:`reap_children`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

__all__ = [
    "EXIT_CODES",
    "GRACE_S",
    "Interrupted",
    "check",
    "critical",
    "current_stage",
    "descendants",
    "exit_code",
    "guard",
    "interrupted",
    "kill_pool",
    "make_registered_temp_dir",
    "note_committed",
    "reap_children",
    "register_temp_dir",
    "report",
    "set_parent_death_signal",
    "set_stage",
    "unregister_temp_dir",
    "worker_setup",
]

log = logging.getLogger(__name__)

#: Exit status of a run ended by each signal (128 + signal number, the shell convention).
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}

#: Seconds the main thread gets to unwind after a signal before the watchdog ends the
#: process (``HOMODYNE_INTERRUPT_GRACE`` overrides).
GRACE_S = 3.0

_PR_SET_DEATHSIG = 1


def exit_code(signum: int) -> int:
    """The exit status of a run ended by ``signum`` (128 + its number)."""
    return 128 + int(signum)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int, stage: str) -> None:
        self.signum = signum
        self.stage = stage
        self.exit_code = exit_code(signum)
        super().__init__(message(signum, stage))


class _State:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.stage = "start-up"
        self.prog = "homodyne"
        self.temp_dirs: dict[str, None] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.active = False  # inside guard(): check() raises only there
        #: the main thread has raised Interrupted for the signal (``signum`` alone is not
        #: that: the watchdog sets it as soon as it reads the wake-up socket)
        self.raised = False
        #: set when an Interrupted was raised where Python drops exceptions (a weakref
        #: callback, a __del__ method); the watchdog then delivers the signal again
        # A plain attribute, not an Event: setting it must run no Python-level code in
        # which the re-delivered signal's handler could run (and be dropped again).
        self.swallowed = False
        #: run folders committed while guarded (an interruption after them says so)
        self.committed: list[str] = []
        #: held while results are committed and by the watchdog once it ends the process:
        #: a commit is never cut in half, and the watchdog never reports "no results"
        #: for a folder that a commit is moving into place at that moment
        self.exit_lock = threading.RLock()
        self.deferring = 0  # > 0 inside critical(): the handler records, does not raise


_state = _State()

#: seconds the watchdog waits for a commit in progress before it ends the process anyway
_COMMIT_WAIT_S = 30.0


def message(signum: int, stage: str, prog: str | None = None) -> str:
    """The one interruption line. It says whether results were committed before the
    signal (they are complete) or none were."""
    name = _NAMES.get(signal.Signals(signum), f"signal {signum}")
    head = f"{prog or _state.prog}: interrupted by {name} during {stage}; "
    done = list(_state.committed)
    if not done:
        return head + "no results were written (partial files removed)"
    more = f" and {len(done) - 1} more" if len(done) > 1 else ""
    return f"{head}the results written before it are complete ({done[-1]}{more}); nothing partial was kept"


def report(signum: int, stage: str, prog: str | None = None) -> int:
    """Print the interruption line (:func:`message`) on standard error; returns the
    exit status of a run ended by ``signum``."""
    print(message(signum, stage, prog), file=sys.stderr)
    return exit_code(signum)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section that a signal must not cut in half (moving a finished run folder into
    place, replacing an old one). A signal that arrives inside it is recorded and raised
    as :class:`Interrupted` when the section ends; the watchdog waits for the section
    before it ends the process."""
    with _state.exit_lock:
        _state.deferring += 1
        try:
            yield
        finally:
            _state.deferring -= 1
    if not _state.deferring:
        check()


def note_committed(path: str | Path) -> None:
    """Record a run folder that is now complete in place (inside :func:`critical`)."""
    if _state.active:
        _state.committed.append(str(path))


def set_stage(stage: str) -> None:
    """Name what the run is doing now (the interruption line says it); logs it once."""
    if stage and stage != _state.stage:
        _state.stage = stage
        log.info("stage: %s", stage)


def current_stage() -> str:
    return _state.stage


def interrupted() -> int | None:
    """The signal that interrupted this run, or ``None``."""
    return _state.signum


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived (for code after a library call that
    swallows the interruption and returns partial results). Outside :func:`guard` (after
    it, or in a process that never installed it) it does nothing."""
    if _state.signum is not None and _state.active:
        _state.raised = True
        raise Interrupted(_state.signum, _state.stage)


def register_temp_dir(path: str | Path) -> None:
    """A folder (or file: a lock) to remove if the watchdog has to end the process."""
    with _state.lock:
        _state.temp_dirs[str(path)] = None


def make_registered_temp_dir(parent: Path, prefix: str, suffix: str) -> Path:
    """Create a fresh folder ``parent/<prefix><random><suffix>`` (``mkdir()``'s
    permissions) that the interruption's clean-up knows from its first moment.

    The name is registered before the folder exists, so that neither the watchdog's
    clean-up nor an :class:`Interrupted` raised between creation and registration (the
    handler runs at any bytecode of the main thread) can leave an unregistered folder:
    if this call is interrupted, the folder is removed before the exception goes on.
    """
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            register_temp_dir(path)
            path.mkdir()
        except FileExistsError:
            unregister_temp_dir(path)
            continue
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            unregister_temp_dir(path)
            raise
        return path
    raise FileExistsError(f"{parent}: no free temporary folder name after 100 tries")


def unregister_temp_dir(path: str | Path) -> None:
    with _state.lock:
        _state.temp_dirs.pop(str(path), None)


def _remove_temp_dirs() -> None:
    with _state.lock:
        paths = list(_state.temp_dirs)
        _state.temp_dirs.clear()
    for p in paths:
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(p)


# ------------------------------------------------------------------------ processes
def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only);
    returns whether that worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_DEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        return False


def worker_setup(parent_pid: int | None = None) -> None:
    """First call in a spawned worker process: die with the parent (SIGKILL when it
    goes), leave SIGINT/SIGHUP to the parent (which stops the workers itself), and exit
    at once if the parent is already gone."""
    set_parent_death_signal()
    for sig in (signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_IGN)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


#: pid of the process that last forked (set just before the fork, read in the child).
_fork_parent: list[int] = [0]


def _before_fork() -> None:
    _fork_parent[0] = os.getpid()


def _die_with_fork_parent() -> None:
    # Arm the parent-death signal, then look: a parent killed between fork() and prctl()
    # sends nothing, and the child would be left running (re-parented).
    if set_parent_death_signal() and _fork_parent[0] and os.getppid() != _fork_parent[0]:
        os._exit(1)


def _after_fork_in_child() -> None:
    # A forked worker must not write to the parent's wake-up socket, nor run its
    # handlers: the parent decides about interruption and stops its workers.
    if _state.done.is_set() or _installed.get("wakeup") is None:
        _die_with_fork_parent()
        return
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for sig in EXIT_CODES:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_IGN if sig != signal.SIGTERM else signal.SIG_DFL)
    _die_with_fork_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no /proc
        return kids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        with contextlib.suppress(IndexError, ValueError):
            kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def descendants(pid: int | None = None) -> list[int]:
    """The process ids below ``pid`` (default: this process), found in /proc."""
    root = os.getpid() if pid is None else pid
    kids = _children_map()
    out: list[int] = []
    todo = list(kids.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _resource_tracker_pid() -> int | None:
    """The pid of multiprocessing's resource tracker, when this process started one."""
    module = sys.modules.get("multiprocessing.resource_tracker")
    pid = getattr(getattr(module, "_resource_tracker", None), "_pid", None)
    return pid if isinstance(pid, int) else None


def reap_children(timeout: float = 2.0) -> int:
    """Kill (SIGKILL) every descendant process and reap this process's children;
    returns how many were found.

    multiprocessing's resource tracker is spared: it ends by itself when this process
    exits (its pipe closes), after removing what the killed workers left registered.
    Killed, it would be started again by this process's own clean-up at exit, which then
    prints tracebacks about names the new tracker never saw."""
    tracker = _resource_tracker_pid()
    found = [p for p in descendants() if p != tracker]
    for p in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
    # reap the killed children (the spared tracker is not waited for; grandchildren are
    # not this process's to reap)
    pending = set(found)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for p in list(pending):
            try:
                if os.waitpid(p, os.WNOHANG)[0]:
                    pending.discard(p)
            except ChildProcessError:
                pending.discard(p)
        if pending:
            time.sleep(0.02)
    return len(found)


def kill_pool(pool: object) -> None:
    """Stop a :class:`concurrent.futures.ProcessPoolExecutor` at once: cancel what is
    queued, SIGKILL its worker processes and reap them (its ``shutdown`` would wait for
    the running tasks, which can be minutes of sampling)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)  # type: ignore[attr-defined]
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=2.0)


# ------------------------------------------------------------------------ handlers
_installed: dict[str, object] = {}
#: thread id of the guarded main thread (the watchdog re-delivers a dropped signal to it)
_main_ident: list[int] = [0]


def _handler(signum: int, frame: FrameType | None) -> None:
    # ``raised``, not ``signum``: the watchdog thread records the signal too, from the
    # wake-up socket, and on a loaded machine it often does so before this handler runs
    # in the main thread; a handler that took that for "already stopping" would never
    # raise, and the run would go on to its end as if no signal had come.
    if _state.raised and not _state.swallowed:
        return  # already stopping; the watchdog ends it if unwinding hangs
    _state.swallowed = False
    if _state.signum is None:
        _state.signum = signum
    if _state.deferring:
        return  # critical() raises it when the section ends
    _state.raised = True
    raise Interrupted(_state.signum, _state.stage)


def _unraisable(
    hook: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], None]:
    """``sys.unraisablehook`` while guarded: an :class:`Interrupted` that Python had to
    drop (the handler ran inside a weakref callback or a ``__del__``) is not printed but
    marked, and the watchdog delivers the signal again so that it reaches the run."""

    def on_unraisable(arg: sys.UnraisableHookArgs) -> None:
        if isinstance(arg.exc_value, Interrupted):
            _state.swallowed = True  # the watchdog, awake since the signal, re-delivers it
            return
        hook(arg)

    return on_unraisable


_REDELIVER_S = 0.05


def _grace() -> float:
    try:
        return float(os.environ.get("HOMODYNE_INTERRUPT_GRACE", GRACE_S))
    except ValueError:
        return GRACE_S


def _watchdog(sock: socket.socket, done: threading.Event) -> None:
    # ``done`` is this guard's own event: a watchdog left from an earlier guard (its
    # thread still unwinding) can never act on a later one
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            return
        if not data:
            return
        if done.is_set():
            return
        sig = next((b for b in data if b in {int(s) for s in EXIT_CODES}), None)
        if sig is None:
            continue
        if _state.signum is None:
            _state.signum = sig
        deadline = time.monotonic() + _grace()
        while not done.wait(_REDELIVER_S):
            if _state.swallowed and _main_ident[0]:
                # the first Interrupted was dropped: deliver the signal to the main thread again
                with contextlib.suppress(OSError, ValueError):
                    signal.pthread_kill(_main_ident[0], _state.signum)
            if time.monotonic() >= deadline:
                break
        if done.is_set():
            return
        # The main thread is stuck (compiled code that runs no Python): end it here, but
        # not in the middle of a commit, and not once the guard has ended (the main thread
        # then reports the interruption itself: one line, never two).
        locked = _state.exit_lock.acquire(timeout=_COMMIT_WAIT_S)
        if done.is_set():
            if locked:
                _state.exit_lock.release()
            return
        _remove_temp_dirs()
        reap_children(timeout=1.0)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(message(_state.signum, _state.stage) + "\n")
            sys.stderr.flush()
        os._exit(exit_code(_state.signum))


@contextlib.contextmanager
def guard(prog: str = "homodyne") -> Iterator[None]:
    """Handle SIGINT, SIGTERM and SIGHUP for the duration of a command (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.prog = prog
    _state.signum = None
    _state.raised = False
    done = _state.done = threading.Event()
    _state.swallowed = False
    _state.committed = []
    _state.deferring = 0
    _state.active = True
    _main_ident[0] = threading.get_ident()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(previous_hook)
    previous = {sig: signal.getsignal(sig) for sig in EXIT_CODES}
    # A blocked signal mask is inherited through fork and exec: a parent (a job runner, a
    # test worker) that blocked SIGTERM would make the run deaf to it. Unblock the three.
    old_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, set(EXIT_CODES))
    rsock, wsock = socket.socketpair()
    wsock.setblocking(False)
    old_fd = signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    _installed["wakeup"] = wsock
    for sig in EXIT_CODES:
        signal.signal(sig, _handler)
    dog = threading.Thread(
        target=_watchdog, args=(rsock, done), name="homodyne-signals", daemon=True
    )
    dog.start()
    try:
        yield
    finally:
        with _state.exit_lock:  # not while the watchdog is ending the process
            done.set()
        _state.active = False  # interrupted() still tells the caller what happened
        sys.unraisablehook = previous_hook
        for sig, h in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, h)
        signal.set_wakeup_fd(old_fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        _installed.pop("wakeup", None)
        wsock.close()  # the watchdog reads end-of-file and returns
        dog.join(timeout=1.0)
        rsock.close()
        if _state.signum is not None:
            reap_children()
