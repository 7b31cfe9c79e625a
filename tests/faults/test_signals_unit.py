"""The signal and worker-process machinery of :mod:`homodyne.runtime.signals`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from homodyne.runtime import signals

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_guard_turns_a_signal_into_interrupted_and_restores_handlers() -> None:
    before = {s: signal.getsignal(s) for s in signals.EXIT_CODES}
    with pytest.raises(signals.Interrupted) as info, signals.guard("homodyne"):
        signals.set_stage("unit test stage")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert info.value.exit_code == 143 and info.value.signum == signal.SIGTERM
    assert "interrupted by SIGTERM during unit test stage" in str(info.value)
    assert {s: signal.getsignal(s) for s in signals.EXIT_CODES} == before
    assert signal.set_wakeup_fd(-1) == -1  # no wake-up socket left installed


def test_check_raises_after_a_swallowed_interruption() -> None:
    with pytest.raises(signals.Interrupted), signals.guard("homodyne"):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # what PyMC does: it returns the partial trace instead
        signals.check()


def test_exit_codes() -> None:
    assert [signals.exit_code(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)] == [
        130,
        143,
        129,
    ]


@linux
def test_descendants_and_reap_children() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '60'])"]
    )
    # multiprocessing's resource tracker, if an earlier test in this process started
    # one, is spared by reap_children (it ends when this process does)
    tracker = signals._resource_tracker_pid()

    def others() -> list[int]:
        return [p for p in signals.descendants() if p != tracker]

    deadline = time.monotonic() + 20
    while len(others()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = others()
    assert child.pid in found and len(found) >= 2
    t0 = time.monotonic()
    assert signals.reap_children() >= 2
    assert time.monotonic() - t0 < 1.0  # no wait for the tracker
    assert others() == []
    assert not Path(f"/proc/{child.pid}").exists()  # killed and reaped (no zombie)
    child.returncode = -signal.SIGKILL  # reaped by reap_children, not by Popen


@linux
def test_forked_children_get_a_parent_death_signal() -> None:
    """In a fresh (single-threaded) interpreter: a forked child reports its
    PR_GET_DEATHSIG (2), set by the package's at-fork hook."""
    code = textwrap.dedent(
        """
        import ctypes, os
        import homodyne.runtime.signals
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            value = ctypes.c_int(0)
            ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)
            os.write(w, str(value.value).encode())
            os._exit(0)
        os.close(w)
        print(os.read(r, 16).decode())
        os.waitpid(pid, 0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(int(signal.SIGKILL))


@linux
def test_the_watchdog_ends_a_run_that_does_not_unwind(tmp_path: Path) -> None:
    """A main thread that swallows the interruption (or sits in compiled code) is ended
    by the watchdog after the grace time, with the line, the status and the clean-up."""
    temp = tmp_path / ".run.x.partial"
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from homodyne.runtime import signals
        with signals.guard("homodyne"):
            signals.set_stage("a stuck stage")
            Path({str(temp)!r}).mkdir()
            signals.register_temp_dir({str(temp)!r})
            ready = False
            while True:
                try:  # "ready" inside the try: a signal during the print is swallowed too
                    if not ready:
                        print("ready", flush=True)
                        ready = True
                    time.sleep(0.1)
                except KeyboardInterrupt:
                    pass
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOMODYNE_INTERRUPT_GRACE": "1"},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
    assert time.monotonic() - t0 < 10
    assert "homodyne: interrupted by SIGHUP during a stuck stage" in err
    assert not temp.exists()


def test_a_signal_while_a_temp_folder_is_made_leaves_no_folder(tmp_path: Path) -> None:
    """The handler runs at any bytecode of the main thread: an interruption at any point
    of make_registered_temp_dir leaves either a registered folder or none."""
    calls = {"n": 0}
    real_mkdir = Path.mkdir

    def mkdir_then_signal(self: Path, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        real_mkdir(self, *args, **kwargs)
        calls["n"] += 1
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(200_000):  # the handler raises somewhere in here
            pass

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "mkdir", mkdir_then_signal)
        with pytest.raises(signals.Interrupted), signals.guard("homodyne"):
            signals.make_registered_temp_dir(tmp_path, ".run.", ".partial")
            time.sleep(5)
    assert calls["n"] == 1
    assert list(tmp_path.iterdir()) == []  # created, then removed on the way out
    assert signals._state.temp_dirs == {}
    path = signals.make_registered_temp_dir(tmp_path, ".run.", ".partial")  # unguarded
    assert path.is_dir() and path.name.startswith(".run.") and str(path) in signals._state.temp_dirs
    signals.unregister_temp_dir(path)


def test_a_signal_inside_a_commit_waits_for_it_and_then_says_the_results_are_complete(
    tmp_path: Path,
) -> None:
    """RunFolder.commit moves the finished folder (and replaces an old one) inside
    signals.critical(): a signal there is raised when the folder is in place, and the
    interruption line says that the results are complete, not that none were written."""
    from homodyne.results.writer import run_folder

    real_replace = os.replace
    calls = {"n": 0}

    def replace_then_signal(src, dst) -> None:  # type: ignore[no-untyped-def]
        if ".old-" in str(dst):  # between moving the old folder aside and the new one in
            calls["n"] += 1
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(200_000):  # the handler would raise in here, outside critical()
                pass
        real_replace(src, dst)

    with run_folder(tmp_path, "run") as rf:  # an old, complete run folder to replace
        rf.write_text("report.txt", "old\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", replace_then_signal)
        with pytest.raises(signals.Interrupted) as info, signals.guard("homodyne"):
            signals.set_stage("writing results")
            with run_folder(tmp_path, "run", overwrite=True) as rf:
                rf.write_text("report.txt", "new\n")
            time.sleep(5)  # not reached: the signal is raised as the commit ends
    assert calls["n"] == 1
    assert (tmp_path / "run" / "report.txt").read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no partial, no old copy
    line = signals.message(info.value.signum, "writing results")
    assert f"the results written before it are complete ({tmp_path / 'run'})" in line
    assert "no results were written" not in line


def test_the_watchdog_waits_for_a_commit_and_reports_one_line(tmp_path: Path) -> None:
    """A commit that outlasts the grace (a slow file system): the watchdog does not end
    the process in the middle of it; the run then stops with one line saying the
    committed results are complete."""
    final = tmp_path / "run"
    code = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from homodyne.runtime import signals
        try:
            with signals.guard("homodyne"):
                signals.set_stage("writing results")
                with signals.critical():
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(2.5)  # longer than the 1 s grace
                    os.mkdir({str(final)!r})
                    signals.note_committed({str(final)!r})
                time.sleep(5)
        except KeyboardInterrupt as exc:
            print(signals.message(exc.signum, exc.stage), file=sys.stderr)
            sys.exit(signals.exit_code(exc.signum))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOMODYNE_INTERRUPT_GRACE": "1"},
    )
    assert proc.returncode == 143, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "interrupted by" in ln]
    assert len(lines) == 1, proc.stderr
    assert "the results written before it are complete" in lines[0], lines[0]
    assert final.is_dir()


def test_a_signal_that_a_library_swallowed_still_ends_the_command_with_its_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A library catches the interruption and the command goes on to its end: the exit
    status is still the signal's, with the one interruption line (a signal is never lost)."""
    from homodyne import run_homodyne

    def dispatch(argv: list[str], prog: str) -> int:
        signals.set_stage("a library's loop")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # what some libraries do with Ctrl-C
        return 0

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_homodyne, "_dispatch", dispatch)
        code = run_homodyne.main([])
    err = capsys.readouterr().err
    assert code == 143, err
    lines = [ln for ln in err.splitlines() if "interrupted by" in ln]
    assert lines == [
        "homodyne: interrupted by SIGTERM during a library's loop; "
        "no results were written (partial files removed)"
    ]


