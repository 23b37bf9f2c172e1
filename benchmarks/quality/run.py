"""Measure reading quality: make pages of every condition, scan them, score, write results.md.

    python -m benchmarks.quality.run [--pages-per-condition N] [--seed S] [--conditions a,b] [--keep DIR] [--draw DIR]

Targets, over all pages: digit F1 >= 0.98 and number exact-match >= 0.95. The exit status is 0
whether or not they are met: this measures, it does not gate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from .generate import generate, parse_conditions
from .score import failures, kinds_table, read_alone, scan_folder, summarize, table
from .synth import CONDITIONS, EXTRA_CONDITIONS

TARGET_F1 = 0.98
TARGET_NUMBERS = 0.95
RESULTS = Path(__file__).resolve().parent / "results.md"


def _model_name(scanner) -> str:
    path = getattr(scanner.classifier, "path", None)
    if not path:
        return type(scanner.classifier).__name__
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def run(pages: int, seed: int, conditions: tuple[str, ...], folder: Path, model: Path | None,
        results: Path | None, show_failures: int, draw: Path | None = None) -> int:
    from digitscan import Scanner

    t0 = time.perf_counter()
    truth = generate(folder, pages, seed, conditions)
    t1 = time.perf_counter()
    scanner = Scanner(model)
    scores = scan_folder(folder, scanner, draw)
    t2 = time.perf_counter()
    read_alone(folder, scores, scanner.classifier.predict)
    totals = summarize(scores, CONDITIONS + EXTRA_CONDITIONS)
    overall = totals["overall"]
    met = overall.f1 >= TARGET_F1 and overall.number_exact >= TARGET_NUMBERS
    n = len(truth["pages"])
    command = "python -m benchmarks.quality.run " + " ".join(sys.argv[1:]) if sys.argv[1:] else \
        "python -m benchmarks.quality.run"
    report = [
        "# Reading quality on synthetic photographed pages",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}` "
        f"({pages} pages per condition, seed {seed}); model `{_model_name(scanner)}`; "
        f"Python {platform.python_version()} on {os.cpu_count()} CPU(s).",
        "",
        "Pages are MNIST *test* digits written on synthetic photos (see README.md, section Reading quality). A digit is right "
        "when its label matches and its box has IoU >= 0.5 with the ink's; a number is found when a read "
        "number has exactly its text (separators included) and overlaps it; `digits-only exact` ignores `,` and `.`; "
        "`number P` is the share of numbers read that are real. `read alone` is the share of the digits that the "
        "model reads right when shown each MNIST digit alone: what a perfect segmentation would allow.",
        "",
        table(totals),
        "",
        f"Targets: digit F1 >= {TARGET_F1} and number exact-match >= {TARGET_NUMBERS}: "
        f"**{'met' if met else 'not met'}** (F1 {overall.f1:.4f}, numbers {overall.number_exact:.4f}: "
        f"{overall.found_numbers} of {overall.truth_numbers} read exactly, "
        f"{math.ceil(TARGET_NUMBERS * overall.truth_numbers)} needed).",
        "",
        f"Generation {t1 - t0:.1f} s; scanning {t2 - t1:.1f} s for {n} pages "
        f"({1000 * (t2 - t1) / max(1, n):.0f} ms a page).",
    ]
    report += ["", "## Digit errors by kind", "", kinds_table(totals)]
    listing = failures(scores, show_failures)
    if listing:
        report += ["", f"## Pages read imperfectly (worst {show_failures} at most)", "", listing]
    text = "\n".join(report) + "\n"
    print(text)
    if results is not None:
        from digitscan.outputs import atomic_write_bytes

        atomic_write_bytes(results, text.encode())
        print(f"wrote {results}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages-per-condition", type=int, default=10, help="default 10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", default=None,
                        help=f"comma-separated, of: {', '.join(CONDITIONS + EXTRA_CONDITIONS)} (default: all but "
                             f"{', '.join(EXTRA_CONDITIONS)})")
    parser.add_argument("--keep", type=Path, default=None, help="write the pages here (kept) instead of a temp folder")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: $DIGITSCAN_MODEL or shipped)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"Markdown report (default {RESULTS.name})")
    parser.add_argument("--no-results", action="store_true", help="print only, do not write the report")
    parser.add_argument("--failures", type=int, default=30, help="list this many imperfect pages (default 30)")
    parser.add_argument("--draw", type=Path, default=None, help="write truth-vs-read overlays of imperfect pages here")
    args = parser.parse_args(argv)
    if args.pages_per_condition < 1:
        raise SystemExit("--pages-per-condition must be at least 1")
    conditions = parse_conditions(args.conditions)
    results = None if args.no_results else args.results
    if args.keep is not None:
        sys.exit(run(args.pages_per_condition, args.seed, conditions, args.keep, args.model, results, args.failures,
                     args.draw))
    with tempfile.TemporaryDirectory(prefix="digitscan-quality-") as tmp:
        sys.exit(run(args.pages_per_condition, args.seed, conditions, Path(tmp), args.model, results, args.failures,
                     args.draw))


if __name__ == "__main__":
    main()
