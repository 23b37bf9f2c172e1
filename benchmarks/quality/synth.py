"""Synthetic phone photos of handwritten numbers, made from MNIST *test* digits, with ground truth.

A page is made the way a real one comes to be: paper (tone, grain, printed rules, grids, form
boxes or a cheque's security pattern), then handwriting (each MNIST digit scaled up to the size
it is written at, its stroke thickened or thinned to the pen, composited in the pen's colour),
then the photo (uneven light and shadows, rotation and perspective, blur, sensor noise, JPEG).

The truth box of a digit is the bounding box of its own ink (alpha >= `TRUTH_ALPHA`) after every
geometric transform, recomputed by warping that digit's alpha alone. A number's `text` is what
was written, thousands separators included ("1,250"); `plain` is its digits alone ("1250").

Only the MNIST test split is used: the model never saw these digits.

>>> bank = DigitBank.synthetic()
>>> page = make_page("clean", np.random.default_rng(0), bank)
>>> page.image.dtype, len(page.numbers) > 0, page.conditions
(dtype('uint8'), True, ['clean'])
"""

from __future__ import annotations

import os
from functools import lru_cache, partial
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

# One condition at a time after the clean baseline, then several together.
CONDITIONS = (
    "clean", "paper", "lighting", "ink", "stroke", "board", "ruled", "grid", "boxes", "marks",
    "blur_jpeg", "geometry", "large", "cheque", "broken", "touching", "multi", "mixed",
)
# Measured only when asked for (`--conditions printed`): printed words beside the numbers, which
# real forms have but the list of conditions does not.
EXTRA_CONDITIONS = ("printed",)
# Conditions that `mixed` draws from (board, large and cheque change the whole scene instead).
MIXABLE = ("paper", "lighting", "ink", "stroke", "ruled", "grid", "boxes", "marks", "blur_jpeg",
           "geometry", "broken", "touching")

# 60 MNIST test digits of each label, for tests that must not depend on the full data set.
TEST_DIGITS = Path(__file__).resolve().with_name("mnist_test_digits.npz")
TRUTH_ALPHA = 0.35  # a pixel belongs to a digit's ink (and to its truth box) from this alpha on
PAGE_SIZES = ((960, 1280), (1200, 1600), (768, 1024), (1280, 960), (1080, 1440))  # (h, w)

Rng = np.random.Generator


# ----------------------------------------------------------------------------- the digits


