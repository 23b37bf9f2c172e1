"""Turn a grayscale photo into a binary mask of ink (255) on background (0).

Photos of paper are lit unevenly and shadowed, so no one global threshold fits. We estimate the
background (the paper, the board) with a grayscale closing on a shrunk copy, and measure
each pixel's *contrast* against it: (background - pixel) / background for dark ink on light
paper. Writing on a dark board is detected and inverted first. The threshold on contrast is
chosen per image (Otsu) within fixed bounds, so that a blank page stays blank, and a second
lower threshold keeps faint parts of strokes (pencil, a drying pen) that touch a sure stroke.
On a patterned ground (a cheque's security print), where most pixels have some contrast, both
thresholds are kept above the pattern's level instead.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_CONTRAST = 0.14  # below this, no mark is ink: paper grain, JPEG noise, shading
MAX_CONTRAST = 0.28
_BG_SIZE = 256  # background is estimated on a copy this size


def is_dark_background(gray: np.ndarray) -> bool:
    """True for light writing on a darker ground (a board).

    Writing is what stands out of its surroundings: on paper the rare far outliers from the
    local brightness are dark, on a board bright. Measured against the local mean (not the
    image's), so that a shadow over half a page does not make the page a board, and a bright
    green board is still one.

    >>> board = np.full((100, 100), 120, np.uint8); board[40:60, 48:52] = 230
    >>> is_dark_background(board), is_dark_background(255 - board)
    (True, False)
    """
    step = max(1, -(-max(gray.shape) // 400))
    sample = np.ascontiguousarray(gray[::step, ::step])
    middle = _median_level(sample)
    if middle >= 170:
        # Boards are not photographed this bright; on light paper with little writing, the rare
        # outliers are the grain's, and they may stray either way.
        return False
    local = cv2.blur(sample, (31, 31))
    brighter = _tail(cv2.subtract(sample, local), _OUTLIERS)
    darker = _tail(cv2.subtract(local, sample), _OUTLIERS)
    if max(brighter, darker) >= 12:
        if brighter > 1.5 * darker:
            return True
        if darker > 1.5 * brighter:
            return False
    # Nothing stands out, or as much either way (a blank page's grain): go by how dark it is.
    return middle < 100


def _median_level(image: np.ndarray) -> float:
    """np.median of an 8-bit image, from its histogram: no sort of a hundred thousand pixels.

    >>> a = np.array([[3, 9, 1, 7]], np.uint8); _median_level(a), float(np.median(a))
    (5.0, 5.0)
    """
    below = np.cumsum(cv2.calcHist([image], [0], None, [256], [0, 256]).ravel())  # pixels at or below each level
    n = image.size
    lower, upper = np.searchsorted(below, [(n - 1) // 2 + 1, n // 2 + 1])
    return (int(lower) + int(upper)) / 2


_OUTLIERS = 0.002  # the share of pixels whose difference from their surroundings is compared


def _tail(difference: np.ndarray, share: float) -> int:
    """The level that `share` of the pixels of an 8-bit image reach or exceed."""
    hist = cv2.calcHist([difference], [0], None, [256], [0, 256]).ravel()
    return _level_reached(hist, share * difference.size)


def _level_reached(hist: np.ndarray, count: float) -> int:
    """The highest level that `count` of the pixels counted in a 256-bin histogram reach or exceed."""
    at_least = np.cumsum(hist[::-1])  # pixels at or above 255, 254, ...
    return 255 - int(np.searchsorted(at_least, count))


def outside_page(background: np.ndarray) -> np.ndarray:
    """Where the photo shows what is around the page (a table, a floor): regions much darker
    than the paper that reach the edge of the photo. Phones sharpen photos, which leaves a thin
    dark fringe along the page's edge; without this it would read as a row of 1s."""
    paper = float(np.percentile(background, 90))
    dark = (background < 0.5 * paper).astype(np.uint8)
    if not dark.any():
        return np.zeros(background.shape, bool)
    n, labels = cv2.connectedComponents(dark, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    # The page ends in a sharp step; a shadow fades in. Keep only regions with a sharp rim.
    step = cv2.morphologyEx(background, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    keep = np.zeros(n, bool)
    for k in edge[edge > 0]:
        region = (labels == k).astype(np.uint8)
        rim = cv2.dilate(region, np.ones((3, 3), np.uint8)) > region
        if rim.any() and float(np.median(step[rim])) >= 0.3 * paper:
            keep[k] = True
    return keep[labels]


def estimate_background(gray: np.ndarray) -> np.ndarray:
    """The brightness the paper would have without ink, at every pixel (uint8)."""
    h, w = gray.shape
    f = min(1.0, _BG_SIZE / max(h, w))
    small = cv2.resize(gray, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    # Closing removes dark ink narrower than the kernel and keeps the edges of what is wider
    # (the table around a page, a shadow's edge) where they are: a blurred background would
    # turn such an edge into a stripe of "ink".
    k = max(7, (max(small.shape) // 20) | 1)
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # Upsampling blends the two sides of such an edge; moving each dark region out by one
    # small pixel first keeps the blend on the bright side, where it makes no ink.
    small = cv2.erode(small, np.ones((3, 3), np.uint8))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def contrast_map(gray: np.ndarray) -> np.ndarray:
    """Ink contrast against the local background, 0 (paper) to 255 (black ink), uint8.

    255 * (background - pixel) / background, computed in 8 bits: this runs on every pixel.
    What lies around the page gets no contrast at all.
    """
    if is_dark_background(gray):
        gray = cv2.bitwise_not(gray)
    background = estimate_background(gray)
    floor = cv2.max(background, 16)  # type: ignore[call-overload]  # np.maximum takes ten times longer
    ratio = cv2.divide(gray, floor, scale=255)  # pixel / background, up to 255
    contrast = cv2.bitwise_not(ratio)  # 255 - ratio
    if not _may_show_outside(background):
        return contrast
    small = cv2.resize(background, (64, 64), interpolation=cv2.INTER_AREA)
    outside = outside_page(small)
    if outside.any():
        # Grown by a small pixel (about 1.5% of the photo), to cover the fringe along the edge.
        grown = cv2.dilate(outside.astype(np.uint8), np.ones((3, 3), np.uint8))
        full = cv2.resize(grown, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)
        contrast[full > 0] = 0
    return contrast


def _may_show_outside(background: np.ndarray) -> bool:
    """False when no part of the background is dark enough for `outside_page` to find: it looks
    for what is darker than half the paper, and shrinking an image never leaves the range of its
    values. Most photos are all paper, and this spares them the (slow) shrink to 64x64."""
    lo, hi, _, _ = cv2.minMaxLoc(background)
    return lo < 0.5 * hi


def ink_threshold(contrast: np.ndarray) -> int:
    """Otsu's threshold over the pixels that could be ink, kept within fixed bounds (0..255)."""
    lo, hi = int(MIN_CONTRAST * 255), int(MAX_CONTRAST * 255)
    return int(np.clip(_otsu(contrast)[0], lo, hi))


# On a patterned ground (a cheque's security print, a printed texture) writing stands this many
# times above the ground's level at least: the pattern's lines are a few times darker than its
# median. The weak threshold of hysteresis stays this far above it, so no pattern grows into a stroke.
_ABOVE_GROUND = 2.5
_WEAK_ABOVE_GROUND = 2.0


def ink_levels(contrast: np.ndarray) -> tuple[int, int]:
    """The threshold on contrast for sure ink, and the ground's level (0..255).

    The ground's level is the contrast half the pixels reach: 0 on plain paper, where most have
    none, and there the threshold is `ink_threshold`. A patterned ground (a cheque's security
    print) reaches that threshold's upper bound itself: both bounds are raised above the ground.

    >>> stripes = np.zeros((40, 40), np.uint8); stripes[:, ::2] = 60; stripes[10:30, 18:22] = 200
    >>> ink_levels(stripes), ink_threshold(stripes)
    ((120, 60), 60)
    """
    lo, hi = int(MIN_CONTRAST * 255), int(MAX_CONTRAST * 255)
    t, ground = _otsu(contrast)
    return int(np.clip(t, max(lo, _WEAK_ABOVE_GROUND * ground), max(hi, _ABOVE_GROUND * ground))), ground


def _otsu(contrast: np.ndarray) -> tuple[int, int]:
    """Otsu's threshold over the pixels that could be ink (the upper bound when there are
    too few), and the contrast that half of all the pixels reach (0 when below those counted)."""
    lo, hi = int(MIN_CONTRAST * 255), int(MAX_CONTRAST * 255)
    # Only levels above half the floor are counted: a few percent of the pixels, far fewer to
    # count than the whole image (float32 counts, as a histogram of the whole image gave them).
    candidates = contrast[contrast > lo // 2]
    hist = np.bincount(candidates, minlength=256).astype(np.float32)
    total = hist.sum()
    if total < 32:
        return hi, 0
    ground = 0
    if 2 * total > contrast.size:  # half the pixels are among those counted
        ground = _level_reached(hist, contrast.size / 2)
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass / weight
        mean_high = (mass[-1] - mass) / (total - weight)
        between = weight * (total - weight) * (mean_low - mean_high) ** 2
    return int(np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0))), ground


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Binary mask of ink: 255 where there is writing (or any mark), 0 elsewhere.

    >>> page = np.full((60, 60), 200, np.uint8); page[10:50, 28:33] = 40
    >>> m = ink_mask(page); int(m[30, 30]), int(m[5, 5])
    (255, 0)
    """
    return ink_from_contrast(contrast_map(gray))


def ink_from_contrast(contrast: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """`ink_mask` from a `contrast_map` already made.

    `exclude`: pixels (non-zero) left out when the thresholds are chosen, such as a form's
    printed lines, far darker than a pencil's writing: counted, they would set the threshold
    between the two inks, and the writing would come out in specks.
    """
    high, ground = ink_levels(contrast)
    if exclude is not None and not ground:  # (on a patterned ground the pattern sets the levels)
        high, ground = ink_levels(cv2.bitwise_and(contrast, cv2.bitwise_not(exclude)))
    low = min(high, max(int(MIN_CONTRAST * 0.8 * 255), int(high * 0.55), int(_WEAK_ABOVE_GROUND * ground)))
    _, strong = cv2.threshold(contrast, high - 1, 255, cv2.THRESH_BINARY)
    if not cv2.countNonZero(strong):
        return np.zeros_like(contrast)
    _, weak = cv2.threshold(contrast, low - 1, 255, cv2.THRESH_BINARY)
    # Hysteresis, near enough: keep the weak pixels within a few pixels of a strong one.
    near = cv2.dilate(strong, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    mask = cv2.bitwise_and(weak, near)
    # Close pinholes in strokes, as a marker or an uneven pen leaves. A 2x2 kernel has no centre:
    # OpenCV anchors both steps of a closing at its lower right, which moves the whole mask a
    # pixel right and down; eroding from the opposite corner puts it back where the ink is.
    square = np.ones((2, 2), np.uint8)
    return cv2.erode(cv2.dilate(mask, square, anchor=(1, 1)), square, anchor=(0, 0))
