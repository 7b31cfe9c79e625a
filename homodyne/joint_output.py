"""The run folder of a joint fit across q (same layout and atomicity as a single run).

``results.json`` holds the joint parameters (``parameters``, ``classical``), the separate
per-q fits, the q²-scaling check (``joint_q``) and the input; ``report.txt`` the
human-readable comparison; ``joint_q_D0.png`` D0 per q against the joint value.

When MCMC ran (``method`` mcmc or all): ``mcmc_joint`` in results.json (the joint
posterior's summary: mean, sd, 94 % HDI, R̂, ESS per parameter, diagnostics, verdict),
``joint_q.posterior_q2_scaling`` (the per-q posterior D0 against the joint posterior
D0), ``verdict`` (the shared verdict of the joint posterior), the files
``mcmc_joint_<backend>.nc`` and ``mcmc_joint_summary.json``, and one folder
``mcmc_q<q>`` per separately sampled q ring.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["joint_report", "write_joint_run"]


def _check_lines(chk: dict[str, Any], what: str) -> list[str]:
    lines = [f"[[q² scaling check: D0 per q against the joint D0 ({what})]]"]
    for r in chk["per_q"]:
        z = "n/a" if r["z"] is None else f"{r['z']:+.2f} σ"
        lines.append(
            f"    q={r['q']:<10g} D0={r['value']:.5g} ± {r['stderr'] or float('nan'):.3g}  ({z})"
        )
    jv, je = chk["joint"]["value"], chk["joint"]["stderr"]
    lines.append(f"    joint D0={jv:.5g} ± {je or float('nan'):.3g}")
    s, se = chk.get("exponent_s"), chk.get("exponent_s_stderr")
    lines.append(
        f"    χ²={chk['chi2']:.3g} for {chk['n']} q  p={chk['p_value'] if chk['p_value'] is not None else float('nan'):.3g}"
        + (f"  D0_q ∝ q^s with s = {s:+.3g} ± {se:.2g}" if s is not None else "")
    )
    lines.append(
        "    consistent with one J(t) for all q (q² scaling holds)"
        if chk["consistent"]
        else "    MISMATCH: the per-q fits disagree with the joint fit (q² scaling violated, or a "
        "wrong model at some q); look at the per-q values above"
    )
    return lines


def mcmc_joint_report(outcome: Any) -> list[str]:
    """The report block of the joint posterior (MCMC)."""
    m = outcome.joint_mcmc
    sm = m.summary
    lines = [
        f"[[Joint posterior across q (MCMC, {m.backend_name})]] q = {', '.join(f'{q:g}' for q in m.q)} 1/Å",
        "    this is the JOINT result: one physical parameter set for all q rings, "
        "contrast/offset/sigma_scale per ring",
        f"    {sm['verdict']['text']}",
        f"    chains={m.settings.chains} draws={m.settings.draws} tune={m.settings.tune}  "
        f"divergences={sm['divergences']}  time={m.timing['total_s']:.1f} s",
        f"    {'parameter':<20s} {'mean':>12s} {'sd':>11s} {'hdi_3%':>12s} {'hdi_97%':>12s} {'r_hat':>7s} {'ess_bulk':>9s}",
    ]
    for name, row in sm["parameters"].items():
        if row.get("fixed"):
            lines.append(f"    {name:<20s} {row['mean']:>12.6g}  (fixed)")
            continue
        lines.append(
            f"    {name:<20s} {row['mean']:>12.6g} {row['sd']:>11.4g} {row['hdi_3%']:>12.6g} "
            f"{row['hdi_97%']:>12.6g} {row['r_hat'] or float('nan'):>7.4f} {row['ess_bulk'] or float('nan'):>9.0f}"
        )
    lines += m.assessment.lines()
    for q, sep in zip(m.q, outcome.separate_mcmc, strict=True):
        lines.append(f"    separate MCMC at q={q:g}: {sep.summary['verdict']['text']}")
    lines += _check_lines(outcome.mcmc_check, "posterior, MCMC")
    return lines


def joint_report(outcome: Any) -> str:
    j, chk = outcome.joint, outcome.check
    lines = [
        f"[[Joint fit across q]] q = {', '.join(f'{q:g}' for q in j.q)} 1/Å  converged={j.success}",
        f"    data points={j.n_data}  free variables={j.n_free}  χ²={j.chi2:.6g}  reduced χ²={j.chi2_red:.4f}",
        f"    verdict: {j.verdict()}",
        "[[Parameters (shared by all q)]]",
    ]
    for name, p in j.parameters.items():
        err = "(fixed)" if p.fixed else f"± {p.stderr:.4g}" if p.stderr is not None else ""
        lines.append(f"    {name:<20s} = {p.value:< 14.6g} {err} {p.unit}")
    lines.append("[[Separate per-q fits]]")
    for q, s in zip(j.q, outcome.separate, strict=True):
        vals = "  ".join(
            f"{n}={p.value:.5g}±{(p.stderr or float('nan')):.3g}"
            for n, p in s.parameters.items()
            if not p.fixed
        )
        lines.append(f"    q={q:<10g} χ²_red={s.chi2_red:.4f}  {vals}")
    lines += _check_lines(chk, "classical fits")
    if getattr(outcome, "joint_mcmc", None) is not None:
        lines += mcmc_joint_report(outcome)
    return "\n".join(lines)


def _plot(path: Path, outcome: Any) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ._util.atomic import atomic_call

    chk = outcome.check
    q = np.array([r["q"] for r in chk["per_q"]])
    v = np.array([np.nan if r["value"] is None else r["value"] for r in chk["per_q"]], dtype=float)
    e = np.array(
        [np.nan if r["stderr"] is None else r["stderr"] for r in chk["per_q"]], dtype=float
    )
    jv, je = chk["joint"]["value"], chk["joint"]["stderr"] or 0.0
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(q, v, yerr=np.nan_to_num(e), fmt="o", capsize=3, label="separate fit per q")
    ax.axhspan(jv - je, jv + je, color="tab:orange", alpha=0.3)
    ax.axhline(jv, color="tab:orange", label="joint fit")
    ax.set_xlabel("q [1/Å]")
    ax.set_ylabel("D0 [Å²/s]")
    ax.set_title("q² scaling: " + ("consistent" if chk["consistent"] else "MISMATCH"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_call(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    plt.close(fig)


def write_joint_run(
    outcome: Any,
    *,
    config: Any,
    problems: list[Any],
    output_dir: Path,
    run_name: str,
    overwrite: bool,
    plots: bool,
    command: list[str] | None,
) -> Path:
    from .results.writer import environment_info, fit_to_dict, run_folder

    j = outcome.joint
    jd = j.to_dict()
    with run_folder(output_dir, run_name, overwrite=overwrite) as rf:
        doc: dict[str, Any] = {
            "homodyne_version": environment_info()["homodyne_analysis"],
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": command or [],
            "analysis_mode": j.parameters.mode,
            "input": {
                "file": problems[0].provenance.get("source"),
                "sha256": problems[0].provenance.get("source_sha256"),
                "q": j.q,
                "phi_used": problems[0].phi.tolist(),
                "phi_used_per_q": [p.phi.tolist() for p in problems],
            },
            "environment": environment_info(),
            "config": config.to_dict(),
            "parameters": jd["parameters"],
            "chi2": {"chi2": j.chi2, "reduced_chi2": j.chi2_red},
            "classical": {**jd, "method": "joint-q trf"},
            "joint_q": {
                "q": j.q,
                "separate": [
                    {"q": p.q, **fit_to_dict(s, p)}
                    for p, s in zip(problems, outcome.separate, strict=True)
                ],
                "q2_scaling": outcome.check,
            },
        }
        mcmc = outcome.separate_mcmc
        if mcmc:
            doc["joint_q"]["separate_mcmc"] = [
                {"q": p.q, "summary": m.summary} for p, m in zip(problems, mcmc, strict=True)
            ]
            for p, m in zip(problems, mcmc, strict=True):
                sub = rf.path / f"mcmc_q{p.q:.5g}"
                sub.mkdir()
                m.save(sub)
        jm = outcome.joint_mcmc
        if jm is not None:
            from .results.verdict import run_verdict

            doc["mcmc_joint"] = jm.summary
            doc["joint_q"]["posterior_q2_scaling"] = outcome.mcmc_check
            doc["joint_q"]["joint_result"] = "mcmc_joint (posterior) and classical (joint fit)"
            doc["verdict"] = run_verdict(mcmc=jm)
            jm.save(rf.path)
        rf.write_text("report.txt", joint_report(outcome) + "\n")
        if plots:
            _plot(rf.path / "joint_q_D0.png", outcome)
        rf.write_json("results.json", doc)
        final = rf.final
    return final
