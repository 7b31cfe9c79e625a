"""The stack-isolation policy: no JAX beside PyTensor, no PyTensor beside JAX.

The written policy is ``policy/*.toml`` (pixi-policy files) with ``policy/isolation.toml``
saying which environments each applies to. pixi-policy checks every environment of a lock
against one policy, so for each policy this module writes a copy of the lock holding only
that policy's environments into a scratch workspace and runs ``pixi-policy check`` there.

    python -m tools.conda_offline.policy pixi.lock     # exit 1 on a finding
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path

from . import manifest as mf
from .depmap import REPO_ROOT

POLICY_DIR = REPO_ROOT / "policy"


def pixi_policy_exe() -> str:
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "pixi-policy",
        Path(sys.executable).with_name("pixi-policy"),
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("pixi-policy")
    if not found:
        raise FileNotFoundError("pixi-policy is not installed (pip install pixi-policy)")
    return found


def rules(policy_dir: Path = POLICY_DIR) -> dict[str, dict]:
    data = tomllib.loads((policy_dir / "isolation.toml").read_text())
    for rule in data.values():
        rule["path"] = policy_dir / rule["policy"]
    return data


def coverage(manifest: dict, policy_dir: Path = POLICY_DIR) -> list[str]:
    """Every environment of the manifest is under exactly one isolation policy, and no
    solve group holds environments of two policies."""
    problems = []
    owner: dict[str, str] = {}
    for name, rule in rules(policy_dir).items():
        for env in rule["environments"]:
            if env in owner:
                problems.append(f"environment {env} is under both {owner[env]} and {name}")
            owner[env] = name
    envs = mf.environments(manifest)
    for env in envs:
        if env not in owner:
            problems.append(
                f"environment {env} is under no isolation policy (policy/isolation.toml)"
            )
    for env in owner:
        if env not in envs:
            problems.append(
                f"policy/isolation.toml names environment {env}, which pixi.toml does not define"
            )
    groups: dict[str, set[str]] = {}
    for env, e in envs.items():
        if e["solve-group"] and env in owner:
            groups.setdefault(e["solve-group"], set()).add(owner[env])
    for group, owners in groups.items():
        if len(owners) > 1:
            problems.append(f"solve group {group} mixes environments of {sorted(owners)}")
    return problems


def _filtered_lock(src: Path, dest: Path, keep: list[str]) -> list[str]:
    """Copy the environments ``keep`` of lock ``src`` into a new lock; return those found."""
    from rattler import (
        CondaLockedBinaryPackage,
        LockChannel,
        LockFile,
        LockPlatform,
        PypiLockedPackage,
    )

    lock = LockFile.from_path(str(src))
    new = LockFile(
        [
            LockPlatform(p.name, p.subdir, [str(v) for v in p.virtual_packages] or None)
            for p in lock.platforms()
        ]
    )
    new_platforms = {p.name: p for p in new.platforms()}
    found = []
    for name, env in lock.environments():
        if name not in keep:
            continue
        found.append(name)
        new.set_channels(name, [LockChannel(str(c)) for c in env.channels()])
        for platform in env.platforms():
            for pkg in env.packages(platform) or []:
                target = new_platforms[platform.name]
                if isinstance(pkg, CondaLockedBinaryPackage):
                    new.add_conda_package(name, target, pkg.repo_data_record())
                elif isinstance(pkg, PypiLockedPackage):
                    new.add_pypi_package(name, target, pkg.name, str(pkg.version), pkg.location)
                else:
                    raise ValueError(f"{src}: cannot copy the source package {pkg.name} of {name}")
    new.to_path(str(dest))
    return found


def check_lock(
    lock: Path, manifest_path: Path = mf.MANIFEST, policy_dir: Path = POLICY_DIR
) -> list[dict]:
    """Run pixi-policy for each isolation policy on its environments of ``lock``.

    Returns the findings (pixi-policy's JSON objects, with the policy named); empty: clean."""
    exe = pixi_policy_exe()
    findings: list[dict] = []
    for _rule_name, rule in rules(policy_dir).items():
        with tempfile.TemporaryDirectory(prefix="homodyne-policy-") as tmp:
            ws = Path(tmp)
            shutil.copy(manifest_path, ws / "pixi.toml")
            if not _filtered_lock(Path(lock), ws / "pixi.lock", rule["environments"]):
                continue  # this lock has none of the policy's environments
            shutil.copy(rule["path"], ws / "policy.toml")
            proc = subprocess.run(
                [
                    exe,
                    "check",
                    "--manifest-path",
                    str(ws / "pixi.toml"),
                    "--policy",
                    str(ws / "policy.toml"),
                    "--format",
                    "json",
                    "--color",
                    "never",
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode not in (0, 1):
                raise RuntimeError(
                    f"pixi-policy could not check {lock} against {rule['path'].name}: {proc.stderr}"
                )
            report = json.loads(proc.stdout)
            for f in report["findings"]:
                findings.append({**f, "policy": rule["path"].name})
    return findings


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    lock = Path(args[0] if args else REPO_ROOT / "pixi.lock")
    problems = coverage(mf.load())
    for p in problems:
        print(f"error: {p}")
    findings = check_lock(lock)
    for f in findings:
        print(
            f"error[{f['rule']}] {f['package']} {f.get('version', '')} in environment {f['environment']} "
            f"({f['platform']}): {f['message']} [{f['policy']}]"
        )
    print(f"isolation policy: {len(problems) + len(findings)} problem(s) in {lock}")
    return 1 if problems or findings else 0


if __name__ == "__main__":
    sys.exit(main())
