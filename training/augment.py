"""Augmentation for what photographs do to digits and MNIST lacks.

The origin's augmentation (rotation 10 degrees, zoom 0.1, shifts 0.1) plus small shear,
elastic distortion, stroke thickness from a thin pen to a marker, blur and noise. Everything
works on uint8 28x28 images with OpenCV, one batch at a time, so it runs beside training.

Some digits are also shown as the pipeline sees them on a page: written large, cut out of a
binary ink mask with a fine pen's or a marker's stroke, and brought back to 28x28 by
`digitscan.normalize.to_mnist`, which thins a marker's strokes but cannot reopen the loops
it filled. The model learns those shapes, not just MNIST's.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitscan.normalize import stroke_width, to_mnist


def _affine(rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-10, 10))
    zoom = rng.uniform(0.9, 1.1)
    shear = rng.uniform(-0.15, 0.15)
    tx, ty = rng.uniform(-0.1, 0.1, size=2) * 28
    c, s = np.cos(angle), np.sin(angle)
    m = zoom * np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    centre = np.array([13.5, 13.5])
    offset = centre - m @ centre + (tx, ty)
    return np.hstack([m, offset[:, None]]).astype(np.float32)


def _elastic(img: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, img.shape).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, img.shape).astype(np.float32), (0, 0), sigma) * alpha
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]].astype(np.float32)
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)


_KERNELS = {k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k in (2, 3)}


def _holes(mask: np.ndarray) -> int:
    """How many closed loops (background regions that do not reach the border) a mask has."""
    count, labels = cv2.connectedComponents(np.pad(255 - mask, 1, constant_values=255), connectivity=4)
    return count - 2  # less the ink's label 0 and the outer background


def as_on_a_page(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 28x28 digit as the pipeline would see it written with some pen on a page.

    The digit is drawn at a working height of 40-110 pixels, thresholded to a binary mask as
    the ink mask is, given a stroke from a fine pen (about 3% of its height) to a broad marker
    (about 30%; loops are kept open, as a person still tells a marker's 8 from its 3), and
    normalized by `to_mnist`.
    """
    height = float(rng.uniform(40, 110))
    size = int(round(height * 28 / 20))  # MNIST's 20-pixel box within its 28
    big = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    mask = np.where(big > rng.uniform(70, 150), 255, 0).astype(np.uint8)
    if not mask.any():
        return img
    width = rng.uniform(0.15, 0.32) * height if rng.random() < 0.6 else rng.uniform(0.03, 0.07) * height
    current = stroke_width(mask)
    radius = int(round((width - current) / 2))
    if radius >= 1:
        loops = _holes(mask)
        for r in range(radius, 0, -1):
            thicker = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            if _holes(thicker) >= loops:
                mask = thicker
                break
    elif radius <= -1:
        thinner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * -radius + 1,) * 2))
        if cv2.connectedComponents(thinner)[0] <= cv2.connectedComponents(mask)[0] and \
                np.count_nonzero(thinner) >= 0.3 * np.count_nonzero(mask):
            mask = thinner
    return np.round(to_mnist(mask) * 255).astype(np.uint8)


def augment_one(img: np.ndarray, rng: np.random.Generator, photo: bool = True, page: float = 0.0) -> np.ndarray:
    """One random variant of a uint8 28x28 image (ink white on black); `page` is the chance of
    showing it as the pipeline sees it on a page (`as_on_a_page`) after the affine change."""
    out = cv2.warpAffine(img, _affine(rng), (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    if not photo:
        return out
    if rng.random() < page:
        return as_on_a_page(out, rng)
    if rng.random() < 0.25:
        out = _elastic(out, rng, alpha=rng.uniform(1.0, 2.2), sigma=rng.uniform(3.0, 4.0))
    r = rng.random()
    if r < 0.15:
        out = cv2.dilate(out, _KERNELS[2])
    elif r < 0.22:
        out = cv2.dilate(out, _KERNELS[3])
    elif r < 0.32:
        thin = cv2.erode(out, _KERNELS[2])
        if np.count_nonzero(thin > 64) > 0.4 * np.count_nonzero(out > 64):
            out = thin
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.9))
    if rng.random() < 0.15:
        noisy = out.astype(np.float32) + rng.normal(0, rng.uniform(5, 20), out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.1:
        # A hard threshold, as a binary mask from the pipeline gives before it is shrunk.
        out = np.where(out > 100, 255, 0).astype(np.uint8)
    return out


def augment_batch(images: np.ndarray, rng: np.random.Generator, photo_share: float = 1.0,
                  page_share: float = 0.0) -> np.ndarray:
    """Augment a uint8 batch (N, 28, 28); returns float32 (N, 28, 28, 1) in 0..1.

    Every image gets the origin's affine augmentation; `photo_share` of them also get the
    photo augmentations (elastic, thickness, blur, noise, thresholding), and of those,
    `page_share` are shown as on a page instead (`as_on_a_page`).
    """
    out = np.empty((len(images), 28, 28, 1), np.float32)
    for i, img in enumerate(images):
        out[i, :, :, 0] = augment_one(img, rng, photo=rng.random() < photo_share, page=page_share)
    out /= 255.0
    return out
