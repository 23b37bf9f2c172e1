"""Digits written the continental way, made from MNIST's American ones.

MNIST's writers were American: a 1 is mostly a bare stroke and a 7 has no bar. Across much of
Europe and Latin America a 1 starts with a long flag (a stroke up from the left, often with a
foot under it) and a 7 is crossed through its stem, to tell the two apart. A model that never
saw them often reads a flagged 1 as a 7 and a crossed 7 as a 4. `continental` draws these strokes
onto MNIST digits, for training (`training.train --style-share`) and for measuring
(`benchmarks/styles.py`, on held-out digits).

The stroke is drawn at 4x, with the width of the digit's own strokes, brought down to the
digit's size and laid over it, and the result is normalized again (`to_mnist`): a bar or flag
that reaches out of the 20x20 box is fitted in it, as MNIST's digits were. A flag and a foot
keep within the digit's rows, so that a 1 is not fitted smaller for them.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitscan.normalize import stroke_width, to_mnist

SCALE = 4
PAD = 8  # pixels of room around the 28x28 digit for a stroke that reaches out of it
# Pixels above this (of 255) in the enlarged digit count as its stroke, when finding its ends.
_INK = 110
_FRINGE = 64  # the stroke's pixels fainter than this, once brought down to 1x, are dropped
STYLES = {7: ("crossed",), 1: ("flag", "flag and foot")}


def continental(img: np.ndarray, label: int, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """A uint8 28x28 MNIST digit (ink white on black) written the continental way: a 7 crossed,
    a 1 with a flag (and, by chance or by `style`, a foot); other digits, and a digit with too
    little ink to find its stroke, come back as they are (in training they still count in the
    share asked for).

    >>> seven = np.zeros((28, 28), np.uint8); seven[6, 8:20] = 255
    >>> for i in range(14): seven[7 + i, 19 - i // 2] = 255
    >>> crossed = continental(seven, 7, np.random.default_rng(0))
    >>> crossed.shape, crossed.dtype, int((crossed > 100).sum()) > int((seven > 100).sum())
    ((28, 28), dtype('uint8'), True)
    """
    if label not in STYLES:
        return img
    if img.dtype != np.uint8 or img.shape != (28, 28):
        raise ValueError(f"continental expects a uint8 28x28 digit, got {img.dtype} {img.shape}")
    style = style or (STYLES[label][0] if label == 7 else ("flag" if rng.random() < 0.6 else "flag and foot"))
    # The digit on a canvas wide enough for any stroke, enlarged only to find where the stroke
    # goes and to draw it smoothly: the digit's own pixels are left as they are (until the
    # whole is fitted again, where a stroke reaches out of the digit's box).
    canvas = cv2.copyMakeBorder(img, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
    big = cv2.resize(canvas, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    ink = big > _INK
    ys, xs = np.nonzero(ink)
    if len(ys) < 4 * SCALE * SCALE:
        return img
    width = max(2, int(round(stroke_width(ink.astype(np.uint8) * 255))))
    top, bottom = int(ys.min()), int(ys.max())
    height = bottom - top
    layer = np.zeros_like(big)
    if style == "crossed":
        # Across the stem, a little below half the digit's height, about half a digit wide.
        y = int(top + rng.uniform(0.45, 0.62) * height)
        row = np.flatnonzero(ink[y])
        if len(row) == 0:
            return img
        centre, half = float(row.mean()), rng.uniform(0.17, 0.3) * height
        lean = rng.uniform(-0.1, 0.1) * half
        _stroke(layer, (centre - half, y + lean), (centre + half, y - lean), width)
    else:
        # From the top of the stem down to the left: shorter and steeper than a 7's bar. The
        # strokes keep within the digit's rows (their round ends too), so that the digit is
        # fitted at the same size as before.
        x = float(xs[ys == top].mean())
        start = top + width / 2
        length, angle = rng.uniform(0.2, 0.4) * height, np.deg2rad(rng.uniform(30, 60))
        _stroke(layer, (x, start), (x - length * np.cos(angle), start + length * np.sin(angle)), width)
        if style == "flag and foot":
            x = float(xs[ys == bottom].mean())
            half = rng.uniform(0.15, 0.3) * height
            _stroke(layer, (x - half, bottom - width / 2), (x + half, bottom - width / 2), width)
    stroke = cv2.resize(layer, canvas.shape[::-1], interpolation=cv2.INTER_AREA)
    stroke[stroke < _FRINGE] = 0  # the faint fringe of the shrunk stroke would widen the digit's box
    return np.round(to_mnist(np.maximum(canvas, stroke), adjust_stroke=False) * 255).astype(np.uint8)


def _stroke(img: np.ndarray, a: tuple[float, float], b: tuple[float, float], width: int) -> None:
    """Draw a pen's stroke from a to b (x, y) in full ink, its ends rounded."""
    p = (int(round(a[0])), int(round(a[1])))
    q = (int(round(b[0])), int(round(b[1])))
    cv2.line(img, p, q, 255, width, lineType=cv2.LINE_AA)
