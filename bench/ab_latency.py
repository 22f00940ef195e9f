"""Two checkouts' keystroke latency, alternated: is a difference more than this machine's noise?

    python bench/ab_latency.py OLD_CHECKOUT NEW_CHECKOUT [--pairs 6] [-- UI_LATENCY_ARGS...]

Each checkout needs its own .venv (`make install` there; `git worktree add --detach DIR COMMIT`
makes one of a commit). Runs each checkout's own bench/ui_latency.py in turn, in ABBA order so that
the machine's drift over the run hits both alike, and prints each run's figures, then per
checkout the medians and, per figure, the difference of the means with a two-sided permutation
test (20,000 shuffles, seeded). Between runs of one tree, keystroke p95 varies by ±15 % and the
long event-loop gaps by 5× on this 2-core machine, so one pair settles nothing: the four pairs
that once showed a new tree worse did not hold over 12 (docs/performance.md).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

# ui_latency's summary lines -> the figures compared
FIGURES = {
    "keystroke p50 (ms)": r"repainted: p50 ([\d.]+) ms",
    "keystroke p95 (ms)": r"repainted: p50 [\d.]+ ms, p95 ([\d.]+) ms",
    "gaps > 30 ms a minute": r"over 30 ms ([\d.]+) a minute",
    "largest gap (ms)": r"largest 10 ms-timer gap ([\d.]+) ms",
    "training, watching (% of headless)": r"(\d+)% \(mean \d+%\) with the views refreshing",
    "training, typing (% of headless)": r"(\d+)% \(mean \d+%\) while typing",
}
SHUFFLES = 20_000


def run_once(checkout: Path, extra: list[str]) -> dict[str, float]:
    """One ui_latency run in `checkout` with its own venv: its figures. Raises RuntimeError
    with the output's tail when the run fails or prints no figures."""
    result = subprocess.run(
        [str(checkout / ".venv/bin/python"), "bench/ui_latency.py", *extra],
        cwd=checkout, capture_output=True, text=True,
    )  # fmt: skip
    found = {name: re.search(pattern, result.stdout) for name, pattern in FIGURES.items()}
    if result.returncode or not all(found.values()):
        tail = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"ui_latency failed in {checkout} (exit {result.returncode}):\n{tail}")
    return {name: float(match[1]) for name, match in found.items()}


def permutation_p(a: list[float], b: list[float], rng: random.Random) -> float:
    """Two-sided p of mean(b) - mean(a) under random relabelling of the pooled runs."""
    observed = abs(statistics.mean(b) - statistics.mean(a))
    pool, n, hits = a + b, len(a), 0
    for _ in range(SHUFFLES):
        rng.shuffle(pool)
        hits += abs(statistics.mean(pool[n:]) - statistics.mean(pool[:n])) >= observed - 1e-12
    return hits / SHUFFLES


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Options after -- go to each run of bench/ui_latency.py, e.g. -- --rounds 4.",
    )
    parser.add_argument("old", type=Path, help="the checkout measured first (with its .venv)")
    parser.add_argument("new", type=Path, help="the checkout compared with it (with its .venv)")
    parser.add_argument(
        "--pairs", type=int, default=6, help="runs of each checkout, alternated (default 6)"
    )
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:split]), argv[split + 1 :]  # after --: ui_latency's
    for checkout in (args.old, args.new):
        if not (checkout / ".venv/bin/python").exists():
            parser.error(f"{checkout} has no .venv: run `make install` there first")
    runs: dict[Path, list[dict[str, float]]] = {args.old: [], args.new: []}
    for pair in range(args.pairs):
        order = (args.old, args.new) if pair % 2 == 0 else (args.new, args.old)  # ABBA
        for checkout in order:
            figures = run_once(checkout, extra)
            runs[checkout].append(figures)
            shown = ", ".join(f"{name} {value:g}" for name, value in figures.items())
            print(f"pair {pair + 1}, {checkout}: {shown}", flush=True)
    rng = random.Random(0)
    print(f"\n| figure | {args.old} | {args.new} | difference of means | p |")
    print("|---|---|---|---|---|")
    for name in FIGURES:
        old = [r[name] for r in runs[args.old]]
        new = [r[name] for r in runs[args.new]]
        print(
            f"| {name} | {statistics.median(old):.1f} ({min(old):g}–{max(old):g}) "
            f"| {statistics.median(new):.1f} ({min(new):g}–{max(new):g}) "
            f"| {statistics.mean(new) - statistics.mean(old):+.2f} "
            f"| {permutation_p(old, new, rng):.2f} |"
        )
    print(f"\nmedians over {args.pairs} runs each; p: two-sided permutation test of the means")
    return 0


if __name__ == "__main__":
    sys.exit(main())
