"""Crops that are not digits, made in code, for the model's "not a digit" class.

Each is drawn at a photo-like size, turned into a binary mask and normalized by the same
`digitscan.normalize.to_mnist` as the pipeline's crops, so the model learns to reject exactly
what the segmenter will hand it: specks, dashes and underlines, rules and grid lines, box
corners and edges, fragments of a digit, two digits together, scribbles, and the letters
and signs of printed labels and written words.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from digitscan.normalize import to_mnist

Rng = np.random.Generator


def _canvas(size: int = 160) -> np.ndarray:
    return np.zeros((size, size), np.uint8)


def _pt(rng: Rng, lo: float, hi: float) -> tuple[int, int]:
    return int(rng.uniform(lo, hi)), int(rng.uniform(lo, hi))


def speck(rng: Rng) -> np.ndarray:
    c = _canvas()
    for _ in range(rng.integers(1, 4)):
        axes = (int(rng.uniform(3, 18)), int(rng.uniform(3, 18)))
        cv2.ellipse(c, _pt(rng, 60, 100), axes, rng.uniform(0, 180), 0, 360, 255, -1)
    return c


def dash(rng: Rng) -> np.ndarray:
    """Dashes, underlines and page rules: long thin strokes, nearly horizontal, maybe curved."""
    c = _canvas(400)
    length = rng.uniform(40, 380)
    angle = np.deg2rad(rng.uniform(-20, 20))
    bend = rng.uniform(-0.15, 0.15) * length
    t = np.linspace(-0.5, 0.5, 30)
    xs = 200 + t * length * np.cos(angle)
    ys = 200 + t * length * np.sin(angle) + bend * (1 - 4 * t**2)
    pts = np.stack([xs, ys], 1).astype(np.int32)
    cv2.polylines(c, [pts], False, 255, int(rng.uniform(2, max(3, length / 6))))
    return c


def rule_cross(rng: Rng) -> np.ndarray:
    """Where rules meet: crosses, T-junctions and pieces of a grid."""
    c = _canvas(300)
    thick = int(rng.uniform(2, 8))
    kind = rng.integers(0, 3)
    if kind == 0:  # a cross
        cv2.line(c, (int(rng.uniform(20, 100)), 150), (int(rng.uniform(200, 280)), 150), 255, thick)
        cv2.line(c, (150, int(rng.uniform(20, 100))), (150, int(rng.uniform(200, 280))), 255, thick)
    elif kind == 1:  # a T, any way round
        cv2.line(c, (30, 150), (270, 150), 255, thick)
        cv2.line(c, (150, 150), (150, int(rng.choice([30, 270]))), 255, thick)
        if rng.random() < 0.5:
            c = np.ascontiguousarray(c.T)
    else:  # a grid patch
        step = int(rng.uniform(30, 90))
        for v in range(20, 290, step):
            cv2.line(c, (v, 20), (v, 280), 255, thick)
            cv2.line(c, (20, v), (280, v), 255, thick)
    return c


def box_edge(rng: Rng) -> np.ndarray:
    """Corners, brackets and whole outlines of the boxes printed on forms."""
    c = _canvas(300)
    thick = int(rng.uniform(2, 8))
    x0, y0 = int(rng.uniform(20, 80)), int(rng.uniform(20, 80))
    x1, y1 = int(rng.uniform(180, 280)), int(rng.uniform(180, 280))
    kind = rng.integers(0, 3)
    if kind == 0:  # an L corner with long arms
        cv2.line(c, (x0, y0), (x0, y1), 255, thick)
        cv2.line(c, (x0, y1), (x1, y1), 255, thick)
    elif kind == 1:  # a bracket: three sides
        cv2.line(c, (x0, y0), (x1, y0), 255, thick)
        cv2.line(c, (x0, y0), (x0, y1), 255, thick)
        cv2.line(c, (x0, y1), (x1, y1), 255, thick)
    else:  # a whole box
        cv2.rectangle(c, (x0, y0), (x1, y1), 255, thick)
    turns = int(rng.integers(0, 4))
    return np.ascontiguousarray(np.rot90(c, turns))


def _big_digit(digit: np.ndarray, size: int = 112) -> np.ndarray:
    big = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.where(big > 100, 255, 0).astype(np.uint8)


def fragment(rng: Rng, digits: np.ndarray) -> np.ndarray | None:
    """A piece of a digit: a stroke cut off, or the top or a side alone."""
    big = _big_digit(digits[rng.integers(len(digits))])
    ys, xs = np.nonzero(big)
    # Keep one side of a random line through the digit.
    angle = rng.uniform(0, 2 * np.pi)
    nx, ny = np.cos(angle), np.sin(angle)
    proj = (xs - xs.mean()) * nx + (ys - ys.mean()) * ny
    cut = np.quantile(proj, rng.uniform(0.45, 0.75))
    keep = proj > cut
    out = np.zeros_like(big)
    out[ys[keep], xs[keep]] = 255
    n, labels, stats, _ = cv2.connectedComponentsWithStats(out)
    if n < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    out = np.where(labels == largest, 255, 0).astype(np.uint8)
    _, _, w, h, area = stats[largest]
    # A tall thin piece is what a "1" looks like; teaching the model to reject it costs 1s.
    if h > 2.2 * w or area < 0.2 * len(ys):
        return None
    return out


def pair(rng: Rng, digits: np.ndarray) -> np.ndarray:
    """Two (sometimes three) digits written touching or overlapping: one blob to be split."""
    count = 2 if rng.random() < 0.8 else 3
    parts = [_big_digit(digits[rng.integers(len(digits))]) for _ in range(count)]
    crops = []
    for p in parts:
        ys, xs = np.nonzero(p)
        crops.append(p[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    h = max(cr.shape[0] for cr in crops)
    width = sum(cr.shape[1] for cr in crops) + 20
    c = np.zeros((h + 20, width), np.uint8)
    x = 0
    for cr in crops:
        y = int(rng.uniform(0, 20 + h - cr.shape[0]))
        c[y : y + cr.shape[0], x : x + cr.shape[1]] |= cr
        x += int(cr.shape[1] * rng.uniform(0.75, 1.0))
    return c


def scribble(rng: Rng) -> np.ndarray:
    """Hatching, zig-zags and tangles of strokes."""
    c = _canvas(200)
    thick = int(rng.uniform(2, 9))
    kind = rng.integers(0, 3)
    if kind == 0:  # tangle
        pts = rng.uniform(30, 170, size=(int(rng.integers(6, 14)), 2)).astype(np.int32)
        cv2.polylines(c, [pts], False, 255, thick)
    elif kind == 1:  # zig-zag
        n = int(rng.integers(4, 9))
        xs = np.linspace(20, 180, n)
        ys = np.where(np.arange(n) % 2 == 0, rng.uniform(40, 80), rng.uniform(120, 160))
        cv2.polylines(c, [np.stack([xs, ys], 1).astype(np.int32)], False, 255, thick)
    else:  # hatching
        for off in range(-150, 150, int(rng.uniform(12, 30))):
            cv2.line(c, (40 + off, 160), (160 + off, 40), 255, thick)
        c[:, :30] = 0
        c[:, 170:] = 0
    return c


# Hershey fonts, printed to script, that OpenCV draws without any font file.
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
# Letters and signs that look like no digit. O, l, S, Z, B, b, g, q and their kind do, and are
# left to the scanner, which tells them by the word they are written in; so are y, u and Y,
# which look like an open 4.
UNLIKE_DIGITS = "ACEFHKLMNPRTUVWXacdefhkmnprtvwx&?@#%*+="
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def letter(rng: Rng) -> np.ndarray:
    """A letter or sign of a printed label or a written word; or two or three letters of a word
    run together into one blob (any letters: together they are no digit)."""
    font = int(FONTS[rng.integers(len(FONTS))]) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    thick = int(rng.integers(1, 8))
    if rng.random() < 0.75:
        c = _canvas(220)
        cv2.putText(c, str(rng.choice(list(UNLIKE_DIGITS))), (50, 160), font, rng.uniform(2.5, 4.0), 255, thick)
    else:
        c = np.zeros((200, 420), np.uint8)
        x = 20
        scale = rng.uniform(2.0, 3.0)
        for ch in rng.choice(list(LETTERS), size=int(rng.integers(2, 4))):
            (w, _), _ = cv2.getTextSize(str(ch), font, scale, thick)
            cv2.putText(c, str(ch), (x, 140), font, scale, 255, thick)
            x += int(w * rng.uniform(0.55, 0.8))  # overlapping, so that they touch: one blob
    # A little slant and turn, as a hand or a camera gives it.
    h, w = c.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-8, 8), 1.0)
    m[0, 1] += rng.uniform(-0.25, 0.25)
    turned = cv2.warpAffine(c, m, (w, h), flags=cv2.INTER_NEAREST)
    return np.where(turned > 127, 255, 0).astype(np.uint8)  # binary, as the segmenter's crops are


MAKERS: list[tuple[str, float, Callable[..., np.ndarray | None], bool]] = [
    # name, share, function, needs digits
    ("speck", 0.12, speck, False),
    ("dash", 0.18, dash, False),
    ("rule", 0.10, rule_cross, False),
    ("box", 0.12, box_edge, False),
    ("fragment", 0.12, fragment, True),
    ("pair", 0.20, pair, True),
    ("scribble", 0.12, scribble, False),
]
# Letters (`letter`) are made only when asked for (`make_negatives(..., letters=share)`,
# `training.train --letter-share`): the shipped model learned without them (see the model card).


def make_negatives(n: int, digits: np.ndarray, seed: int, letters: float = 0.0) -> np.ndarray:
    """`n` not-a-digit crops as uint8 (n, 28, 28), pieces of digits taken from `digits`; letters
    (`letter`) weighed `letters` against the other kinds' shares, which sum to 1."""
    rng = np.random.default_rng(seed)
    makers = MAKERS + [("letter", letters, letter, False)] if letters else MAKERS
    shares = np.array([m[1] for m in makers])
    out = np.zeros((n, 28, 28), np.uint8)
    i = 0
    while i < n:
        _, _, make, needs_digits = makers[rng.choice(len(makers), p=shares / shares.sum())]
        crop = make(rng, digits) if needs_digits else make(rng)
        if crop is None or not crop.any():
            continue
        out[i] = np.round(to_mnist(crop) * 255).astype(np.uint8)
        i += 1
    return out
