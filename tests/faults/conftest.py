"""Fault injection: the commands run in real subprocesses (their own session, so that
every process they start can be found afterwards), signalled once a stage line appears
on their standard error, never after a fixed sleep."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from homodyne.config import template

#: How long a signalled run may take to end (the watchdog's grace is 3 s).
STOP_S = 15.0
#: Exit statuses of a run that completed and wrote its results (3: verdict not good;
#: these small test problems are not all identifiable, which is not what is tested here).
DONE = (0, 3)


class Cmd:
    """A ``homodyne`` (or ``homodyne-gpu``) process; stderr is read line by line."""

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        gpu: bool = False,
        env: dict[str, str | None] | None = None,
        prefix: list[str] | None = None,
    ) -> None:
        module = "homodyne.runtime.gpu.gpu_wrapper" if gpu else "homodyne.run_homodyne"
        full_env = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "MPLBACKEND": "Agg",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        full_env.pop("HOMODYNE_MCMC_BACKEND", None)
        for name in [k for k, v in full_env.items() if v is None]:  # env={name: None} unsets
            full_env.pop(name)
        full_env.setdefault("HOMODYNE_GPU_INTENT", "true" if gpu else "false")
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", module, *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.sid = self.proc.pid
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out: list[str] = []
        self._out_reader = threading.Thread(
            target=lambda: self._out.append(self.proc.stdout.read()),  # type: ignore[union-attr]
            daemon=True,
        )
        self._out_reader.start()
        self.stdout = ""
        self.seen: set[int] = set()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 300.0) -> str:
        """Block until a stderr line matches ``pattern``; returns that line."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"process ended (exit {self.proc.returncode}) before {pattern!r}:\n"
                        + self.stderr_unlocked()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern!r}:\n{self.stderr_unlocked()}")
                self._cond.wait(min(left, 0.5))

    def stderr_unlocked(self) -> str:
        return "\n".join(self.lines[-60:])

    def wait_until(self, predicate, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(f"process ended before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.stderr}")
            time.sleep(0.1)

    def session(self) -> list[int]:
        """Live processes of this command's session (the command and all it started)."""
        found = session_processes(self.sid)
        self.seen.update(found)
        return found

    def signal(self, sig: int, group: bool = False) -> float:
        self.session()
        if group:
            os.killpg(self.sid, sig)
        else:
            os.kill(self.proc.pid, sig)
        return time.monotonic()

    def finish(self, timeout: float = 600.0) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(f"still running after {timeout} s:\n{self.stderr}") from None
        self._reader.join(timeout=10)
        self._out_reader.join(timeout=10)
        self.stdout = "".join(self._out)
        return self.proc.returncode

    def kill_all(self) -> None:
        for pid in session_processes(self.sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait(timeout=10)

    def assert_no_process_left(self, timeout: float = 10.0) -> None:
        """Nothing of the session runs any more (workers included), within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = session_processes(self.sid)
            if not left:
                return
            if time.monotonic() > deadline:
                desc = [_cmdline(p) for p in left]
                for p in left:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                raise AssertionError(f"processes left running: {desc}")
            time.sleep(0.1)


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"


def session_processes(sid: int) -> list[int]:
    """Processes (not zombies) whose session id is ``sid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is None or st[0] == "Z":
            continue
        if int(st[3]) == sid:
            out.append(int(entry))
    return out


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] != "Z" and int(st[1]) == pid:
                out.append(int(entry))
    return out


def write_cfg(folder: Path, mode: str, data_file: Path, **sections: dict) -> Path:
    cfg = template(mode, data_file=str(data_file))
    for name, values in sections.items():
        cfg[name].update(values)
    cfg["output"]["directory"] = str(folder / "out")
    path = folder / f"{mode}.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def leftovers(out: Path) -> list[str]:
    """Everything hidden that a run may leave in an output directory."""
    if not out.exists():
        return []
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="session")
def lam_file(laminar_file: Path) -> Path:
    """tests/conftest.py's laminar file (the fault tests only read or copy it)."""
    return laminar_file


@pytest.fixture(scope="session")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small static problem for the MCMC runs (few c2 values, quick to compile)."""
    from homodyne.data import write_simulated_file

    from ..conftest import STATIC_TRUTH

    path = tmp_path_factory.mktemp("faults") / "static.h5"
    return write_simulated_file(
        path,
        mode="static_isotropic",
        params=STATIC_TRUTH,
        n_frames=40,
        seed=2,
        phi=[0.0],
        noise_sigma=0.003,
    )
