"""Pages that bow: the numbers read on the quality benchmark's pages as made, and bowing.

    python -m benchmarks.bowed [--pages 10] [--seed 0] [--sags 0.03,0.05] [--digits validation|test]
                               [--conditions clean,ruled,grid,boxes,geometry]

A sheet lying curled on a table, or held in the hand, bows: its rows bend, its lines with them,
and the fields of a form on its left tilt one way while those on its right tilt the other. Each
page of the quality benchmark (`benchmarks.quality.synth`, the same pages as
`benchmarks.quality.generate` writes for a seed) is read as made, and again after every row of
the photo is bent along a parabola whose middle lies `sag` of the photo's height below its
sides. Numbers count by exact text (the bend moves their boxes); prints, by condition, the
numbers written and those read exactly, flat and at each sag.

The pipeline was tuned on `--digits validation` pages; `--digits test` is the measurement.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quality.synth import CONDITIONS, DigitBank, bow, make_page, page_seed  # noqa: E402
from digitscan import Scanner  # noqa: E402

BENT = ("clean", "ruled", "grid", "boxes", "geometry")


def read_right(scanner: Scanner, image: np.ndarray, written: list[str]) -> int:
    """How many of the written numbers are read exactly (each reading counts once)."""
    return sum((Counter(written) & Counter(scanner.scan(image).texts)).values())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=10, help="pages a condition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sags", default="0.03,0.05", help="how far the middle sags, in page heights")
    p.add_argument("--digits", choices=("validation", "test"), default="validation")
    p.add_argument("--conditions", default=",".join(BENT))
    args = p.parse_args(argv)
    sags = [float(s) for s in args.sags.split(",")]
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"unknown condition(s): {', '.join(sorted(unknown))}")
    bank = DigitBank.mnist_validation() if args.digits == "validation" else DigitBank.mnist_test()
    scanner = Scanner()
    header = ["condition", "written", "flat"] + [f"sag {s:g}" for s in sags]
    print("".join(f"{h:>12}" for h in header))
    totals = np.zeros(len(sags) + 2, int)
    for condition in conditions:
        row = np.zeros(len(sags) + 2, int)
        for i in range(args.pages):
            page = make_page(condition, page_seed(args.seed, condition, i), bank)
            image = cv2.imdecode(np.frombuffer(page.encode()[0], np.uint8), cv2.IMREAD_COLOR)
            row[0] += len(page.texts)
            row[1] += read_right(scanner, image, page.texts)
            for k, sag in enumerate(sags):
                row[2 + k] += read_right(scanner, bow(image, sag * image.shape[0]), page.texts)
        totals += row
        print(f"{condition:>12}" + "".join(f"{v:>12}" for v in row))
    print(f"{'all':>12}" + "".join(f"{v:>12}" for v in totals))


if __name__ == "__main__":
    main()
