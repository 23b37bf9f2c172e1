"""Augmentation for what photographs do to digits and MNIST lacks.

The origin's augmentation (rotation 10 degrees, zoom 0.1, shifts 0.1) plus small shear,
elastic distortion, stroke thickness from a thin pen to a marker, blur and noise. Everything
works on uint8 28x28 images with OpenCV, one batch at a time, so it runs beside training.
"""

from __future__ import annotations

import cv2
import numpy as np


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


def augment_one(img: np.ndarray, rng: np.random.Generator, photo: bool = True) -> np.ndarray:
    """One random variant of a uint8 28x28 image (ink white on black)."""
    out = cv2.warpAffine(img, _affine(rng), (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    if not photo:
        return out
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


def augment_batch(images: np.ndarray, rng: np.random.Generator, photo_share: float = 1.0) -> np.ndarray:
    """Augment a uint8 batch (N, 28, 28); returns float32 (N, 28, 28, 1) in 0..1.

    Every image gets the origin's affine augmentation; `photo_share` of them also get the
    photo augmentations (elastic, thickness, blur, noise, thresholding).
    """
    out = np.empty((len(images), 28, 28, 1), np.float32)
    for i, img in enumerate(images):
        out[i, :, :, 0] = augment_one(img, rng, photo=rng.random() < photo_share)
    out /= 255.0
    return out
