"""Cost of the cache's integrity checks on a 23-angle x 1000² stack (not a timed test).

Measures, on an APS-U file written by the package's simulator (23 angles of one q ring,
1000 frames, float64 half matrices: the size of a full APS 8-ID-I result):

* ``file_sha256``: the content hash of the source, computed once per run (it is the cache
  key and the ``input.sha256`` of results.json);
* ``payload_sha256``: the checksum of a cache entry's arrays, verified on every read;
* a load that misses the cache (hash + HDF5 read + cache write) and one that hits it
  (hash + cache read + checksum).

CPU time (``time.process_time``) and wall time, the minimum of ``--repeats`` runs; the
machine is shared, so the CPU times are the numbers to compare. Results go to
``benchmarks/results/hash.json``; docs/data_formats.rst quotes them.

Usage::

    python benchmarks/bench_hash.py [--repeats 3] [--keep FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from homodyne.data import load_dataset, write_simulated_file
from homodyne.data.cache import file_sha256, payload_sha256
from homodyne.data.simulate import REALISTIC_PARAMS

OUT = Path(__file__).parent / "results" / "hash.json"


def _best(fn, repeats: int) -> dict[str, float]:
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"cpu_s": min(cpu), "wall_s": min(wall)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", metavar="FILE", help="write the data file here and keep it")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.keep) if a.keep else Path(tmp) / "stack_23x1000.h5"
        if not path.exists():
            phi = np.linspace(-40.0, 180.0, 23).tolist()
            write_simulated_file(
                path,
                mode="laminar_flow",
                params={**REALISTIC_PARAMS, "phi0": 5.0},
                phi=phi,
                q_values=(0.0054,),
                n_frames=1000,
                noise_sigma=0.003,
                seed=1,
            )
        size = path.stat().st_size
        cache = Path(tmp) / "cache"
        res: dict = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, NumPy {np.__version__}",
            "file_mb": size / 1e6,
            "repeats": a.repeats,
        }
        res["file_sha256"] = _best(lambda: file_sha256(path), a.repeats)
        res["file_sha256"]["mb_per_cpu_s"] = size / 1e6 / res["file_sha256"]["cpu_s"]
        ds = load_dataset(path, q=0.0054)
        arrays = {"c2_exp": ds.c2, "phi": ds.phi, "t": ds.t}
        res["payload_sha256"] = _best(lambda: payload_sha256(arrays), a.repeats)

        def miss() -> None:
            for f in cache.glob("*.npz"):
                f.unlink()
            load_dataset(path, q=0.0054, cache_dir=cache)

        res["load_miss"] = _best(miss, a.repeats)
        res["load_hit"] = _best(lambda: load_dataset(path, q=0.0054, cache_dir=cache), a.repeats)
        res["c2_values"] = int(ds.c2.size)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
