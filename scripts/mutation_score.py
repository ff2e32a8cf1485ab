#!/usr/bin/env python3
"""The mutation score per module and in total, from ``mutmut results --all`` on stdin.

Detected: killed, timed out, or crashed by the mutant. Everything else that was
checked counts against the score (survived, no tests reached it, suspicious); mutants
not checked yet are left out and counted apart. Exits 1 below ``--minimum`` percent.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict

DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
UNCHECKED = {"not checked", "skipped", "check was interrupted by user"}
_LINE = re.compile(r"^\s*(?P<name>\S+?)__mutmut_\d+: (?P<status>.+?)\s*$")


def module_of(name: str) -> str:
    """``audioconv.domain.model.xǁTaskǁrenew`` -> ``audioconv.domain.model``."""
    parts = name.split(".")
    while parts and not parts[-1].startswith(("x_", "x\u01c1")):
        parts.pop()
    return ".".join(parts[:-1]) or name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimum", type=float, default=0.0, help="fail below this percent")
    args = parser.parse_args()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in sys.stdin:
        match = _LINE.match(line)
        if match:
            counts[module_of(match["name"])][match["status"]] += 1
    if not counts:
        print("no mutation results: run `make mutation` first", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    print(f"{'module':<40} {'detected':>9} {'checked':>8} {'score':>7}  left")
    for module in sorted(counts):
        total.update(counts[module])
        print(_row(module, counts[module]))
    print(_row("total", total))
    score = _score(total)
    return 1 if score is not None and score < args.minimum else 0


def _score(counts: Counter[str]) -> float | None:
    checked = sum(n for status, n in counts.items() if status not in UNCHECKED)
    detected = sum(counts[status] for status in DETECTED)
    return 100 * detected / checked if checked else None


def _row(module: str, counts: Counter[str]) -> str:
    checked = sum(n for status, n in counts.items() if status not in UNCHECKED)
    detected = sum(counts[status] for status in DETECTED)
    score = _score(counts)
    left = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())
                     if status not in DETECTED)  # fmt: skip
    shown = f"{score:6.1f}%" if score is not None else "     -"
    return f"{module:<40} {detected:>9} {checked:>8} {shown:>7}  {left}"


if __name__ == "__main__":
    sys.exit(main())
