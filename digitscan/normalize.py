"""Normalize candidate digit crops to the form the classifier was trained on.

MNIST digits were size-normalized to fit a 20x20 box (keeping their aspect ratio, with
anti-aliased edges) and then centred by their centre of mass in a 28x28 field, ink white on
black. Every crop that the pipeline classifies goes through :func:`to_mnist` (or
:func:`crops_to_mnist`, which makes the same images for a whole batch faster), and so do the
"not a digit" examples made for training, so that the model sees at run time exactly what it
learned on.

Pens differ far more than MNIST's strokes do: a fine pen on a large photo becomes a hairline
once shrunk to 20 pixels, and a marker a blob. :func:`to_mnist` therefore brings the stroke
width to what MNIST strokes measure at that scale before it shrinks the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from .result import Box

MNIST_SIZE = 28
FIT_SIZE = 20
# Median width of an MNIST stroke (ink > 100) in pixels of the 20x20 box, on 2,000 training digits.
TARGET_STROKE = 2.6


def stroke_width(mask: np.ndarray) -> float:
    """Estimate the mean stroke width of the ink in a binary mask, in pixels.

    A stroke of length L and width w covers about L*w pixels and has a boundary about 2L
    long, so w is about 2 * area / perimeter.

    >>> m = np.zeros((40, 40), np.uint8); m[5:35, 18:22] = 255
    >>> round(stroke_width(m))
    4
    """
    if mask.dtype != np.uint8:
        mask = (mask > 0).astype(np.uint8)
    # Both count and trace every non-zero pixel as ink, whatever its level: no binary copy needed.
    area = float(cv2.countNonZero(mask))
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if perimeter <= 0:
        return 1.0
    return max(1.0, 2.0 * area / perimeter)


def _adjust_stroke(mask: np.ndarray) -> np.ndarray:
    """Thicken hairlines and thin marker strokes so that, once fitted in 20x20, they match MNIST."""
    h, w = mask.shape
    scale = FIT_SIZE / max(h, w)
    width = stroke_width(mask)
    wanted = TARGET_STROKE / scale
    radius = int(round((wanted - width) / 2))
    if radius >= 1:
        k = 2 * radius + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        padded = cv2.copyMakeBorder(mask, radius, radius, radius, radius, cv2.BORDER_CONSTANT)
        return cv2.dilate(padded, kernel)
    if radius <= -1 and width * scale > 2 * TARGET_STROKE:
        k = 2 * (-radius) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        thinned = cv2.erode(mask, kernel)
        # Eroding a blob of uneven width can delete whole parts; keep the original then.
        if np.count_nonzero(thinned) >= 0.35 * np.count_nonzero(mask):
            return thinned
    return mask


def to_mnist(crop: np.ndarray, *, adjust_stroke: bool = True) -> np.ndarray:
    """Turn one crop of ink (bright on dark, any size) into a 28x28 MNIST-style image.

    Args:
        crop: 2-D uint8 array, ink > 0 on a background of 0 (a binary mask or gray levels).
        adjust_stroke: bring the stroke width to MNIST's before fitting.

    Returns:
        A (28, 28) float32 array in 0..1; all zeros when the crop has no ink.

    >>> crop = np.zeros((90, 40), np.uint8); crop[10:80, 15:25] = 255
    >>> img = to_mnist(crop)
    >>> img.shape, img.dtype, round(float(img.max()), 2)
    ((28, 28), dtype('float32'), 1.0)
    """
    if crop.ndim != 2:
        raise ValueError(f"to_mnist expects a 2-D crop, got shape {crop.shape}")
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    small = _shrink(crop, adjust_stroke)
    if small is not None:
        _place(small.astype(np.float32) / np.float32(small.max()), out)
    return out


def normalize_crops(mask: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Cut each box out of a binary mask and normalize it: one (N, 28, 28, 1) float32 batch.

    >>> mask = np.zeros((50, 100), np.uint8); mask[10:40, 20:26] = 255
    >>> normalize_crops(mask, [Box(18, 8, 10, 34)]).shape
    (1, 28, 28, 1)
    """
    return crops_to_mnist([mask[b.y : b.y + b.h, b.x : b.x + b.w] for b in boxes])


