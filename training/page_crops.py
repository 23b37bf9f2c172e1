"""Crops as the pipeline cuts them out of photographed pages, labelled, to train on.

    python -m training.page_crops --data ../shared/data/mnist --out /tmp/crops.npz --pages 60 --seed 100

MNIST digits are clean; what the classifier is shown on a page is not: a stroke that a form's
wall took away, loops that blur filled, a digit cut off its neighbour, a rule's remains. This
writes pages with the quality benchmark's generator (`benchmarks.quality.synth`, every
condition) from the digits `training.train` trains on (never its validation digits, nor the
test split), scans them with a Scanner, and keeps every crop the classifier reads there, in
the form it reads it: the blobs of the page (after broken strokes are joined) and the digits
found (after touching digits are split). A crop is labelled with the written digit whose box it
matches (IoU >= 0.5), as "not a digit" when it holds two digits (touching), lies within one (a
piece of a broken stroke, which the scanner joins only when the pieces read worse apart) or
overlaps no written digit by more than NOT_A_DIGIT_IOU (a rule's remains, a speck), and left out
otherwise.
Pages the scanner turned straight are left out (their boxes are in the turned page's pixels).

`training.train --page-crops FILE...` adds them, as they are, to every epoch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

NOT_A_DIGIT = 10
DIGIT_IOU = 0.5
NOT_A_DIGIT_IOU = 0.2


def label_boxes(boxes: list[tuple[int, int, int, int]], truth: list[dict]) -> list[int | None]:
    """The label of each box (x, y, w, h, in the photo's pixels) by the written digits `truth`
    ({"label", "box"}): the digit it matches (IoU >= DIGIT_IOU, and holding no other digit's
    half); NOT_A_DIGIT where it holds half of two digits or more (digits touching), lies within
    one (a piece of it), or overlaps none by more than NOT_A_DIGIT_IOU; None otherwise.

    >>> truth = [{"label": 7, "box": [10, 10, 20, 30]}, {"label": 1, "box": [32, 10, 6, 30]}]
    >>> label_boxes([(11, 10, 19, 30), (10, 10, 20, 12), (100, 10, 20, 30), (10, 10, 28, 30), (5, 5, 20, 20)], truth)
    [7, 10, 10, 10, None]
    """
    from benchmarks.quality.score import cover, iou

    labels: list[int | None] = []
    for box in boxes:
        if not truth:
            labels.append(NOT_A_DIGIT)
            continue
        held = sum(1 for t in truth if cover(t["box"], box) >= 0.5)
        best, label = max((iou(box, t["box"]), int(t["label"])) for t in truth)
        # A piece lying within one written digit (a stroke broken off it) is no digit alone.
        inside = max(cover(box, t["box"]) for t in truth) >= 0.8
        if held >= 2:
            labels.append(NOT_A_DIGIT)
        elif best >= DIGIT_IOU:
            labels.append(label)
        else:
            labels.append(NOT_A_DIGIT if best <= NOT_A_DIGIT_IOU or inside else None)
    return labels


def page_crops(scanner, page) -> tuple[np.ndarray, np.ndarray]:
    """The labelled crops (N, 28, 28) uint8 and labels of one generated page (see module doc)."""
    from digitscan.normalize import normalize_crops

    result = scanner.scan(page.encode()[0], trace=True)  # as the photo's file holds it (JPEG)
    trace = result.trace
    if trace["turned"]:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    # The blobs and the digits found; a blob found whole as a digit is one crop, not two.
    boxes = list(dict.fromkeys([*trace["boxes"], *trace["found"]]))
    scale = result.page.scale
    labels = label_boxes([tuple(int(round(v / scale)) for v in b) for b in boxes], page.digits)
    chosen = [i for i, label in enumerate(labels) if label is not None]
    images = normalize_crops(trace["clean"], [boxes[i] for i in chosen])[..., 0]
    return np.round(images * 255).astype(np.uint8), np.array([labels[i] for i in chosen], np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.page_crops", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="folder with the MNIST IDX .gz files")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write (images, labels)")
    p.add_argument("--pages", type=int, default=60, help="pages per condition")
    p.add_argument("--seed", type=int, default=100, help="pages' seed (the benchmark's sets use 0 and 1)")
    p.add_argument("--split-seed", type=int, default=20261124, help="training's --seed (its validation split)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="training's --val-fraction")
    p.add_argument("--model", type=Path, default=None, help="the scanner's model (default: the shipped one)")
    p.add_argument("--conditions", default=None,
                   help="comma-separated conditions of the benchmark's generator (default: all but the extra ones)")
    args = p.parse_args(argv)

    from benchmarks.quality.generate import parse_conditions
    from benchmarks.quality.synth import DigitBank, _has_fleck, make_page, mnist_folder, page_seed
    from digitscan import Scanner
    from training.data import load_split, split_validation

    images, labels = load_split(args.data or mnist_folder(), "train")
    (x_train, y_train), _ = split_validation(images, labels, args.val_fraction, args.split_seed)
    bank = DigitBank(x_train, y_train).subset(~np.array([_has_fleck(im) for im in x_train]))
    bank.source = "train"
    scanner = Scanner(args.model)
    xs, ys = [], []
    for condition in parse_conditions(args.conditions):
        for i in range(args.pages):
            x, y = page_crops(scanner, make_page(condition, page_seed(args.seed, condition, i), bank))
            xs.append(x)
            ys.append(y)
        print(f"{condition}: {sum(len(y) for y in ys)} crops so far", file=sys.stderr, flush=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=x, labels=y)
    counts = np.bincount(y, minlength=11)
    print(f"wrote {len(y)} crops to {args.out}: digits {counts[:10].tolist()}, not a digit {counts[10]}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
