"""A signal whose Interrupted Python has to drop still stops the run.

The handler runs at the next bytecode of the main thread, which can be inside a weakref
callback or a ``__del__`` method (garbage collection during h5py or NumPy work); Python
prints such an exception as "Exception ignored" and carries on. The run must stop all
the same, by the signal delivered again (not only when the watchdog's grace ends), with one interruption line.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import signal, sys, time, weakref
    from homodyne.runtime import signals

    class Thing:
        pass

    def callback(_ref):
        signal.raise_signal(signal.{sig})
        total = 0
        for i in range(10000):  # the Python handler runs here, inside the callback
            total += i

    t0 = time.monotonic()
    try:
        with signals.guard("probe"):
            thing = Thing()
            ref = weakref.ref(thing, callback)
            del thing  # the callback runs now; its Interrupted is dropped by Python
            while time.monotonic() - t0 < 100:
                sum(range(1000))
            print("not interrupted")
    except signals.Interrupted as exc:
        print(f"interrupted after {{time.monotonic() - t0:.3f}} s, stage {{exc.stage}}")
        sys.exit(exc.exit_code)
    """
)


def _blocked(sig: str):  # type: ignore[no-untyped-def]
    """Start the child with ``sig`` blocked, as a parent's signal mask is inherited."""
    import signal

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {getattr(signal, sig)})

    return preexec


@pytest.mark.parametrize("inherited_block", [False, True])
@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_dropped_interruption_is_delivered_again(
    sig: str, code: int, inherited_block: bool
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(sig=sig)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_blocked(sig) if inherited_block else None,
        env={**__import__("os").environ, "HOMODYNE_INTERRUPT_GRACE": "200"},
    )
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    # raised again in the main loop by Python code (the except clause printed this line),
    # not ended by the watchdog after its grace (which prints nothing on stdout), nor left
    # running to the end of its loop
    assert proc.stdout.startswith("interrupted after "), (proc.stdout, proc.stderr)
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
