"""Normalize candidate digit crops to the form the classifier was trained on.

MNIST digits were size-normalized to fit a 20x20 box (keeping their aspect ratio, with
anti-aliased edges) and then centred by their centre of mass in a 28x28 field, ink white on
black. Every crop that the pipeline classifies goes through :func:`to_mnist`, and so do the
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
    area = float(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(
        (mask > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE
    )
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
    ys, xs = np.nonzero(crop)
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    if len(ys) == 0:
        return out
    crop = crop[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if adjust_stroke:
        crop = _adjust_stroke(crop)
    h, w = crop.shape
    scale = FIT_SIZE / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp).astype(np.float32)
    peak = small.max()
    if peak <= 0:
        return out
    small /= peak
    # Centre of mass to the middle of the 28x28 field, as MNIST did.
    total = small.sum()
    cy = float((small.sum(axis=1) * np.arange(nh)).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(nw)).sum() / total)
    top = int(round(MNIST_SIZE / 2 - 0.5 - cy))
    left = int(round(MNIST_SIZE / 2 - 0.5 - cx))
    top = min(max(top, 0), MNIST_SIZE - nh)
    left = min(max(left, 0), MNIST_SIZE - nw)
    out[top : top + nh, left : left + nw] = small
    return out


def normalize_crops(mask: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Cut each box out of a binary mask and normalize it: one (N, 28, 28, 1) float32 batch.

    >>> mask = np.zeros((50, 100), np.uint8); mask[10:40, 20:26] = 255
    >>> normalize_crops(mask, [Box(18, 8, 10, 34)]).shape
    (1, 28, 28, 1)
    """
    batch = np.zeros((len(boxes), MNIST_SIZE, MNIST_SIZE, 1), np.float32)
    for i, box in enumerate(boxes):
        batch[i, :, :, 0] = to_mnist(mask[box.y : box.y + box.h, box.x : box.x + box.w])
    return batch
