"""Plotting leaves matplotlib's global state alone: no backend switch, no pyplot."""

from __future__ import annotations

import json
import subprocess
import sys


def test_plots_keep_the_users_backend_and_do_not_load_pyplot(tmp_path) -> None:
    code = f"""
import json, sys
import matplotlib
matplotlib.use("svg")
import numpy as np
from pathlib import Path
from homodyne.results.plots import plot_fit, plot_maps
t = np.arange(1, 21) * 0.1
c2 = 1.0 + 0.2 * np.exp(-np.abs(t[:, None] - t[None, :]))[None].repeat(2, axis=0)
out = Path({str(tmp_path)!r})
files = plot_maps(out, c2, t, [0.0, 90.0], "experimental")
files += plot_fit(out, c2, c2 * 1.001, np.array([0.01, 0.01]), t, [0.0, 90.0])
print(json.dumps({{"backend": matplotlib.get_backend(), "pyplot": "matplotlib.pyplot" in sys.modules,
                  "png": all(Path(f).read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n" for f in files),
                  "n": len(files)}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"backend": "svg", "pyplot": False, "png": True, "n": 6}
