"""Kill rates from ``mutmut results --all true``, per function and per enforced group.

    python tools/mutation_report.py RESULTS.txt [--min-rate 90] [--enforce PREFIX ...]

Every mutant that was run counts: killed (or timed out: the test run noticed) against
everything else (survived, no tests, suspicious, skipped). Mutants that were not run
("not checked") are left out. Exit status 1 when an enforced group (mutant names starting
with PREFIX) has a kill rate below --min-rate percent, or ran no mutant at all.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict

KILLED = {"killed", "timeout"}
LINE = re.compile(r"^\s*(\S+?)__mutmut_(\d+): (.+?)\s*$")


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out[f"{m[1]}__mutmut_{m[2]}"] = m[3]
    return out


def module_of(name: str) -> str:
    """homodyne.model.x_f__mutmut_3 -> homodyne.model (mutmut prefixes functions with x_,
    methods with xǁClassǁ)."""
    head = name.rsplit("__mutmut_", 1)[0]
    cut = min(i for i in (head.find(".x_"), head.find(".xǁ"), len(head)) if i >= 0)
    return head[:cut]


def rate(statuses: list[str]) -> tuple[int, int, float]:
    ran = [s for s in statuses if s != "not checked"]
    killed = sum(s in KILLED for s in ran)
    return killed, len(ran), 100.0 * killed / len(ran) if ran else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--min-rate", type=float, default=90.0)
    ap.add_argument("--enforce", action="append", default=[])
    args = ap.parse_args(argv)
    with open(args.results, encoding="utf-8") as fh:
        results = parse(fh.read())
    by_function: dict[str, list[str]] = defaultdict(list)
    for name, status in results.items():
        by_function[name.rsplit("__mutmut_", 1)[0]].append(status)
    print(f"{'function':70s} {'killed':>6s} {'ran':>5s} {'rate':>6s}  other outcomes")
    for fn in sorted(by_function):
        k, n, r = rate(by_function[fn])
        if n == 0:
            continue
        other = Counter(s for s in by_function[fn] if s not in KILLED and s != "not checked")
        detail = ", ".join(f"{v} {s}" for s, v in sorted(other.items()))
        print(f"{fn:70s} {k:6d} {n:5d} {r:5.1f}%  {detail}")
    by_file: dict[str, list[str]] = defaultdict(list)
    for name, status in results.items():
        by_file[module_of(name)].append(status)
    for mod in sorted(by_file):
        k, n, r = rate(by_file[mod])
        if n:
            print(f"{'file ' + mod.replace('.', '/') + '.py':70s} {k:6d} {n:5d} {r:5.1f}%")
    k, n, r = rate(list(results.values()))
    print(f"{'all mutants run':70s} {k:6d} {n:5d} {r:5.1f}%")
    survivors = sorted(n for n, s in results.items() if s not in KILLED and s != "not checked")
    if survivors:
        print("not killed:", *survivors, sep="\n  ")
    failed = False
    for prefix in args.enforce:
        k, n, r = rate([s for name, s in results.items() if name.startswith(prefix)])
        ok = n > 0 and r >= args.min_rate
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'}: {prefix}* kill rate {r:.1f}% ({k}/{n}), required {args.min_rate:g}%"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
