"""Continental 1s and 7s: how a model reads a flagged 1 and a crossed 7.

    python benchmarks/styles.py [--model models/digitscan_int8.tflite] [--per-style 500] [--lines 300] [--seed 0]

MNIST's 1s and 7s are American. The 1s and 7s of the validation digits (held out of MNIST's
training files by `training.train`, never trained on) are written again the continental way by
`training.styles.continental`: 7s crossed, 1s with a flag, and with a flag and a foot. Each is
read as a crop and on a page (the middle digit of a number of five, the others validation digits
too, scanned by the Scanner: right when the number is read as five digits with it right); printed:
the shares read right, and what the crops read wrong were read as. The page is a clean white
line: it adds the Scanner's segmentation and normalizing, not a photo's troubles. Each style's
page uses the same neighbours, so its rows differ by the strokes alone; the page figures, of a
few hundred numbers, move by a point or two with `--seed`.

The strokes are drawn by the same code that `--style-share` trains with (other random strokes,
on digits it never trained on): a model trained with it is measured on what it was shown.
Real continental writing varies more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quality.synth import mnist_folder, validation_digits  # noqa: E402
from digitscan import Scanner  # noqa: E402
from digitscan.classify import load_classifier  # noqa: E402
from training.styles import STYLES, continental  # noqa: E402


def styled(images: np.ndarray, labels: np.ndarray, label: int, style: str | None, count: int,
           rng: np.random.Generator) -> np.ndarray:
    """`count` of the digits `label`, written in `style` (None: as they are)."""
    picked = images[labels == label][:count]
    return np.stack([img if style is None else continental(img, label, rng, style) for img in picked])


def page_line(digits: list[np.ndarray], height: int = 60) -> np.ndarray:
    """A page with one number: the digits side by side, dark ink on white paper."""
    gap = height // 5
    page = np.full((height * 3, gap + len(digits) * (height + gap) + height), 255, np.uint8)
    x = height
    for d in digits:
        big = cv2.resize(d, (height, height), interpolation=cv2.INTER_CUBIC)
        region = page[height : 2 * height, x : x + height]
        np.minimum(region, 255 - big, out=region)
        x += height * 3 // 4 + gap
    return page


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/styles.py", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model file (default: the shipped one)")
    p.add_argument("--per-style", type=int, default=500, help="digits read per style")
    p.add_argument("--lines", type=int, default=300, help="numbers scanned per style, on pages")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    images, labels = validation_digits(mnist_folder())
    classifier = load_classifier(args.model)
    scanner = Scanner(classifier=classifier)
    others = images[(labels != 1) & (labels != 7)]
    print(f"{'digit':6s} {'style':14s} {'crops read right':>17s}  {'on a page':>13s}  crops read as")
    for label, styles in sorted(STYLES.items()):
        for k, style in enumerate((None, *styles)):
            # Each style's strokes from a generator of its own; the neighbours on the page from
            # one shared by the styles of a digit, so that its rows differ by the strokes alone.
            crops = styled(images, labels, label, style, args.per_style, np.random.default_rng([args.seed, label, k]))
            rng = np.random.default_rng([args.seed, label])
            probs = classifier.predict(crops[..., None].astype(np.float32) / 255)
            answers = np.bincount(probs.argmax(axis=1), minlength=11)
            wrong = ", ".join(f"{'not a digit' if answer == 10 else answer}: {n}"
                              for answer, n in enumerate(answers) if n and answer != label)
            # On a page: the styled digit third of five in a number, among other validation
            # digits; counted right when the number is read as five digits with it right.
            right = 0
            lines = min(len(crops), args.lines)
            for i in range(lines):
                pick = rng.integers(len(others), size=4)
                digits = [others[pick[0]], others[pick[1]], crops[i], others[pick[2]], others[pick[3]]]
                result = scanner.scan(cv2.cvtColor(page_line(digits), cv2.COLOR_GRAY2BGR))
                texts = [n.text for n in result.numbers]
                right += len(texts) == 1 and len(texts[0]) == 5 and texts[0][2] == str(label)
            print(f"{label:<6d} {style or 'as in MNIST':14s} {answers[label] / len(crops):10.1%} of {len(crops)}"
                  f"  {right / lines:6.1%} of {lines}  {wrong or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
