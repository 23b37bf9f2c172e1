"""Make the sample photos in `samples/` and `samples/expected.json`, with the quality generator.

    python -m benchmarks.quality.samples [--out samples] [--seed 7] [--test-digits]

`--test-digits` also rewrites `benchmarks/quality/mnist_test_digits.npz`, the 600 MNIST test
digits (60 of each label) that `tests/test_conditions.py` writes its pages with, so that the
tests need no data set.

Four scenes a user would photograph: a meter log (a ruled table in blue pen, lit from one
side), a score sheet of boxed fields, a cheque's amount field with a thousands separator, and
numbers in marker on a whiteboard with a glare. The digits are MNIST test digits that the model
reads right alone; `expected.json` maps each file to its numbers as written, in reading order.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .synth import (TEST_DIGITS, DigitBank, Hand, Page, Style, draw_security_pattern, new_sheet, photograph,
                    put_number, write_form, write_number)

Rng = np.random.Generator


def meter_log(bank: DigitBank, rng: Rng) -> Page:
    """A printed table of daily meter readings filled in with a blue ballpoint."""
    style = Style(size=(1200, 1600), paper="white", texture=0.3, ink="blue", gradient=0.3, vignette=0.15,
                  rotation=3.0, perspective=0.015, zoom=0.95, noise=2.0, blur=0.6, jpeg=85,
                  hand=Hand(gap=(0.12, 0.25), slant=3.0))
    sheet = new_sheet(style, rng)
    rows, pitch, top = 7, 120, 170
    columns = (150, 420, 900, 1400)

    def table(layer: np.ndarray) -> None:
        for r in range(rows + 1):
            y = top + r * pitch
            cv2.line(layer, (columns[0], y), (columns[-1], y), 1.0, 3 if r == 0 else 1, cv2.LINE_AA)
        for x in columns:
            cv2.line(layer, (x, top), (x, top + rows * pitch), 1.0, 2, cv2.LINE_AA)

    sheet.draw_printed(table, (90, 80, 70))
    reading = int(rng.integers(20000, 60000))
    for r in range(rows):
        used = int(rng.integers(18, 95))
        reading += used
        baseline = top + (r + 1) * pitch - 25
        for text, left in ((str(r + 1), columns[0]), (str(reading), columns[1]), (str(used), columns[2])):
            number = write_number(bank, text, rng.uniform(58, 68), rng, style.hand)
            put_number(sheet, number, left + 40 - number.box[0], baseline)
    return photograph(sheet, style, rng, ["sample"])


def score_sheet(bank: DigitBank, rng: Rng) -> Page:
    """A sheet of boxed score fields, some digits touching their box."""
    style = Style(size=(1000, 1400), paper="cream", texture=0.4, ink="black", gradient=0.2, shadow=0.3,
                  noise=2.0, blur=0.5, jpeg=85, hand=Hand(slant=3.0))
    sheet = new_sheet(style, rng)
    write_form(sheet, bank, rng, style.hand, region=(120, 120, 1160, 760), height=62.0, touch_chance=0.2)
    return photograph(sheet, style, rng, ["sample"])


def cheque_amount(bank: DigitBank, rng: Rng) -> Page:
    """The amount box of a cheque, security pattern and thousands separator included."""
    style = Style(size=(90, 300), paper="white", ink="black", noise=1.5, blur=0.5, jpeg=90,
                  hand=Hand(stroke=(0.1, 0.13), slant=3.0, separators=True))
    sheet = new_sheet(style, rng)
    draw_security_pattern(sheet, rng)
    text = str(int(rng.integers(1, 10))) + "".join(str(int(d)) for d in rng.integers(0, 10, 3))
    number = write_number(bank, text, 46.0, rng, style.hand)
    bx, by, bw, bh = number.box
    put_number(sheet, number, (300 - bw) // 2 - bx, 45 + bh // 2)
    return photograph(sheet, style, rng, ["sample"])


def whiteboard(bank: DigitBank, rng: Rng) -> Page:
    """Numbers in thick marker on a whiteboard, with the glare of a ceiling light."""
    style = Style(size=(1200, 1600), paper="grey", texture=0.15, ink="marker", glare=0.45, gradient=0.2,
                  vignette=0.2, perspective=0.03, zoom=0.98, noise=2.5, blur=0.8, jpeg=85,
                  hand=Hand(stroke=(0.15, 0.2), gap=(0.15, 0.3), slant=4.0))
    sheet = new_sheet(style, rng)
    sheet.paper[:] = np.asarray((236, 236, 232), np.float32) + (sheet.paper - sheet.paper.mean(axis=(0, 1)))
    y = 300
    for texts in (("42", "17"), ("365",), ("1024", "8")):
        x = 220 + int(rng.integers(0, 120))
        for text in texts:
            number = write_number(bank, text, rng.uniform(110, 140), rng, style.hand)
            put_number(sheet, number, x - number.box[0], y)
            x += number.box[2] + int(rng.uniform(2.0, 3.5) * 120)
        y += 330
    return photograph(sheet, style, rng, ["sample"])


SCENES = {"meter_log.jpg": meter_log, "score_sheet.jpg": score_sheet, "cheque_amount.jpg": cheque_amount,
          "whiteboard.jpg": whiteboard}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("samples"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", type=Path, default=None, help="model that picks readable digits")
    parser.add_argument("--test-digits", action="store_true", help=f"also rewrite {TEST_DIGITS.name}")
    args = parser.parse_args(argv)
    from digitscan.classify import load_classifier

    if args.test_digits:
        DigitBank.mnist_test().save_subset(TEST_DIGITS)
        print(f"wrote {TEST_DIGITS}", file=sys.stderr)

    bank = DigitBank.mnist_test().readable(load_classifier(args.model).predict, per_label=100, min_confidence=0.98)
    args.out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for i, (name, scene) in enumerate(SCENES.items()):
        page = scene(bank, np.random.default_rng([args.seed, i]))
        page = replace(page, jpeg=page.jpeg or 90)
        data, _ = page.encode()
        (args.out / name).write_bytes(data)
        expected[name] = page.texts
        print(f"{name}: {len(data) // 1024} KB, {page.texts}", file=sys.stderr)
    lines = ",\n".join(f"  {json.dumps(name)}: {json.dumps(texts)}" for name, texts in expected.items())
    (args.out / "expected.json").write_text("{\n" + lines + "\n}\n")


if __name__ == "__main__":
    main()
