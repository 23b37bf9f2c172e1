"""Numbers circled by hand (marks on an exam paper): how many read exactly, ring and all.

    python benchmarks/circled.py [--pages 40] [--seed 5]

Each page is made in code: one to three handwritten digits (the committed MNIST subset in
tests/fixtures) with a hand-drawn ring round them, closed or left a little open, of any
thickness, not touching them. Prints each page read wrong and the count read exactly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitscan import Scanner  # noqa: E402
from training.data import load_split  # noqa: E402


def circled_page(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, str]:
    """A 700x500 page with one number of 1-3 digits and a ring round it; and the number."""
    page = np.full((500, 700), 235, np.uint8)
    n = int(rng.integers(1, 4))
    x, text = 300 - 25 * n, ""
    for _ in range(n):
        k = rng.integers(len(images))
        digit = cv2.resize(images[k], (70, 70))
        region = page[200:270, x : x + 70]
        np.minimum(region, 255 - digit, out=region)
        x += 50
        text += str(labels[k])
    axes = (int(25 * n + rng.uniform(60, 90)), int(rng.uniform(58, 80)))
    start, span = rng.uniform(0, 360), rng.uniform(330, 400)
    cv2.ellipse(page, (310, 235), axes, rng.uniform(-10, 10), start, start + span, 40, int(rng.integers(2, 7)))
    return page, text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=40)
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    images, labels = load_split(ROOT / "tests" / "fixtures" / "mnist_small", "test")
    rng = np.random.default_rng(args.seed)
    scanner = Scanner()
    right = 0
    for i in range(args.pages):
        page, text = circled_page(rng, images, labels)
        read = scanner.scan(page).texts
        if read == [text]:
            right += 1
        else:
            print(f"page {i}: written {text}, read {read}")
    print(f"{right} of {args.pages} circled numbers read exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
