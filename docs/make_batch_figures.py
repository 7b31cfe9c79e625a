"""Make the figures of docs/batch.rst from a small simulated experiment (a real batch).

    python docs/make_batch_figures.py      # writes docs/_static/batch_*.png

Four samples at 290-320 K whose D0 grows with temperature, two q rings each, static
isotropic; the batch runs on a LocalCluster of two workers, then a joint fit across q of
one file. The figures are the batch's own summary plots, copied.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    import h5py

    from homodyne.batch import EngineOptions, load_manifest, run_batch
    from homodyne.config import template
    from homodyne.data import write_simulated_file

    out = HERE / "_static"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        for i, temp in enumerate((290.0, 300.0, 310.0, 320.0)):
            path = root / "data" / f"gel_{int(temp)}K.h5"
            write_simulated_file(
                path,
                mode="static_isotropic",
                params={"D0": 500.0 * 1.35**i, "alpha": -0.3, "D_offset": 0.0},
                q_values=(0.008, 0.012, 0.016),
                n_frames=60,
                contrast=0.3,
                noise_sigma=0.004,
                seed=i,
            )
            with h5py.File(path, "a") as h5:
                h5.attrs["temperature"] = temp
                h5.attrs["sample_name"] = f"gel {int(temp)} K"
        cfg = template("static_isotropic")
        cfg["parameters"]["D_offset"].update({"value": 0.0, "fixed": True})
        cfg["output"]["plots"] = False
        (root / "base.json").write_text(json.dumps(cfg))
        (root / "batch.toml").write_text(
            'config = "base.json"\nfiles = ["data/*.h5"]\nq = "all"\noutput = "out"\n'
            'metadata_column = "temperature"\n'
        )
        m = load_manifest(root / "batch.toml")
        res = run_batch(m, EngineOptions(workers=2, dashboard=False), progress=sys.stderr)
        for key, name in (
            ("plot_vs_metadata", "batch_summary_vs_temperature.png"),
            ("plot_J_t", "batch_summary_J_t.png"),
        ):
            shutil.copy(res.summary[key], out / name)
        from homodyne.batch.manifest import Override

        m.joint_q = True
        m.output = root / "joint"
        m.files = m.files[:1]
        m.overrides.append(Override("*", {"output": {"plots": True}}))
        res = run_batch(m, EngineOptions(workers=1, dashboard=False), progress=sys.stderr)
        (rec,) = res.records.values()
        shutil.copy(Path(rec["run_dir"]) / "joint_q_D0.png", out / "batch_joint_q_D0.png")
        print((Path(rec["run_dir"]) / "report.txt").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
