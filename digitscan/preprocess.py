"""Turn a grayscale photo into a binary mask of ink (255) on background (0).

Photos of paper are lit unevenly and shadowed, so no one global threshold fits. We estimate the
background (the paper, the board) with a large median filter on a shrunk copy, and measure
each pixel's *contrast* against it: (background - pixel) / background for dark ink on light
paper. Writing on a dark board is detected and inverted first. The threshold on contrast is
chosen per image (Otsu) within fixed bounds, so that a blank page stays blank, and a second
lower threshold keeps faint parts of strokes (pencil, a drying pen) that touch a sure stroke.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_CONTRAST = 0.14  # below this, no mark is ink: paper grain, JPEG noise, shading
MAX_CONTRAST = 0.40
_BG_SIZE = 256  # background is estimated on a copy this size


def is_dark_background(gray: np.ndarray) -> bool:
    """True for light writing on a dark board: most of the image is darker than mid-gray."""
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)
    return float(np.median(small)) < 100


def estimate_background(gray: np.ndarray) -> np.ndarray:
    """The brightness the paper would have without ink, at every pixel (float32)."""
    h, w = gray.shape
    f = _BG_SIZE / max(h, w)
    small = cv2.resize(gray, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    # Closing removes dark ink narrower than the kernel; the median then smooths what is left.
    k = max(3, (max(small.shape) // 20) | 1)
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    small = cv2.medianBlur(small, k if k <= 255 else 255)
    small = cv2.GaussianBlur(small, (0, 0), k / 3)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def contrast_map(gray: np.ndarray) -> np.ndarray:
    """Ink contrast against the local background, 0 (paper) to 1 (black ink), float32."""
    if is_dark_background(gray):
        gray = 255 - gray
    bg = estimate_background(gray)
    c = (bg - gray.astype(np.float32)) / np.maximum(bg, 16.0)
    return np.clip(c, 0.0, 1.0, out=c)


def ink_threshold(contrast: np.ndarray) -> float:
    """Otsu's threshold over the pixels that could be ink, kept within fixed bounds."""
    candidates = contrast[contrast > MIN_CONTRAST / 2]
    if candidates.size < 32:
        return MAX_CONTRAST
    scaled = np.clip(candidates * 255, 0, 255).astype(np.uint8).reshape(1, -1)
    t, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(np.clip(t / 255.0, MIN_CONTRAST, MAX_CONTRAST))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Binary mask of ink: 255 where there is writing (or any mark), 0 elsewhere.

    >>> page = np.full((60, 60), 200, np.uint8); page[10:50, 28:33] = 40
    >>> m = ink_mask(page); int(m[30, 30]), int(m[5, 5])
    (255, 0)
    """
    contrast = contrast_map(gray)
    high = ink_threshold(contrast)
    low = max(MIN_CONTRAST * 0.8, high * 0.55)
    strong = (contrast >= high).astype(np.uint8)
    weak = (contrast >= low).astype(np.uint8)
    if not strong.any():
        return np.zeros_like(gray)
    # Hysteresis: keep weak pixels in components that hold at least one strong pixel.
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong > 0])] = True
    keep[0] = False
    mask = keep[labels].astype(np.uint8) * 255
    # Close pinholes in strokes, as a marker or an uneven pen leaves.
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (2, 2)))