def mnist_folder() -> Path:
    """The folder of MNIST IDX files: $DIGITSCAN_MNIST, ../shared/data/mnist, or the training cache."""
    root = Path(__file__).resolve().parents[2]
    candidates = [Path(p) for p in [os.environ.get("DIGITSCAN_MNIST")] if p]
    candidates += [root.parent / "shared" / "data" / "mnist", Path.home() / ".cache" / "digitscan" / "mnist"]
    for folder in candidates:
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return folder
    raise FileNotFoundError(
        "MNIST test files not found; set DIGITSCAN_MNIST to a folder holding t10k-images-idx3-ubyte.gz "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


def validation_digits(folder: str | Path | None = None, seed: int = 20261124,
                      fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels `training.train` holds out of MNIST's training split (same seed)."""
    from training.data import load_split, split_validation

    images, labels = load_split(folder or mnist_folder(), "train")
    return split_validation(images, labels, fraction, seed)[1]


class DigitBank:
    """Handwritten digit images (28x28, ink bright on black) to write pages with, by label."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, ids: np.ndarray | None = None):
        self.images = images
        self.labels = labels.astype(np.int64)
        self.ids = np.arange(len(labels)) if ids is None else ids  # index in the source set (MNIST test)
        self._by_label = [np.flatnonzero(self.labels == d) for d in range(10)]
        self.source = "test"  # which MNIST digits `ids` index: "test", or "validation" (see validation_digits)
        self.split: dict | None = None  # for validation digits, the held-out split's seed and fraction
        missing = [d for d in range(10) if len(self._by_label[d]) == 0]
        if missing:
            raise ValueError(f"digit bank has no examples of {missing}")

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def mnist_test(cls, folder: str | Path | None = None) -> DigitBank:
        """The MNIST test digits (never the training split: the model learned from that).

        The 1.6 % of them that carry a small detached fleck (a pen touching down beside the
        digit) are left out: written large on a page, the fleck is a decimal point to a person too.
        """
        from training.data import load_split

        images, labels = load_split(folder or mnist_folder(), "test")
        return cls(images, labels).subset(~np.array([_has_fleck(im) for im in images]))

    @classmethod
    def mnist_validation(cls, folder: str | Path | None = None, seed: int = 20261124,
                         fraction: float = 0.1) -> DigitBank:
        """The digits `training.train` holds out of MNIST's training split for validation (same
        `seed` and `fraction`): pages of these are for choosing between models and tuning the
        pipeline, so that the test digits are left for the final measurement."""
        x_val, y_val = validation_digits(folder, seed, fraction)
        bank = cls(x_val, y_val).subset(~np.array([_has_fleck(im) for im in x_val]))
        bank.source = "validation"
        bank.split = {"seed": seed, "fraction": fraction}
        return bank

    @classmethod
    def committed(cls, path: str | Path | None = None) -> DigitBank:
        """The small subset of MNIST test digits kept in the repository for the condition tests."""
        with np.load(path or TEST_DIGITS) as data:
            return cls(data["images"], data["labels"], data["ids"])

    def save_subset(self, path: str | Path, per_label: int = 60, seed: int = 0) -> None:
        """Write `per_label` random examples of each label (with their source indices) to an .npz."""
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.choice(ids, per_label, replace=False) for ids in self._by_label]))
        np.savez_compressed(path, images=self.images[keep], labels=self.labels[keep].astype(np.uint8),
                            ids=self.ids[keep].astype(np.int32))

    @classmethod
    def synthetic(cls) -> DigitBank:
        """Digits drawn with a font: only for doctests and checks of the generator itself."""
        images = np.zeros((10, 28, 28), np.uint8)
        for d in range(10):
            cv2.putText(images[d], str(d), (6, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 3, cv2.LINE_AA)
        return cls(images, np.arange(10))

    def pick(self, label: int, rng: Rng) -> tuple[np.ndarray, int]:
        """A random example of `label`: its image and its index in the source set."""
        i = rng.choice(self._by_label[label])
        return self.images[i], int(self.ids[i])

    def subset(self, keep: np.ndarray) -> DigitBank:
        """The examples where `keep` (a boolean array or indices) holds."""
        bank = DigitBank(self.images[keep], self.labels[keep], self.ids[keep])
        bank.source, bank.split = self.source, self.split
        return bank

    def readable(self, predict: Callable[[np.ndarray], np.ndarray], per_label: int = 80,
                 min_confidence: float = 0.95, rng: Rng | None = None) -> DigitBank:
        """Keep examples that the classifier, shown each digit alone, reads right and surely.

        Args:
            predict: a classifier's `predict` ((N,28,28,1) float32 -> (N,C) probabilities).
            per_label: how many examples of each label to try.
            min_confidence: the least probability of the right label to keep an example.
        """
        from digitscan.normalize import to_mnist

        rng = rng or np.random.default_rng(0)
        tried = np.concatenate([
            rng.choice(ids, size=min(per_label, len(ids)), replace=False) for ids in self._by_label
        ])
        batch = np.stack([to_mnist(self.images[i]) for i in tried])[..., None]
        probs = predict(batch)
        right = probs[np.arange(len(tried)), self.labels[tried]]
        keep = tried[(probs.argmax(axis=1) == self.labels[tried]) & (right >= min_confidence)]
        return self.subset(np.sort(keep))


def _has_fleck(image: np.ndarray) -> bool:
    """True when a digit image has a small piece of ink apart from its strokes."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((image >= 90).astype(np.uint8), connectivity=8)
    if n <= 2:
        return False
    areas = stats[1:, cv2.CC_STAT_AREA]
    sides = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    return bool(((areas < 0.12 * areas.max()) & (sides <= 5)).any())


@dataclass
class Glyph:
    """One written mark: its ink alpha (float32 0..1) and the box of its ink within the alpha."""

    alpha: np.ndarray
    box: tuple[int, int, int, int]  # x, y, w, h of alpha >= TRUTH_ALPHA
    source: int | None = None  # the digit's index in the source set (MNIST test), for the truth


def _ink_box(alpha: np.ndarray, level: float = TRUTH_ALPHA) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(alpha >= level)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _glyph(alpha: np.ndarray) -> Glyph:
    """Crop an alpha to its visible ink and measure its ink box."""
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    ys, xs = np.nonzero(alpha > 0.02)
    if len(ys) == 0:
        return Glyph(np.zeros((1, 1), np.float32), (0, 0, 1, 1))
    alpha = np.ascontiguousarray(alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    return Glyph(alpha, _ink_box(alpha) or (0, 0, alpha.shape[1], alpha.shape[0]))


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def stroke_width(binary: np.ndarray) -> float:
    """Mean stroke width of a binary shape: about 2 * area / perimeter."""
    mask = (binary > 0).astype(np.uint8)
    area = float(mask.sum())
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(perimeter, 1.0)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _pieces(alpha: np.ndarray) -> int:
    return cv2.connectedComponents((alpha > 0.5).astype(np.uint8), connectivity=8)[0] - 1


def _holes(alpha: np.ndarray, reach: int = 0) -> tuple[int, float]:
    """The number and total area of the holes (loops) in a digit, ignoring pinholes.

    With `reach`, gaps narrower than about twice that are taken as closed: a 5 whose bowl
    almost meets its bar counts as having a hole.
    """
    mask = (alpha > 0.5).astype(np.uint8)
    if reach:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(reach))
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0, 0.0
    floor = max(6.0, 0.002 * mask.shape[0] * mask.shape[1])
    areas = [cv2.contourArea(c) for c, h in zip(contours, hierarchy[0]) if h[3] >= 0]
    areas = [a for a in areas if a >= floor]
    return len(areas), float(sum(areas))


def _set_stroke(alpha: np.ndarray, width: float) -> np.ndarray:
    """Dilate or erode a rendered digit so its strokes are about `width` pixels wide.

    Eroding can cut a thin joint and split the digit; then a smaller erosion is used, as a real
    fine pen still draws connected strokes.
    """
    current = stroke_width(alpha > 0.5)
    radius = int(round((width - current) / 2))
    if radius >= 1:
        # A marker can fill the loop of a 6 or close the gap of a 5 until it reads as another
        # digit, to a person too; then the widest stroke that keeps the digit's holes is used.
        reach = max(1, round(0.03 * alpha.shape[0]))
        holes, hole_area = _holes(alpha, reach)
        for r in range(radius, 0, -1):
            thicker = cv2.dilate(alpha, _disk(r))
            count, area = _holes(thicker, reach)
            if count == holes and area >= 0.35 * hole_area:
                return thicker
        return alpha
    if radius <= -1:
        pieces, area = _pieces(alpha), float((alpha > 0.5).sum())
        for r in range(-radius, 0, -1):
            thinner = cv2.erode(alpha, _disk(r))
            if _pieces(thinner) <= pieces and (thinner > 0.5).sum() >= 0.25 * area:
                return thinner
    return alpha


def render_digit(image: np.ndarray, height: float, rng: Rng, *, stroke: float | None = None,
                 slant: float = 0.0) -> Glyph:
    """Write one 28x28 MNIST digit large: an ink alpha whose ink is `height` pixels tall.

    Args:
        image: the MNIST digit, uint8, ink bright on black.
        height: the height of the written digit's ink in pixels.
        stroke: the pen's stroke width as a fraction of the height (None: MNIST's own, about 0.13).
        slant: a rotation of the digit in degrees (handwriting leans).
    """
    v = image.astype(np.float32) / 255.0
    box = _ink_box(v)
    if box is None:
        raise ValueError("empty digit image")
    x, y, w, h = box
    scale = height / h
    pad = 3
    src = np.pad(v, pad)[y : y + h + 2 * pad, x : x + w + 2 * pad]
    size = (max(1, round(src.shape[1] * scale)), max(1, round(src.shape[0] * scale)))
    up = cv2.resize(src, size, interpolation=cv2.INTER_CUBIC)
    # Sharpen MNIST's soft rim into a pen edge about one pixel wide.
    alpha = _smoothstep(0.32, 0.6, up).astype(np.float32)
    margin = int(0.2 * height) + 4
    alpha = cv2.copyMakeBorder(alpha, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0)
    if stroke is not None:
        alpha = _set_stroke(alpha, max(1.6, stroke * height))
    if slant:
        hh, ww = alpha.shape
        m = cv2.getRotationMatrix2D((ww / 2, hh / 2), slant, 1.0)
        alpha = cv2.warpAffine(alpha, m, (ww, hh), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.5 + 0.004 * height)
    return _glyph(alpha)


def break_stroke(glyph: Glyph, rng: Rng, width: float) -> Glyph:
    """Erase a thin band across the digit, as a pen that skips does: the digit falls in pieces."""
    alpha = glyph.alpha.copy()
    x, y, w, h = glyph.box
    cx, cy = x + w * rng.uniform(0.3, 0.7), y + h * rng.uniform(0.3, 0.7)
    angle = np.deg2rad(rng.uniform(-35, 35) + (90 if rng.random() < 0.25 else 0))
    reach = 2 * max(w, h)
    dx, dy = np.cos(angle) * reach, np.sin(angle) * reach
    band = np.zeros_like(alpha)
    cv2.line(band, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1.0,
             max(2, int(round(width))), cv2.LINE_AA)
    alpha *= 1.0 - band
    broken = _glyph(alpha)
    return broken if _ink_box(broken.alpha) else glyph


def comma_glyph(height: float, stroke: float) -> Glyph:
    """A handwritten comma (a thousands separator), `height` being the digits' height."""
    size = int(height * 0.45) + 8
    alpha = np.zeros((size, size), np.float32)
    t = max(2, int(round(stroke)))
    top = (size // 2, 4)
    cv2.circle(alpha, top, max(1, t // 2 + 1), 1.0, -1, cv2.LINE_AA)
    cv2.line(alpha, top, (size // 2 - int(0.08 * height), 4 + int(0.22 * height)), 1.0, t, cv2.LINE_AA)
    return _glyph(alpha)


# ----------------------------------------------------------------------------- the page


@dataclass
class InkPatch:
    """Ink written on the sheet: an alpha placed with its top-left corner at (x, y)."""

    alpha: np.ndarray
    x: int
    y: int
    label: int | None = None  # None: not a digit (a mark, a comma)
    source: int | None = None


@dataclass
class Ink:
    """How a pen puts colour on paper."""

    colour: tuple[float, float, float]  # BGR
    opacity: float = 1.0
    grain: float = 0.0  # how much of the stroke a grainy tool (pencil, chalk) leaves out
    fade: float = 0.1  # slow variation of pressure along the writing
    blend: str = "multiply"  # "multiply" for ink on paper, "over" for chalk on a board


@dataclass
class NumberTruth:
    text: str
    written: str
    digits: list[int]  # indices into the sheet's digit patches


class Sheet:
    """A page being written on: the paper (float32 BGR, printed things included) and the ink."""

    def __init__(self, paper: np.ndarray):
        self.paper = paper
        self.patches: list[InkPatch] = []
        self.numbers: list[NumberTruth] = []
        self.printed: list[tuple[int, int, int, int]] = []  # boxes of printed lines, to keep marks off

    @property
    def height(self) -> int:
        return self.paper.shape[0]

    @property
    def width(self) -> int:
        return self.paper.shape[1]

    def add(self, glyph: Glyph, x: int, y: int, label: int | None = None) -> int:
        """Write a glyph with its alpha's top-left corner at (x, y); returns the patch index."""
        self.patches.append(InkPatch(glyph.alpha, int(x), int(y), label, glyph.source))
        return len(self.patches) - 1

    def ink_box(self, index: int) -> tuple[int, int, int, int]:
        p = self.patches[index]
        x, y, w, h = _ink_box(p.alpha) or (0, 0, 1, 1)
        return p.x + x, p.y + y, w, h

    def digit_boxes(self) -> list[tuple[int, int, int, int]]:
        return [self.ink_box(i) for i, p in enumerate(self.patches) if p.label is not None]

    def number_box(self, number: NumberTruth) -> tuple[int, int, int, int]:
        return _union([self.ink_box(i) for i in number.digits])

    def alpha(self) -> np.ndarray:
        """All the ink on the sheet as one alpha layer (H, W)."""
        layer = np.zeros((self.height, self.width), np.float32)
        for p in self.patches:
            _max_into(layer, p.alpha, p.x, p.y)
        return layer

    def draw_printed(self, draw: Callable[[np.ndarray], None], colour: Iterable[float],
                     opacity: float = 1.0) -> None:
        """Print something (rules, boxes, patterns) on the paper: `draw` paints an alpha layer."""
        layer = np.zeros((self.height, self.width), np.float32)
        draw(layer)
        box = _ink_box(layer, 0.2)
        if box:
            self.printed.append(box)
        _multiply(self.paper, layer * opacity, np.asarray(list(colour), np.float32))


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[0] + b[2] for b in boxes)
    y2 = max(b[1] + b[3] for b in boxes)
    return x1, y1, x2 - x1, y2 - y1


def _max_into(layer: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    h, w = alpha.shape
    x1, y1, x2, y2 = max(0, x), max(0, y), min(layer.shape[1], x + w), min(layer.shape[0], y + h)
    if x2 <= x1 or y2 <= y1:
        return
    view = layer[y1:y2, x1:x2]
    np.maximum(view, alpha[y1 - y : y2 - y, x1 - x : x2 - x], out=view)


def _multiply(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Ink on paper: the paper's colour is filtered by the ink's where the alpha says."""
    image *= 1.0 - alpha[..., None] * (1.0 - colour / 255.0)


def _over(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Chalk on a board: the chalk's colour covers the board where the alpha says."""
    image += alpha[..., None] * (colour - image)


def _smooth_noise(h: int, w: int, rng: Rng, cell: float) -> np.ndarray:
    """Noise in -1..1 varying over about `cell` pixels (cheap at any size: made small, resized)."""
    sh, sw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    small = rng.uniform(-1, 1, (sh, sw)).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 0.8)
    small /= max(1e-6, float(np.abs(small).max()))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


PAPERS: dict[str, tuple[float, float, float]] = {  # BGR
    "white": (246, 247, 248),
    "cream": (220, 238, 246),
    "recycled": (196, 204, 208),
    "yellow": (150, 228, 246),  # legal pad
    "kraft": (120, 158, 190),
    "blue": (238, 224, 206),  # a pale blue form
    "grey": (188, 188, 186),
}


def make_paper(height: int, width: int, rng: Rng, kind: str = "white", texture: float = 0.0) -> np.ndarray:
    """A sheet of paper (float32 BGR) of one tone, with grain, mottling and fibres by `texture` (0..1)."""
    tone = np.asarray(PAPERS[kind], np.float32) + rng.uniform(-4, 4) + rng.uniform(-2, 2, 3).astype(np.float32)
    paper = np.empty((height, width, 3), np.float32)
    paper[:] = tone
    if texture > 0:
        grain = rng.standard_normal((height, width), dtype=np.float32)
        grain = cv2.GaussianBlur(grain, (0, 0), 0.8) * (7.0 * texture)
        mottle = _smooth_noise(height, width, rng, rng.uniform(40, 160)) * (9.0 * texture)
        paper += (grain + mottle)[..., None]
        if kind in ("recycled", "kraft", "grey") or rng.random() < 0.3:
            fibres = np.zeros((height, width), np.float32)
            for _ in range(int(height * width / 4000 * texture)):
                x, y = int(rng.integers(width)), int(rng.integers(height))
                a, n = rng.uniform(0, np.pi), rng.uniform(3, 14)
                cv2.line(fibres, (x, y), (int(x + n * np.cos(a)), int(y + n * np.sin(a))),
                         float(rng.uniform(-1, 1)), 1, cv2.LINE_AA)
            paper += (fibres * 22.0 * texture)[..., None]
        if texture > 0.5 and rng.random() < 0.5:
            paper += _fold(height, width, rng, texture)[..., None]
    return paper


def _fold(height: int, width: int, rng: Rng, texture: float) -> np.ndarray:
    """The crease of a sheet that was folded: a soft step of shading with a thin line along it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    a = rng.uniform(-0.15, 0.15) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    d = (xx - rng.uniform(0.3, 0.7) * width) * np.sin(a) - (yy - rng.uniform(0.3, 0.7) * height) * np.cos(a)
    step = np.tanh(d / rng.uniform(3, 12)) * rng.uniform(2, 6) * texture
    crease = np.exp(-(d / rng.uniform(0.7, 1.5)) ** 2) * -rng.uniform(6, 16) * texture
    return (step + crease).astype(np.float32)


def make_board(height: int, width: int, rng: Rng) -> np.ndarray:
    """A chalkboard or a dark slate, with the smears that a wiped board keeps."""
    tone = np.asarray([(48, 68, 42), (38, 40, 42), (60, 52, 40), (30, 45, 35)][rng.integers(4)], np.float32)
    board = np.empty((height, width, 3), np.float32)
    board[:] = tone + rng.uniform(-5, 5, 3).astype(np.float32)
    # Wiped chalk: broad smears, and streaks along the wiping direction.
    smear = np.clip(_smooth_noise(height, width, rng, rng.uniform(100, 300)), 0, 1) * rng.uniform(8, 22)
    streaks = _smooth_noise(max(2, height // 30), width, rng, rng.uniform(80, 150))
    streaks = cv2.resize(streaks, (width, height), interpolation=cv2.INTER_CUBIC) * rng.uniform(3, 6)
    grain = rng.standard_normal((height, width), dtype=np.float32) * 3.0
    board += (smear + streaks + grain)[..., None]
    return board


INKS: dict[str, Callable[[Rng], Ink]] = {
    "black": lambda r: Ink((r.uniform(25, 45),) * 3, r.uniform(0.9, 1.0), 0.03, r.uniform(0.05, 0.15)),
    "blue": lambda r: Ink((r.uniform(140, 175), r.uniform(50, 80), r.uniform(15, 35)), r.uniform(0.85, 1.0),
                          0.05, r.uniform(0.1, 0.25)),
    "red": lambda r: Ink((r.uniform(30, 50), r.uniform(30, 50), r.uniform(170, 200)), r.uniform(0.85, 1.0),
                         0.03, 0.1),
    "pencil": lambda r: Ink((r.uniform(80, 110),) * 3, r.uniform(0.55, 0.8), r.uniform(0.3, 0.5),
                            r.uniform(0.1, 0.25)),
    "marker": lambda r: Ink([(30, 30, 30), (150, 60, 20), (40, 40, 170), (60, 120, 30)][r.integers(4)], 1.0,
                            0.02, 0.05),
    "chalk": lambda r: Ink((r.uniform(215, 240), r.uniform(225, 245), r.uniform(225, 245)),
                           r.uniform(0.7, 0.95), r.uniform(0.25, 0.45), r.uniform(0.1, 0.2), "over"),
}


def apply_ink(image: np.ndarray, alpha: np.ndarray, ink: Ink, rng: Rng) -> None:
    """Put the sheet's ink on the paper, with a grainy tool's gaps and a pen's changing pressure."""
    h, w = alpha.shape
    a = alpha * ink.opacity
    if ink.fade:
        a *= 1.0 - ink.fade * (0.5 + 0.5 * _smooth_noise(h, w, rng, rng.uniform(30, 90)))
    if ink.grain:
        grain = rng.uniform(0, 1, (h, w)).astype(np.float32)
        grain = cv2.GaussianBlur(grain, (0, 0), 0.7)
        grain = (grain - grain.min()) / max(1e-6, float(grain.max() - grain.min()))
        a *= 1.0 - ink.grain * grain
    colour = np.asarray(ink.colour, np.float32)
    (_over if ink.blend == "over" else _multiply)(image, a, colour)


# ----------------------------------------------------------------------------- writing numbers


@dataclass
class Hand:
    """How the numbers on a page are written."""

    stroke: tuple[float, float] | None = None  # pen width as a fraction of the digit height (None: MNIST's)
    gap: tuple[float, float] = (0.1, 0.35)  # between digits of a number, in digit heights
    touching: float = 0.0  # chance that a digit touches the one before it
    broken: float = 0.0  # chance that a digit's stroke is broken
    slant: float = 4.0  # degrees either way
    size_jitter: float = 0.07
    separators: bool = False  # thousands separators, as on a cheque ("1,250")


def random_text(rng: Rng, digits: tuple[int, int] = (1, 6)) -> str:
    """A number of 1-6 digits, mostly 2-4, rarely with a leading zero (as in codes and dates)."""
    sizes = np.arange(digits[0], digits[1] + 1)
    weights = np.array([{1: 0.12, 2: 0.22, 3: 0.24, 4: 0.2, 5: 0.12, 6: 0.1}.get(int(s), 0.1) for s in sizes])
    n = int(rng.choice(sizes, p=weights / weights.sum()))
    first = str(rng.integers(0, 10) if n == 1 or rng.random() < 0.08 else rng.integers(1, 10))
    return first + "".join(str(rng.integers(0, 10)) for _ in range(n - 1))


def _touch_shift(a: Glyph, ax: int, ay: int, b: Glyph, bx: int, by: int) -> int | None:
    """How far left b must move for its ink to just meet a's, row by row; None if no row is shared."""
    best = None
    top, bottom = max(ay, by), min(ay + a.alpha.shape[0], by + b.alpha.shape[0])
    for row in range(top, bottom):
        ra = np.flatnonzero(a.alpha[row - ay] > 0.5)
        rb = np.flatnonzero(b.alpha[row - by] > 0.5)
        if len(ra) and len(rb):
            clearance = (bx + rb[0]) - (ax + ra[-1]) - 1
            best = clearance if best is None else min(best, clearance)
    return best


@dataclass
class WrittenNumber:
    """A number laid out before it is put on a sheet: glyphs at offsets from its origin."""

    text: str
    written: str
    parts: list[tuple[Glyph, int, int, int | None]]  # glyph, x, y of its alpha, label (None: comma)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return _union([(x + g.box[0], y + g.box[1], g.box[2], g.box[3]) for g, x, y, _ in self.parts])


def write_number(bank: DigitBank, text: str, height: float, rng: Rng, hand: Hand) -> WrittenNumber:
    """Lay out a handwritten number, its ink's left edge at x=0 and its baseline at y=0."""
    parts: list[tuple[Glyph, int, int, int | None]] = []
    written = ""
    right = 0  # right edge of the ink so far
    previous: tuple[Glyph, int, int] | None = None
    for i, ch in enumerate(text):
        h = height * (1 + rng.uniform(-hand.size_jitter, hand.size_jitter))
        stroke = rng.uniform(*hand.stroke) if hand.stroke else None
        image, source = bank.pick(int(ch), rng)
        glyph = render_digit(image, h, rng, stroke=stroke, slant=rng.uniform(-hand.slant, hand.slant))
        if rng.random() < hand.broken:
            glyph = break_stroke(glyph, rng, rng.uniform(0.03, 0.06) * height)
        glyph.source = source
        gx, gy, gw, gh = glyph.box
        baseline = int(round(rng.uniform(-0.04, 0.04) * height))
        y = baseline - (gy + gh)
        x = (right + int(round(rng.uniform(*hand.gap) * height)) if previous else 0) - gx
        if previous and rng.random() < hand.touching:
            touch_x = right - gx
            shift = _touch_shift(previous[0], previous[1], previous[2], glyph, touch_x, y)
            if shift is not None:
                overlap = int(rng.integers(1, max(2, int(0.04 * height)) + 1))
                moved = touch_x - shift - overlap
                pg = previous[0].box
                # Overlapping more than a third of the narrower digit is no longer "touching".
                if right - (moved + gx) <= 0.35 * min(pg[2], gw):
                    x = moved
        parts.append((glyph, x, y, int(ch)))
        written += ch
        right = max(right, x + gx + gw)
        previous = (glyph, x, y)
        left_over = len(text) - i - 1
        if hand.separators and left_over and left_over % 3 == 0:
            comma = comma_glyph(height, (hand.stroke[0] if hand.stroke else 0.12) * height)
            cx = right + int(0.08 * height)
            parts.append((comma, cx - comma.box[0], -comma.box[1] - int(0.08 * height), None))
            right = cx + comma.box[2] + int(0.05 * height)
            written += ","
    return WrittenNumber(text, written, parts)


def put_number(sheet: Sheet, number: WrittenNumber, x: int, baseline: int) -> NumberTruth:
    """Put a laid-out number on the sheet, its ink's left edge at x, its baseline at `baseline`."""
    indices = []
    for glyph, gx, gy, label in number.parts:
        i = sheet.add(glyph, x + gx, baseline + gy, label)
        if label is not None:
            indices.append(i)
    truth = NumberTruth(number.text, number.written, indices)
    sheet.numbers.append(truth)
    return truth


def write_lines(sheet: Sheet, bank: DigitBank, rng: Rng, hand: Hand, *, region: tuple[int, int, int, int],
                height: tuple[float, float], pitch: tuple[float, float] = (1.9, 3.0),
                spacing: tuple[float, float] = (1.6, 5.0), baselines: list[int] | None = None,
                line_chance: float = 1.0, max_numbers: int = 40, digits: tuple[int, int] = (1, 6),
                height_per_line: bool = False, per_line: int = 6, drift: float = 0.0) -> None:
    """Write numbers in lines across a region (x, y, w, h), left to right, top to bottom.

    Args:
        height: the range of digit heights (one per page, or one per line with `height_per_line`).
        pitch: from one baseline to the next, in digit heights (when no `baselines` are given).
        spacing: between numbers on a line, in digit heights (at least 1.5).
        baselines: write on these lines (ruled paper) instead.
        line_chance: the chance that a line is written on.
        per_line: at most this many numbers on one line.
        drift: lines of free writing climb or fall by up to this slope (0.02 is about 1 degree).
    """
    rx, ry, rw, rh = region
    h = rng.uniform(*height)
    y = ry + int(h * 1.1)
    lines = iter(baselines) if baselines is not None else None
    count = 0
    while count < max_numbers:
        if lines is not None:
            y = next(lines, None)
            if y is None:
                break
            if y < ry + h or rng.random() > line_chance:
                continue
        if y > ry + rh:
            break
        x = rx + int(rng.uniform(0, 2.0) * h)
        x0, line_h = x, h
        # Never so much that a line runs into the next one: a quarter of a digit across the region.
        slope = rng.uniform(-1, 1) * min(drift, 0.25 * h / rw) if drift else 0.0
        room = int(rng.integers(1, per_line + 1))
        while count < max_numbers and room > 0:
            number = write_number(bank, random_text(rng, digits), line_h, rng, hand)
            bx, by, bw, bh = number.box
            if x + bw > rx + rw:
                break
            put_number(sheet, number, x - bx, y + int(round(slope * (x - x0))))
            count += 1
            room -= 1
            x += bw + int(rng.uniform(*spacing) * line_h)
        if lines is None:
            next_h = rng.uniform(*height) if height_per_line else h
            y += int(rng.uniform(*pitch) * max(h, next_h))
            h = next_h


# ----------------------------------------------------------------------------- printed things


def draw_ruled(sheet: Sheet, rng: Rng, pitch: float, top: int) -> list[int]:
    """Rule the paper (blue lines, a red margin); returns the rules' y positions."""
    ys = list(range(top, sheet.height - 4, max(8, int(round(pitch)))))
    colour = (rng.uniform(190, 225), rng.uniform(160, 200), rng.uniform(110, 160))
    thick = int(rng.integers(1, 3))

    def rules(layer: np.ndarray) -> None:
        for y in ys:
            cv2.line(layer, (0, y), (sheet.width, y), rng.uniform(0.7, 1.0), thick, cv2.LINE_AA)

    sheet.draw_printed(rules, colour)
    if rng.random() < 0.7:
        mx = int(sheet.width * rng.uniform(0.06, 0.1))
        sheet.draw_printed(lambda layer: cv2.line(layer, (mx, 0), (mx, sheet.height), 1.0, thick + 1, cv2.LINE_AA),
                           (rng.uniform(80, 120), rng.uniform(80, 120), rng.uniform(200, 235)))
    return ys


def draw_grid(sheet: Sheet, rng: Rng, cell: float) -> None:
    """Squared paper: light lines every `cell` pixels both ways, every fifth a little darker."""
    colour = (rng.uniform(170, 220), rng.uniform(160, 200), rng.uniform(140, 190))
    step = max(6, int(round(cell)))
    ox, oy = int(rng.integers(step)), int(rng.integers(step))

    def grid(layer: np.ndarray) -> None:
        for i, x in enumerate(range(ox, sheet.width, step)):
            cv2.line(layer, (x, 0), (x, sheet.height), 1.0 if i % 5 == 0 else 0.6, 1, cv2.LINE_AA)
        for i, y in enumerate(range(oy, sheet.height, step)):
            cv2.line(layer, (0, y), (sheet.width, y), 1.0 if i % 5 == 0 else 0.6, 1, cv2.LINE_AA)

    sheet.draw_printed(grid, colour)


def draw_security_pattern(sheet: Sheet, rng: Rng) -> None:
    """A cheque's background: a pastel tint crossed by fine wavy guilloche lines."""
    h, w = sheet.height, sheet.width
    tint = np.asarray([(225, 240, 215), (240, 225, 215), (215, 235, 240), (235, 220, 235)][rng.integers(4)],
                      np.float32)
    sheet.paper *= (tint / 255.0)[None, None, :]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.5, 6.0)
    waves = []
    for _ in range(2):
        amp, freq, phase = rng.uniform(2, 6), rng.uniform(0.04, 0.12), rng.uniform(0, 2 * np.pi)
        tilt = rng.uniform(-0.4, 0.4)
        u = yy + tilt * xx + amp * np.sin(freq * xx + phase)
        waves.append(0.5 + 0.5 * np.cos(2 * np.pi * u / period))
    pattern = np.maximum(waves[0], waves[1]) ** 2
    colour = np.asarray([(120, 150, 90), (160, 120, 100), (100, 140, 160)][rng.integers(3)], np.float32)
    _multiply(sheet.paper, (pattern * rng.uniform(0.25, 0.45)).astype(np.float32), colour)
    if rng.random() < 0.6:  # the field's printed border
        sheet.draw_printed(lambda layer: cv2.rectangle(layer, (1, 1), (w - 2, h - 2), 1.0, 1, cv2.LINE_AA),
                           (90, 90, 90), 0.8)


def draw_form_field(sheet: Sheet, x: int, y: int, cells: int, cell_w: int, cell_h: int, thick: int,
                    colour: Iterable[float], comb: bool = True) -> None:
    """A printed field: a box, split into `cells` boxes when it is a comb for one digit each."""
    def field(layer: np.ndarray) -> None:
        cv2.rectangle(layer, (x, y), (x + cells * cell_w, y + cell_h), 1.0, thick, cv2.LINE_AA)
        if comb:
            for i in range(1, cells):
                cv2.line(layer, (x + i * cell_w, y), (x + i * cell_w, y + cell_h), 1.0, thick, cv2.LINE_AA)

    sheet.draw_printed(field, colour)


def write_form(sheet: Sheet, bank: DigitBank, rng: Rng, hand: Hand, *, region: tuple[int, int, int, int],
               height: float, touch_chance: float = 0.3) -> None:
    """Fill a form: rows of printed fields (combs of boxes, or one box), each holding a number.

    Digits sit in their boxes as people write them: mostly inside, sometimes touching or
    crossing a line (`touch_chance` per digit).
    """
    rx, ry, rw, rh = region
    colour = [(40, 40, 40), (120, 60, 30), (60, 60, 160), (90, 90, 90)][rng.integers(4)]
    thick = int(rng.integers(1, 4))
    cell_h = int(height * rng.uniform(1.2, 1.45))
    cell_w = int(height * rng.uniform(0.9, 1.15))
    y = ry + int(0.3 * height)
    while y + cell_h < ry + rh:
        x = rx + int(rng.uniform(0, 1.0) * height)
        while True:
            text = random_text(rng, (1, 6))
            comb = rng.random() < 0.7
            if comb:
                cells = len(text) + int(rng.integers(0, 3))
                if x + cells * cell_w > rx + rw:
                    break
                draw_form_field(sheet, x, y, cells, cell_w, cell_h, thick, colour)
                indices = []
                start = int(rng.integers(0, cells - len(text) + 1))
                for i, ch in enumerate(text):
                    touch = rng.random() < touch_chance
                    h = height * (rng.uniform(0.95, 1.08) if touch else rng.uniform(0.78, 0.92))
                    image, source = bank.pick(int(ch), rng)
                    glyph = render_digit(image, h, rng, stroke=rng.uniform(*hand.stroke) if hand.stroke else None,
                                         slant=rng.uniform(-hand.slant, hand.slant))
                    glyph.source = source
                    gx, gy, gw, gh = glyph.box
                    cx = x + (start + i + 0.5) * cell_w + rng.uniform(-0.08, 0.08) * cell_w
                    cy = y + cell_h / 2 + rng.uniform(-0.05, 0.05) * cell_h
                    if touch:  # reach the bottom line, or a side
                        if rng.random() < 0.6:
                            cy = y + cell_h - gh / 2 + rng.uniform(-0.5, 1.5) * thick
                        else:
                            side = 1 if rng.random() < 0.5 else -1
                            reach = cell_w / 2 - gw / 2 + rng.uniform(-0.5, 1.5) * thick
                            cx = x + (start + i + 0.5) * cell_w + side * reach
                    indices.append(sheet.add(glyph, int(cx - gw / 2) - gx, int(cy - gh / 2) - gy, int(ch)))
                sheet.numbers.append(NumberTruth(text, text, indices))
                x += cells * cell_w + int(rng.uniform(1.6, 3.5) * height)
            else:
                number = write_number(bank, text, height * rng.uniform(0.8, 0.95), rng, hand)
                bx, by, bw, bh = number.box
                pad = int(rng.uniform(0.2, 0.6) * height)
                width = bw + 2 * pad
                if x + width > rx + rw:
                    break
                draw_form_field(sheet, x, y, 1, width, cell_h, thick, colour, comb=False)
                baseline = y + cell_h - int((cell_h - bh) / 2)
                if rng.random() < touch_chance:
                    baseline = y + cell_h + int(rng.uniform(-0.5, 1.5) * thick)
                put_number(sheet, number, x + pad - bx, baseline)
                x += width + int(rng.uniform(1.6, 3.5) * height)
        y += cell_h + int(rng.uniform(0.7, 1.6) * height)


# ----------------------------------------------------------------------------- marks that are not digits


def _free(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]], margin: float) -> bool:
    x, y, w, h = box
    for tx, ty, tw, th in taken:
        if x < tx + tw + margin and tx < x + w + margin and y < ty + th + margin and ty < y + h + margin:
            return False
    return True


def add_marks(sheet: Sheet, rng: Rng, height: float, count: int, rules: bool = True) -> None:
    """Specks, dashes, dots and underlines near the numbers (never over a digit), and page rules.

    Args:
        height: the digits' height, to size marks and keep them apart from digits.
        count: about how many marks (page rules not counted).
    """
    digits = sheet.digit_boxes()
    numbers = [sheet.number_box(n) for n in sheet.numbers]
    stroke = max(2.0, 0.08 * height)
    margin = 0.2 * height
    taken = list(digits)
    for number in numbers:
        if rng.random() < 0.4:  # underline
            x, y, w, h = number
            uy = y + h + int(rng.uniform(0.25, 0.45) * height)
            ux1, ux2 = x - int(rng.uniform(0, 0.3) * height), x + w + int(rng.uniform(0, 0.3) * height)
            box = (ux1, uy - int(stroke), ux2 - ux1, int(3 * stroke))
            if not _free(box, taken, margin * 0.5) or uy + 2 * stroke >= sheet.height:
                continue
            alpha = np.zeros((int(4 * stroke) + int(0.1 * height) + 4, ux2 - ux1 + 8), np.float32)
            pts = np.array([[4 + t, alpha.shape[0] // 2 + rng.uniform(-0.04, 0.04) * height * np.sin(t / 25.0)]
                            for t in range(0, ux2 - ux1, 4)], np.int32)
            cv2.polylines(alpha, [pts], False, 1.0, int(stroke), cv2.LINE_AA)
            sheet.add(_glyph(alpha), ux1 - 4, uy - alpha.shape[0] // 2)
            taken.append(box)
    placed, tries = 0, 0
    while placed < count and tries < 40 * count and numbers:
        tries += 1
        nx, ny, nw, nh = numbers[rng.integers(len(numbers))]
        kind = rng.choice(["speck", "speck", "dash", "dot"])
        # Somewhere near this number: before it, after it, above or below.
        px = nx + rng.uniform(-1.2, 1.0) * height + rng.uniform(0, 1) * (nw + 1.2 * height)
        py = ny + rng.uniform(-0.8, 1.6) * height
        if kind in ("speck", "dot"):
            r = rng.uniform(0.6, 2.0) if kind == "speck" else rng.uniform(0.04, 0.08) * height
            size = int(2 * r) + 6
            alpha = np.zeros((size, size), np.float32)
            if kind == "speck" and rng.random() < 0.5:
                pts = (rng.normal(size / 2, r, (4, 2))).astype(np.int32)
                cv2.fillPoly(alpha, [cv2.convexHull(pts)], 1.0, cv2.LINE_AA)
            else:
                cv2.circle(alpha, (size // 2, size // 2), max(1, int(round(r))), 1.0, -1, cv2.LINE_AA)
        else:  # a dash
            length = rng.uniform(0.35, 0.8) * height
            a = np.deg2rad(rng.uniform(-12, 12))
            size = int(length) + 12
            alpha = np.zeros((size, size), np.float32)
            c = size / 2
            dx, dy = np.cos(a) * length / 2, np.sin(a) * length / 2
            cv2.line(alpha, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, int(stroke), cv2.LINE_AA)
        glyph = _glyph(alpha)
        gx, gy, gw, gh = glyph.box
        box = (int(px), int(py), gw, gh)
        if px < 2 or py < 2 or px + gw >= sheet.width - 2 or py + gh >= sheet.height - 2:
            continue
        # Clear of every digit, and of the numbers by more than a separator's reach: a dot right
        # under the gap between two digits would be a decimal point, not a stray mark.
        if not _free(box, taken, margin) or not _free(box, numbers, 0.3 * height):
            continue
        sheet.add(glyph, int(px) - gx, int(py) - gy)
        taken.append(box)
        placed += 1
    if rules:
        # Printed page rules across the page, in the space between lines of numbers.
        colour = (rng.uniform(40, 120),) * 3
        for _ in range(int(rng.integers(1, 4))):
            y = int(rng.integers(int(0.05 * sheet.height), int(0.95 * sheet.height)))
            box = (0, y - 2, sheet.width, 4)
            if _free(box, digits, 0.3 * height):
                thick = int(rng.integers(1, 3))
                sheet.draw_printed(lambda layer, y=y, t=thick: cv2.line(layer, (0, y), (sheet.width, y), 1.0, t,
                                                                        cv2.LINE_AA), colour)


LABELS = ("Total", "Date", "No.", "Name", "Amount", "Qty", "Room", "Score", "Reading", "kWh", "Page",
          "Ref.", "Paid", "Code", "Tel.", "Item", "Sum", "Box", "Lot", "Week")


# TrueType fonts to print labels in, when Pillow and the fonts are there: the model's "not a
# digit" examples are drawn in OpenCV's own fonts, so labels printed in these are type it has
# never seen, as on a real form. OpenCV's fonts stand in where there are none.
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf",
              "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
              "LiberationSansNarrow-Regular.ttf", "LiberationMono-Regular.ttf")
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


@lru_cache(maxsize=1)
def label_fonts() -> tuple[str, ...]:
    """Paths of the TrueType fonts found for labels; empty without Pillow or fonts."""
    try:
        import PIL.ImageFont  # noqa: F401
    except ImportError:
        return ()
    found = {}
    for folder in FONT_FOLDERS:
        if Path(folder).is_dir():
            for path in sorted(Path(folder).rglob("*.ttf")):
                if path.name in FONT_FILES:
                    found.setdefault(path.name, str(path))
    return tuple(found[name] for name in FONT_FILES if name in found)


def add_labels(sheet: Sheet, rng: Rng, height: float) -> None:
    """Print a field name (letters only) to the left of most numbers, where there is room."""
    digits = sheet.digit_boxes()
    fonts = label_fonts()
    font = str(rng.choice(fonts)) if fonts else \
        [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX][rng.integers(3)]
    colour = (rng.uniform(20, 80),) * 3
    for number in sheet.numbers:
        if rng.random() > 0.8:
            continue
        nx, ny, nw, nh = sheet.number_box(number)
        word = str(rng.choice(LABELS)) + (":" if rng.random() < 0.5 else "")
        caps = rng.uniform(0.45, 0.6) * height  # the height of a capital
        weight = rng.uniform(1.2, 2.2)  # drawn whatever the font, so the pages after are the same
        if isinstance(font, str):
            draw, (tw, th, base) = _truetype_text(word, font, caps)
        else:
            scale = caps / 22.0  # Hershey capitals are ~22 px tall at scale 1
            thick = max(1, int(round(scale * weight)))
            (tw, th), base = cv2.getTextSize(word, font, scale, thick)
            draw = partial(_print_text, text=word, font=font, scale=scale, thick=thick)
        x = int(nx - rng.uniform(0.6, 1.2) * height - tw)
        y = int(ny + nh)  # on the number's baseline
        box = (x, y - th, tw, th + base)
        if x < 4 or y - th < 4 or not _free(box, digits, 0.5 * height):
            continue
        sheet.draw_printed(lambda layer, d=draw, o=(x, y): d(layer, origin=o), colour)
        digits.append(box)


def _print_text(layer: np.ndarray, *, text: str, origin: tuple[int, int], font: int, scale: float,
                thick: int) -> None:
    """Print text into a float alpha layer (OpenCV draws text on 8-bit images only)."""
    canvas = np.zeros(layer.shape, np.uint8)
    cv2.putText(canvas, text, origin, font, scale, 255, thick, cv2.LINE_AA)
    np.maximum(layer, canvas.astype(np.float32) / 255.0, out=layer)


def _truetype_text(text: str, path: str, caps: float):
    """A function printing `text` in a TrueType font, capitals `caps` pixels tall, with its
    baseline at an origin, into a float alpha layer; and the text's (width, height above the
    baseline, depth below it)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(path, max(6, int(round(caps / 0.72))))  # capitals are ~0.72 em
    left, top, right, bottom = font.getbbox(text, anchor="ls")

    def draw(layer: np.ndarray, origin: tuple[int, int]) -> None:
        image = Image.new("L", (layer.shape[1], layer.shape[0]), 0)
        ImageDraw.Draw(image).text(origin, text, fill=255, font=font, anchor="ls")
        np.maximum(layer, np.asarray(image, np.float32) / 255.0, out=layer)

    return draw, (right - left, -top, max(0, bottom))


# ----------------------------------------------------------------------------- the photo


def lighting(image: np.ndarray, rng: Rng, *, gradient: float, shadow: float = 0.0, glare: float = 0.0,
             vignette: float = 0.0) -> None:
    """Light the page unevenly, in place: a gradient, a soft cast shadow, a glare spot, vignetting.

    Args:
        gradient: how much darker the far side is (0..1).
        shadow: how deep a cast shadow is (0: none; 0.5 halves the light in it).
        glare: how strongly a reflection washes out a spot (0..1).
        vignette: how much darker the corners are.
    """
    h, w = image.shape[:2]
    sh, sw = max(8, h // 8), max(8, w // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy /= sh - 1
    xx /= sw - 1
    a = rng.uniform(0, 2 * np.pi)
    proj = (xx - 0.5) * np.cos(a) + (yy - 0.5) * np.sin(a)
    proj = (proj - proj.min()) / max(1e-6, float(proj.max() - proj.min()))
    light = 1.0 - gradient * proj
    if vignette:
        light *= 1.0 - vignette * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 2
    if shadow:
        b = rng.uniform(0, 2 * np.pi)
        d = (xx - rng.uniform(0.2, 0.8)) * np.cos(b) + (yy - rng.uniform(0.2, 0.8)) * np.sin(b)
        soft = rng.uniform(0.02, 0.12)
        if rng.random() < 0.5:  # a band (an arm, a pen), else everything past an edge (the phone)
            width = rng.uniform(0.08, 0.3)
            inside = 1 / (1 + np.exp(-(width / 2 - np.abs(d)) / soft))
        else:
            inside = 1 / (1 + np.exp(-d / soft))
        light *= 1.0 - shadow * inside
    field = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    tint = np.asarray([rng.uniform(0.92, 1.04), 1.0, rng.uniform(0.94, 1.06)], np.float32)
    image *= field[..., None] * tint
    if glare:
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        sx, sy = rng.uniform(0.05, 0.2) * w, rng.uniform(0.05, 0.2) * h
        gy, gx = np.ogrid[0:h, 0:w]
        spot = np.exp(-((gx - cx) ** 2) / (2 * sx * sx)) * np.exp(-((gy - cy) ** 2) / (2 * sy * sy))
        spot = spot.astype(np.float32)
        image += (glare * spot)[..., None] * (255.0 - image)


def random_homography(h: int, w: int, rng: Rng, rotation: float, perspective: float, zoom: float) -> np.ndarray:
    """A camera's view of the page: rotated by up to `rotation` degrees, corners moved by up to
    `perspective` of the page size, and shrunk by `zoom` so the table shows around it."""
    angle = rng.uniform(-rotation, rotation)
    rot = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom), [0, 0, 1]])
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-perspective, perspective, (4, 2)) * np.float32([w, h])
    persp = cv2.getPerspectiveTransform(src, (src + jitter).astype(np.float32))
    return (persp @ rot).astype(np.float64)


def warp_box(patch: InkPatch, homography: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The truth box of one patch's ink after the page is warped: its own alpha warped, measured."""
    h, w = patch.alpha.shape
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]]) + np.float32([patch.x, patch.y])
    moved = cv2.perspectiveTransform(corners[None], homography)[0]
    x0, y0 = np.floor(moved.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(moved.max(axis=0)).astype(int) + 2
    to_local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    from_patch = np.array([[1, 0, patch.x], [0, 1, patch.y], [0, 0, 1]], np.float64)
    local = cv2.warpPerspective(patch.alpha, to_local @ homography @ from_patch, (int(x1 - x0), int(y1 - y0)),
                                flags=cv2.INTER_LINEAR, borderValue=0)
    box = _ink_box(local)
    if box is None:
        return None
    bx, by, bw, bh = box
    bx, by = bx + x0, by + y0
    # Clip to the image; a digit mostly outside the photo has no truth box.
    cx1, cy1 = max(0, bx), max(0, by)
    cx2, cy2 = min(size[0], bx + bw), min(size[1], by + bh)
    if cx2 - cx1 < 0.8 * bw or cy2 - cy1 < 0.8 * bh:
        return None
    return int(cx1), int(cy1), int(cx2 - cx1), int(cy2 - cy1)


def expose(image: np.ndarray, rng: Rng) -> np.ndarray:
    """A phone's auto-exposure: a dim scene is brightened until its brightest part is at 200-240."""
    sample = image[:: max(1, image.shape[0] // 200), :: max(1, image.shape[1] // 200)].mean(axis=2)
    bright = float(np.percentile(sample, 99))
    gain = np.clip(rng.uniform(200, 240) / max(bright, 1.0), 1.0, 2.0)
    return image * np.float32(gain)


def bow(image: np.ndarray, sag: float) -> np.ndarray:
    """The photo of a page that bows (a sheet lying curled, or held in the hand): every row bent
    along a parabola whose middle lies `sag` pixels below its sides; upright lines stay upright."""
    h, w = image.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dy = sag * (1 - ((xs - w / 2) / (w / 2)) ** 2)
    return cv2.remap(image, xs, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def camera(image: np.ndarray, rng: Rng, *, blur: float = 0.0, motion: float = 0.0, noise: float = 0.0,
           sharpen: float = 0.0) -> np.ndarray:
    """Optics, sensor and the phone's processing: Gaussian blur (sigma px), motion blur (length
    px), noise (sigma levels), then unsharp masking (`sharpen`: its amount), which leaves light
    halos along dark strokes."""
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    if motion >= 2:
        n = int(round(motion)) | 1
        kernel = np.zeros((n, n), np.float32)
        a = rng.uniform(0, np.pi)
        c = n // 2
        dx, dy = np.cos(a) * c, np.sin(a) * c
        cv2.line(kernel, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, 1, cv2.LINE_AA)
        image = cv2.filter2D(image, -1, kernel / kernel.sum())
    if noise > 0:
        h, w = image.shape[:2]
        luma = rng.standard_normal((h, w), dtype=np.float32) * noise
        # Colour noise is blotchier than brightness noise (demosaicing spreads it over 2x2 pixels).
        chroma = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32) * (noise * 0.4)
        chroma = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_NEAREST)
        image = image + luma[..., None] + chroma
    if sharpen > 0:
        image = cv2.addWeighted(image, 1 + sharpen, cv2.GaussianBlur(image, (0, 0), 1.2), -sharpen, 0)
    return image


# ----------------------------------------------------------------------------- conditions


@dataclass
class Style:
    """Everything that decides how one page looks; each condition sets some of it."""

    size: tuple[int, int] = (960, 1280)  # h, w
    height: tuple[float, float] = (32.0, 90.0)  # digit height range, px
    paper: str = "white"
    texture: float = 0.0
    ink: str = "black"
    hand: Hand = field(default_factory=Hand)
    layout: str = "lines"  # lines | ruled | grid | boxes | multi | cheque
    count: tuple[int, int] = (3, 8)  # numbers on a page of lines (ruled and grid: 1.5x this)
    marks_only: bool = False  # keep the marks, take the numbers away (nothing there is a digit)
    labels: bool = False  # printed words (field names) beside the numbers
    marks: int = 0
    gradient: float = 0.0
    shadow: float = 0.0
    glare: float = 0.0
    vignette: float = 0.0
    rotation: float = 0.0
    perspective: float = 0.0
    zoom: float = 1.0
    drift: float = 0.0  # slope by which lines of free writing climb or fall
    table: tuple[int, int, int] | None = None  # BGR of the table around a turned page (None: one at random)
    blur: float = 0.0
    motion: float = 0.0
    noise: float = 0.0
    sharpen: float = 0.0
    jpeg: int | None = None  # quality; None saves a PNG


def _photo(style: Style, rng: Rng) -> Style:
    """What any phone photo has: slightly uneven light, a little noise and blur, sharpening, JPEG."""
    return replace(style, texture=rng.uniform(0.1, 0.3), paper=str(rng.choice(["white", "white", "cream"])),
                   gradient=rng.uniform(0.0, 0.12), vignette=rng.uniform(0.0, 0.1), noise=rng.uniform(1.0, 3.0),
                   blur=rng.uniform(0.0, 0.7), sharpen=rng.uniform(0.0, 0.6), drift=0.03,
                   jpeg=int(rng.integers(85, 96)))


def _apply(condition: str, s: Style, rng: Rng) -> Style:
    """Set the part of the style that one condition is about."""
    h = s.hand
    if condition == "paper":
        return replace(s, paper=str(rng.choice(["cream", "recycled", "yellow", "kraft", "blue", "grey"])),
                       texture=rng.uniform(0.5, 1.0))
    if condition == "lighting":
        return replace(s, gradient=rng.uniform(0.25, 0.55), shadow=rng.uniform(0.3, 0.6) if rng.random() < 0.8 else 0.0,
                       glare=rng.uniform(0.3, 0.6) if rng.random() < 0.3 else 0.0, vignette=rng.uniform(0.1, 0.35))
    if condition == "ink":
        ink = str(rng.choice(["blue", "black", "pencil", "pencil", "marker", "red"]))
        stroke = (0.16, 0.24) if ink == "marker" else h.stroke
        return replace(s, ink=ink, hand=replace(h, stroke=stroke))
    if condition == "stroke":
        stroke = (0.025, 0.05) if rng.random() < 0.5 else (0.2, 0.3)
        return replace(s, ink=str(rng.choice(["black", "blue"])), hand=replace(h, stroke=stroke))
    if condition == "board":
        return replace(s, paper="board", ink="chalk", texture=0.0)
    if condition in ("ruled", "grid", "boxes"):
        return replace(s, layout=condition)
    if condition == "marks":
        return replace(s, marks=int(rng.integers(8, 20)))
    if condition == "blur_jpeg":
        return replace(s, blur=rng.uniform(1.0, 2.2), motion=rng.uniform(0, 6) if rng.random() < 0.4 else 0.0,
                       noise=rng.uniform(3.0, 7.0), jpeg=int(rng.integers(30, 61)))
    if condition == "geometry":
        return replace(s, rotation=8.0, perspective=rng.uniform(0.02, 0.07), zoom=rng.uniform(0.86, 0.95))
    if condition == "broken":
        return replace(s, hand=replace(h, broken=rng.uniform(0.4, 0.7)))
    if condition == "touching":
        return replace(s, hand=replace(h, touching=rng.uniform(0.35, 0.6)))
    if condition == "printed":
        return replace(s, labels=True)
    if condition == "multi":
        return replace(s, layout="multi", height=(28.0, 90.0))
    if condition == "large":
        return replace(s, size=(3024, 4032), height=(60.0, 200.0), noise=rng.uniform(2.0, 4.0),
                       blur=rng.uniform(0.6, 1.5))
    if condition == "cheque":
        return replace(s, size=(45, 150), height=(20.0, 28.0), layout="cheque", jpeg=int(rng.integers(70, 93)),
                       blur=rng.uniform(0.0, 0.6), hand=replace(h, separators=True, stroke=(0.09, 0.14), slant=3.0))
    raise ValueError(f"unknown condition {condition!r}; expected one of {', '.join(CONDITIONS)}")


def sample_style(condition: str, rng: Rng) -> tuple[Style, list[str]]:
    """A random style for a page of one condition; returns it with the page's condition tags."""
    h, w = PAGE_SIZES[rng.integers(len(PAGE_SIZES))]
    style = Style(size=(h, w))
    if condition == "clean":
        return style, ["clean"]
    style = _photo(style, rng)
    if condition == "mixed":
        layouts = ["ruled", "grid", "boxes"]
        chosen = [str(c) for c in rng.choice([c for c in MIXABLE if c not in layouts], size=int(rng.integers(2, 4)),
                                             replace=False)]
        if rng.random() < 0.5:
            chosen.append(str(rng.choice(layouts)))
        for c in chosen:
            style = _apply(c, style, rng)
        return style, ["mixed", *sorted(chosen)]
    return _apply(condition, style, rng), [condition]


def make_page(condition: str, rng: Rng, bank: DigitBank, style: Style | None = None,
              tags: list[str] | None = None) -> Page:
    """Make one photographed page of a condition (see `CONDITIONS`), or of a given style."""
    if style is None:
        style, tags = sample_style(condition, rng)
    return render_page(style, rng, bank, tags or [condition])


@dataclass
class Page:
    """A made photo and its truth."""

    image: np.ndarray  # BGR uint8
    conditions: list[str]
    digits: list[dict]  # {"label", "box": [x, y, w, h]}
    numbers: list[dict]  # {"text" (as written), "plain" (digits only), "box", "digits": [indices into digits]}
    jpeg: int | None = None

    @property
    def texts(self) -> list[str]:
        return [n["text"] for n in self.numbers]

    def encode(self) -> tuple[bytes, str]:
        """The photo as a file: (bytes, ".jpg" or ".png")."""
        if self.jpeg:
            ok, data = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg)])
            ext = ".jpg"
        else:
            ok, data = cv2.imencode(".png", self.image)
            ext = ".png"
        if not ok:
            raise ValueError("could not encode the page")
        return data.tobytes(), ext

    def truth(self, file: str) -> dict:
        h, w = self.image.shape[:2]
        return {"file": file, "width": w, "height": h, "conditions": self.conditions,
                "digits": self.digits, "numbers": self.numbers}


def _write(sheet: Sheet, style: Style, rng: Rng, bank: DigitBank) -> float:
    """Write the numbers of a page in its layout; returns the typical digit height."""
    h, w = sheet.height, sheet.width
    margin_x, margin_y = int(w * 0.07), int(h * 0.07)
    if style.rotation or style.perspective:
        margin_x, margin_y = int(w * 0.1), int(h * 0.1)
    region = (margin_x, margin_y, w - 2 * margin_x, h - 2 * margin_y)
    height = rng.uniform(*style.height)
    hand = style.hand
    if style.layout == "cheque":
        draw_security_pattern(sheet, rng)
        wanted = int(rng.choice([3, 4, 4, 5, 5, 6]))
        for size in range(wanted, 0, -1):
            number = write_number(bank, random_text(rng, (size, size)), height, rng, hand)
            bx, by, bw, bh = number.box
            if bw <= w - 6:
                break
        x = max(2, int(rng.uniform(0.03, 0.5) * max(1, w - bw)))
        baseline = int(h / 2 + bh / 2 + rng.uniform(-0.12, 0.12) * (h - bh))
        put_number(sheet, number, x - bx, min(h - 2, baseline))
    elif style.layout == "ruled":
        pitch = height * rng.uniform(1.35, 1.7)
        ys = draw_ruled(sheet, rng, pitch, margin_y + int(pitch))
        # Written on the rule, sinking into it a little, as people do.
        baselines = [y + int(rng.uniform(-0.02, 0.08) * height) for y in ys]
        write_lines(sheet, bank, rng, hand, region=region, height=(height, height), baselines=baselines,
                    line_chance=0.6, max_numbers=int(rng.integers(style.count[0], style.count[1] + 1)) * 3 // 2)
    elif style.layout == "grid":
        draw_grid(sheet, rng, height * rng.uniform(0.55, 0.95))
        write_lines(sheet, bank, rng, hand, region=region, height=(height, height), drift=style.drift,
                    max_numbers=int(rng.integers(style.count[0], style.count[1] + 1)) * 3 // 2)
    elif style.layout == "boxes":
        height = min(height, 70.0)
        write_form(sheet, bank, rng, hand, region=region, height=height)
    elif style.layout == "multi":
        write_lines(sheet, bank, rng, hand, region=region, height=style.height, pitch=(1.6, 2.6),
                    spacing=(1.5, 3.0), max_numbers=int(rng.integers(8, 17)), height_per_line=True,
                    drift=style.drift)
    else:
        write_lines(sheet, bank, rng, hand, region=region, height=(height, height), pitch=(1.9, 4.5),
                    max_numbers=int(rng.integers(style.count[0], style.count[1] + 1)), per_line=3,
                    drift=style.drift)
    return height


def new_sheet(style: Style, rng: Rng) -> Sheet:
    """A blank sheet of the style's paper (or board) and size."""
    h, w = style.size
    if style.paper == "board":
        return Sheet(make_board(h, w, rng))
    return Sheet(make_paper(h, w, rng, style.paper, style.texture))


def render_page(style: Style, rng: Rng, bank: DigitBank, tags: list[str]) -> Page:
    """Make the photo of a page of the given style, and its truth."""
    sheet = new_sheet(style, rng)
    height = _write(sheet, style, rng, bank)
    if style.labels:
        add_labels(sheet, rng, height)
    if style.marks:
        add_marks(sheet, rng, height, style.marks)
    if style.marks_only:
        sheet.patches = [p for p in sheet.patches if p.label is None]
        sheet.numbers = []
    return photograph(sheet, style, rng, tags)


def photograph(sheet: Sheet, style: Style, rng: Rng, tags: list[str]) -> Page:
    """Take the photo of a written sheet: ink, light, camera angle, exposure, optics, noise."""
    h, w = sheet.height, sheet.width
    image = sheet.paper.copy()
    apply_ink(image, sheet.alpha(), INKS[style.ink](rng), rng)
    if style.gradient or style.shadow or style.glare or style.vignette:
        lighting(image, rng, gradient=style.gradient, shadow=style.shadow, glare=style.glare, vignette=style.vignette)
    homography = None
    if style.rotation or style.perspective or style.zoom != 1.0:
        homography = random_homography(h, w, rng, style.rotation, style.perspective, style.zoom)
        table = style.table or [(60, 90, 130), (70, 70, 72), (40, 50, 60), (150, 150, 145)][rng.integers(4)]
        image = cv2.warpPerspective(image, homography, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=table)
    image = expose(image, rng)
    image = camera(image, rng, blur=style.blur, motion=style.motion, noise=style.noise, sharpen=style.sharpen)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    digits, numbers = _truth(sheet, homography, (w, h))
    return Page(image, tags, digits, numbers, style.jpeg)


def _truth(sheet: Sheet, homography: np.ndarray | None, size: tuple[int, int]) -> tuple[list[dict], list[dict]]:
    digits: list[dict] = []
    numbers: list[dict] = []
    for number in sheet.numbers:
        boxes, ids = [], []
        for i in number.digits:
            patch = sheet.patches[i]
            box = warp_box(patch, homography, size) if homography is not None else sheet.ink_box(i)
            if box is None:
                break
            boxes.append(box)
        else:
            for i, box in zip(number.digits, boxes):
                ids.append(len(digits))
                digits.append({"label": sheet.patches[i].label, "box": list(box), "mnist": sheet.patches[i].source})
            numbers.append({"text": number.written, "plain": number.text, "box": list(_union(boxes)), "digits": ids})
    return digits, numbers


def page_seed(seed: int, condition: str, index: int) -> Rng:
    """The random generator of page `index` of a condition: pages do not change when others are added."""
    return np.random.default_rng([seed, (CONDITIONS + EXTRA_CONDITIONS).index(condition), index])