def crops_to_mnist(crops: list[np.ndarray]) -> np.ndarray:
    """`to_mnist` of each crop, as one (N, 28, 28, 1) float32 batch.

    The images are exactly `to_mnist`'s; the arithmetic after the shrink to 20x20 is done for
    all the 8-bit crops at once, as a page has hundreds of them.

    >>> crops_to_mnist([np.full((30, 8), 255, np.uint8), np.zeros((5, 5), np.uint8)]).shape
    (2, 28, 28, 1)
    """
    batch = np.zeros((len(crops), MNIST_SIZE, MNIST_SIZE), np.float32)
    for crop in crops:
        if crop.ndim != 2:
            raise ValueError(f"crops_to_mnist expects 2-D crops, got shape {crop.shape}")
    smalls = [_shrink(crop) for crop in crops]
    fits = [(i, small) for i, small in enumerate(smalls) if small is not None and small.dtype == np.uint8]
    for i, small in enumerate(smalls):
        if small is not None and small.dtype != np.uint8:
            _place(small.astype(np.float32) / np.float32(small.max()), batch[i])
    if not fits:
        return batch[..., None]
    fitted = np.zeros((len(fits), FIT_SIZE, FIT_SIZE), np.uint8)
    for k, (_, small) in enumerate(fits):
        fitted[k, : small.shape[0], : small.shape[1]] = small
    peak = fitted.reshape(len(fits), -1).max(axis=1).astype(np.float32)
    ink = fitted.astype(np.float32) / peak[:, None, None]
    shapes = np.array([small.shape for _, small in fits], int)
    corners, careful = _corners(*_centres_of_mass(ink), shapes)
    for k, (i, _) in enumerate(fits):
        (nh, nw), (top, left) = shapes[k], corners[k]
        if careful[k]:
            # The float32 sums every MNIST-style crop was made with (the model's training crops
            # too): where a crop falls halfway, only they round the same way every time.
            _place(np.ascontiguousarray(ink[k, :nh, :nw]), batch[i])
        else:
            batch[i, top : top + nh, left : left + nw] = ink[k, :nh, :nw]
    return batch[..., None]


def _shrink(crop: np.ndarray, adjust_stroke: bool = True) -> np.ndarray | None:
    """The ink of a crop, its stroke width adjusted, resized to fit 20x20 (same dtype); None
    when the crop has no ink."""
    x, y, w, h = _ink_bounds(crop)
    if w == 0:
        return None
    crop = crop[y : y + h, x : x + w]
    if adjust_stroke:
        crop = _adjust_stroke(crop)
    h, w = crop.shape
    scale = FIT_SIZE / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp)
    return small if small.max() > 0 else None


def _ink_bounds(crop: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the non-zero pixels; w == 0 when there are none."""
    if crop.dtype == np.uint8:
        x, y, w, h = cv2.boundingRect(crop)  # far cheaper than np.nonzero, and a page has hundreds of crops
        return x, y, w, h
    ys, xs = np.nonzero(crop)
    if len(ys) == 0:
        return 0, 0, 0, 0
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


_RAMP = np.arange(FIT_SIZE, dtype=np.float64)
# How far `_place`'s float32 centres of mass may lie from the exact ones: at most 2e-6 was
# measured on 5,600 crops of pages; a crop nearer than this to halfway is placed by `_place`.
_MASS_TOLERANCE = 2e-3


def _centres_of_mass(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre of mass (row, column) of each of a stack of (n, 20, 20) float32 images whose
    pixels are 0 or at least 1/255: in float64 their sums are exact, whatever the order."""
    ink = ink.astype(np.float64)
    total = ink.sum(axis=(1, 2))
    return ink.sum(axis=2) @ _RAMP / total, ink.sum(axis=1) @ _RAMP / total


def _corners(rows: np.ndarray, cols: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where `_place` puts each crop's top left corner, given its centre of mass (row, column)
    and its (height, width); and which crops lie (almost) halfway between two places, for
    `_place` to decide with its own arithmetic."""
    offsets = MNIST_SIZE / 2 - 0.5 - np.column_stack([rows, cols])
    careful = np.asarray((np.abs(offsets % 1.0 - 0.5) < _MASS_TOLERANCE).any(axis=1))
    corners = np.clip(np.round(offsets).astype(int), 0, MNIST_SIZE - shapes)
    return corners, careful


def _place(small: np.ndarray, out: np.ndarray) -> None:
    """Write a fitted crop (float32, peak 1) into a zeroed 28x28 field, its centre of mass in the
    middle, as MNIST did."""
    nh, nw = small.shape
    total = small.sum()
    cy = float((small.sum(axis=1) * _RAMP[:nh]).sum() / total)
    cx = float((small.sum(axis=0) * _RAMP[:nw]).sum() / total)
    top = int(round(MNIST_SIZE / 2 - 0.5 - cy))
    left = int(round(MNIST_SIZE / 2 - 0.5 - cx))
    top = min(max(top, 0), MNIST_SIZE - nh)
    left = min(max(left, 0), MNIST_SIZE - nw)
    out[top : top + nh, left : left + nw] = small