def test_the_handler_raises_even_when_the_watchdog_recorded_the_signal_first() -> None:
    """The watchdog thread reads the wake-up socket and records the signal; on a loaded
    machine it does so before the main thread runs the Python handler. The handler must
    still raise (it once took the recorded signal for "already stopping" and returned:
    a batch then ran to its end with exit status 0 after SIGTERM)."""
    t0 = time.monotonic()
    with pytest.raises(signals.Interrupted) as info, signals.guard("homodyne"):
        signals._state.signum = signal.SIGTERM  # what the watchdog does on waking
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(2)  # the handler raises before this ends
    assert info.value.signum == signal.SIGTERM
    assert time.monotonic() - t0 < 1.5


@linux
def test_reap_children_spares_and_does_not_wait_for_the_resource_tracker() -> None:
    """A run whose chains used worker processes has multiprocessing's resource tracker as
    a child: reap_children kills the other children at once and leaves the tracker, which
    ends by itself when its parent exits (killed, it was restarted by the exit clean-up,
    which then printed tracebacks after the interruption line)."""
    code = """
import json, multiprocessing, subprocess, sys, time
from multiprocessing import resource_tracker
from homodyne.runtime import signals
ctx = multiprocessing.get_context("spawn")
q = ctx.Queue()  # starts the resource tracker
tracker = resource_tracker._resource_tracker._pid
child = subprocess.Popen(["sleep", "60"])
t0 = time.monotonic()
n = signals.reap_children()
print(json.dumps({"n": n, "s": time.monotonic() - t0, "tracker": tracker,
                  "left": signals.descendants(), "child_gone": child.poll() is not None}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["n"] == 1 and out["child_gone"]
    assert out["left"] == [out["tracker"]]
    assert out["s"] < 1.0
    assert "Traceback" not in proc.stderr and "resource_tracker" not in proc.stderr
