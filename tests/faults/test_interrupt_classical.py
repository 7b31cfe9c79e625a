"""SIGINT, SIGTERM, SIGHUP and SIGKILL during a classical run, at several stages."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from .conftest import DONE, STOP_S, Cmd, leftovers, write_cfg

STAGES = ("loading data", "classical fit", "writing results", "plotting")
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _check_interrupted(cmd: Cmd, sig: int, t_signal: float, out: Path, after: str) -> None:
    code = cmd.finish(timeout=120)
    elapsed = time.monotonic() - t_signal
    assert code == CODES[sig], cmd.stderr
    assert elapsed < STOP_S, f"took {elapsed:.1f} s to stop"
    lines = [ln for ln in cmd.stderr.splitlines() if "interrupted by" in ln]
    assert len(lines) == 1, cmd.stderr
    name = signal.Signals(sig).name
    assert lines[0].startswith(f"homodyne: interrupted by {name} during "), lines[0]
    stage = lines[0].split(" during ", 1)[1].split(";", 1)[0]
    assert stage in STAGES[STAGES.index(after) :], lines[0]  # the stage it was in, or later
    assert "no results were written" in lines[0]
    assert "Traceback" not in cmd.stderr
    # nothing that could pass for a result: no run folder, no temporary folder, no lock
    assert not (out / "run").exists()
    assert leftovers(out) == []
    cmd.assert_no_process_left()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_during_the_classical_fit(sig: int, tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    cmd = Cmd(["-c", str(cfg), "--run-name", "run"], cwd=tmp_path)
    cmd.wait_for(r"stage: classical fit")
    t = cmd.signal(sig)
    _check_interrupted(cmd, sig, t, out, "classical fit")


@pytest.mark.parametrize("stage", ["loading data", "writing results", "plotting"])
def test_sigterm_at_other_stages(stage: str, tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    cmd = Cmd(["-c", str(cfg), "--run-name", "run"], cwd=tmp_path)
    cmd.wait_for(rf"stage: {stage}")
    t = cmd.signal(signal.SIGTERM)
    _check_interrupted(cmd, signal.SIGTERM, t, out, stage)


def test_ctrl_c_to_the_process_group(tmp_path: Path, lam_file: Path) -> None:
    """What a terminal's Ctrl-C does: SIGINT to every process of the foreground group."""
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    cmd = Cmd(["-c", str(cfg), "--run-name", "run"], cwd=tmp_path)
    cmd.wait_for(r"stage: classical fit")
    t = cmd.signal(signal.SIGINT, group=True)
    _check_interrupted(cmd, signal.SIGINT, t, tmp_path / "out", "classical fit")


def test_sigkill_while_writing_leaves_a_partial_folder_that_the_next_run_removes(
    tmp_path: Path, lam_file: Path
) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    cmd = Cmd(["-c", str(cfg), "--run-name", "run"], cwd=tmp_path)
    cmd.wait_for(r"stage: writing results")
    cmd.signal(signal.SIGKILL)
    assert cmd.finish(timeout=60) == -signal.SIGKILL
    cmd.assert_no_process_left()
    assert not (out / "run").exists(), "the run was committed before SIGKILL arrived"
    partial = [p for p in leftovers(out) if p.endswith(".partial")]
    assert len(partial) == 1, leftovers(out)
    owner = json.loads((out / partial[0] / ".owner.json").read_text())
    assert owner["pid"] == cmd.proc.pid
    # the next run into this directory recognises the dead owner and removes it
    again = Cmd(["-c", str(cfg), "--run-name", "other", "--no-plots"], cwd=tmp_path)
    assert again.finish(timeout=300) in DONE, again.stderr
    assert f"removed {out / partial[0]}, left by a run that was killed" in again.stderr
    assert leftovers(out) == []
    assert (out / "other" / "results.json").is_file()


def test_a_live_runs_partial_folder_is_not_touched(tmp_path: Path, lam_file: Path) -> None:
    """A partial folder whose owner still runs (here: this test process) stays."""
    from homodyne.results.guard import write_owner

    out = tmp_path / "out"
    live = out / ".busy.abc.partial"
    live.mkdir(parents=True)
    write_owner(live)
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    cmd = Cmd(["-c", str(cfg), "--run-name", "run", "--no-plots"], cwd=tmp_path)
    assert cmd.finish(timeout=300) in DONE, cmd.stderr
    assert live.is_dir() and "removed" not in cmd.stderr
