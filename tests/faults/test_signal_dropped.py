"""A signal whose Interrupted Python has to drop still stops the run.

The handler runs at the next bytecode of the main thread, which can be inside a weakref
callback or a ``__del__`` method (garbage collection during h5py or NumPy work); Python
prints such an exception as "Exception ignored" and carries on. The run must stop all
the same, promptly (not only when the watchdog's grace ends), with one interruption line.
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
            while time.monotonic() - t0 < 30:
                sum(range(1000))
            print("not interrupted")
    except signals.Interrupted as exc:
        print(f"interrupted after {{time.monotonic() - t0:.3f}} s, stage {{exc.stage}}")
        sys.exit(exc.exit_code)
    """
)


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_dropped_interruption_is_delivered_again(sig: str, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(sig=sig)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "HOMODYNE_INTERRUPT_GRACE": "20"},
    )
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    # raised again in the main loop by Python code, not ended by the watchdog after its grace
    assert proc.stdout.startswith("interrupted after "), (proc.stdout, proc.stderr)
    assert float(proc.stdout.split()[2]) < 15.0, proc.stdout
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
