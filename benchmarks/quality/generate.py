"""Write a set of synthetic photographed pages and their ground truth.

    python -m benchmarks.quality.generate --out DIR --pages N --seed S [--conditions clean,ruled]
                                          [--digits test|validation]

For each condition, N pages `<condition>_<i>.jpg` (or `.png` for clean pages), and one
`truth.json`: {"seed", "conditions", "pages": [{"file", "width", "height", "conditions",
"digits": [{"label", "box": [x, y, w, h]}], "numbers": [{"text", "plain", "box", "digits"}]}]}.
A number's text is as written, separators included ("1,250"); `plain` is its digits alone.
Boxes are in pixels of the written image. A page's content depends only on the seed, its
condition and its index, so sets of different sizes share their first pages.

The digits are MNIST's test digits, for the measurement; `--digits validation` writes pages of
the digits training held out for validation instead, to choose models and tune the pipeline by.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .synth import CONDITIONS, EXTRA_CONDITIONS, DigitBank, label_fonts, make_page, page_seed


def generate(out: Path, pages: int, seed: int, conditions: tuple[str, ...] = CONDITIONS,
             bank: DigitBank | None = None) -> dict:
    """Write `pages` pages of each condition into `out`; returns the truth (also in truth.json)."""
    bank = bank or DigitBank.mnist_test()
    out.mkdir(parents=True, exist_ok=True)
    truth = {"seed": seed, "conditions": list(conditions), "digits": bank.source, "pages": []}
    if bank.source == "validation":  # which held-out digits: training's --seed and --val-fraction
        truth["validation_split"] = bank.split
    if "printed" in conditions:  # the labels' fonts depend on the machine: say which were found
        truth["label_fonts"] = [Path(f).name for f in label_fonts()] or "OpenCV's (no TrueType fonts found)"
    for condition in conditions:
        for i in range(pages):
            page = make_page(condition, page_seed(seed, condition, i), bank)
            data, ext = page.encode()
            name = f"{condition}_{i:03d}{ext}"
            (out / name).write_bytes(data)
            truth["pages"].append(page.truth(name))
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def parse_conditions(text: str | None) -> tuple[str, ...]:
    if not text:
        return CONDITIONS
    chosen = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in chosen if c not in CONDITIONS + EXTRA_CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(CONDITIONS + EXTRA_CONDITIONS)}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pages and truth.json into")
    parser.add_argument("--pages", type=int, default=10, help="pages per condition (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", default=None,
                        help=f"comma-separated, of: {', '.join(CONDITIONS + EXTRA_CONDITIONS)} (default: all but "
                             f"{', '.join(EXTRA_CONDITIONS)})")
    parser.add_argument("--digits", choices=("test", "validation"), default="test",
                        help="MNIST's test digits (the measurement), or the validation digits training held out "
                             "(for choosing and tuning)")
    args = parser.parse_args(argv)
    if args.pages < 1:
        raise SystemExit("--pages must be at least 1")
    bank = DigitBank.mnist_validation() if args.digits == "validation" else DigitBank.mnist_test()
    truth = generate(args.out, args.pages, args.seed, parse_conditions(args.conditions), bank)
    digits = sum(len(p["digits"]) for p in truth["pages"])
    print(f"wrote {len(truth['pages'])} pages ({digits} digits) and truth.json to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
