"""A small progress display for steps that take more than a couple of seconds.

On a terminal it redraws one status line (``[  12.3 s] fitting: start 3/9``) from a
background thread; elsewhere (log files, CI) it prints a line when a stage that has
already run for two seconds changes. ``quiet`` turns it off.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

_DELAY = 2.0


class Progress:
    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.stage = ""
        self.detail = ""
        self._stage_t0 = self.t0
        self._printed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if not self.quiet and self.tty:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._printed and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _line(self) -> str:
        el = time.perf_counter() - self.t0
        tail = f": {self.detail}" if self.detail else ""
        return f"[{el:7.1f} s] {self.stage}{tail}"

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                if time.perf_counter() - self._stage_t0 < _DELAY and not self._printed:
                    continue
                self.stream.write("\r\033[K" + self._line())
                self.stream.flush()
                self._printed = True

    def set(self, stage: str, detail: str = "") -> None:
        """Enter a stage (or update its detail)."""
        from .runtime.signals import set_stage

        set_stage(stage)  # an interruption names the stage it stopped
        with self._lock:
            now = time.perf_counter()
            if stage != self.stage:
                if (
                    not self.quiet
                    and not self.tty
                    and now - self._stage_t0 >= _DELAY
                    and self.stage
                ):
                    self.stream.write(self._line() + " (done)\n")
                self.stage = stage
                self._stage_t0 = now
            self.detail = detail

    def update(self, detail: str) -> None:
        with self._lock:
            self.detail = detail
