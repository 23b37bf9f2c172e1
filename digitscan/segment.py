"""Find the candidate digits in an ink mask: boxes of pixels that may each be one digit.

Writing is made of connected blobs of ink, but not one blob per digit: rules, grid lines and
form boxes connect to digits, a pen skips and breaks a 5 in two, specks and dashes lie about.
So, in order: measure the typical height of the writing; remove long straight lines, keeping
the strokes of the digits that sit on them, and mend the strokes that crossed them; remove
faint or dashed lines, which the ink mask holds in pieces, and the walls between the boxes of
a comb field (not mended across: two digits touching a wall from either side stay two); strip
the frames of single boxes that digits touch; take connected components, drop what is too
small or too flat to be a digit, and join the pieces of broken strokes. Digits that touch each
other are split later, with the classifier's help (see `digitscan.touching`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .result import Box

MIN_HEIGHT = 9  # pixels of the working image: below this no digit can be read
# A form's field tilted more than this (degrees) against the page, after the page is turned
# level, has its lines and walls looked for along its own tilt: a page that bows, or a photo in
# strong perspective, tilts each field its own way, and no one turn of the page levels them all.
MIN_FIELD_TILT = 1.5
MAX_FIELD_TILT = 15.0  # ...and no more: beyond, a line is some other stroke
# Long lines tilted by at least this much (degrees) both ways, a quarter of them each way at
# least, are those of a page that bows.
BOW_TILT = 2.0
# The tilts (degrees) at which the stretches of bent rules are looked for (see find_bent_lines);
# the level search finds those within 3 degrees.
BENT_SLOPES = (-10.0, -6.5, -3.5, 3.5, 6.5, 10.0)


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (x, y, w, h, area) rows of the 8-connected blobs, background left out.

    The same as OpenCV's connectedComponentsWithStats, about twice as fast on a page, where ink
    is a few percent of the pixels: its statistics pass reads every pixel, this one only the ink.

    >>> m = np.zeros((20, 30), np.uint8); m[2:5, 3:9] = 255; m[10:18, 20:22] = 255
    >>> _components(m)[1].tolist()
    [[3, 2, 6, 3, 18], [20, 10, 2, 8, 16]]
    """
    n, labels = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    stats = np.zeros((n - 1, 5), np.int32)
    if n <= 1:
        return labels, stats
    # The ink's (x, y) in row order; OpenCV finds them twenty times faster than np.nonzero.
    points = cv2.findNonZero(mask).reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    lab = labels[ys, xs]
    order = np.argsort(lab, kind="stable")
    lab, xs, ys = lab[order], xs[order], ys[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    x0, x1 = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts)
    y0, y1 = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    stats[:, 0], stats[:, 1] = x0, y0
    stats[:, 2], stats[:, 3] = x1 - x0 + 1, y1 - y0 + 1
    stats[:, 4] = np.diff(np.r_[starts, len(lab)])
    return labels, stats


def _typical(stats: np.ndarray, image_height: int) -> float:
    if len(stats) == 0:
        return 0.0
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    # Taller than most of the image is a frame or the page's edge; but a tight crop (a cheque's
    # amount field, a form's box) may hold digits taller than half of it.
    ok = (h >= 8) & (h <= 0.85 * image_height) & (w <= 1.5 * h) & (w >= 0.08 * h) & (area >= 20)
    return float(np.median(h[ok])) if ok.any() else 0.0


def typical_height(blobs: tuple[np.ndarray, np.ndarray] | np.ndarray, image_height: int | None = None) -> float:
    """Median height of the blobs shaped like a digit; 0 when there are none.

    Takes a mask, or the (labels, stats) of its blobs and the image's height.

    >>> m = np.zeros((100, 200), np.uint8); m[20:60, 30:50] = 255; m[20:62, 80:100] = 255
    >>> typical_height(m)
    41.0
    """
    if isinstance(blobs, np.ndarray):
        return _typical(_components(blobs)[1], blobs.shape[0])
    return _typical(blobs[1], image_height or 0)


def estimate_skew(
    mask: np.ndarray, blobs: tuple[np.ndarray, np.ndarray] | None = None, max_angle: float = 12.0
) -> float:
    """The tilt of the page in degrees (counter-clockwise positive), from its long lines.

    Rules, underlines and the edges of form boxes are drawn straight; on a tilted photo they
    are the surest measure of the tilt. Returns 0 when there are no long lines to measure.
    `blobs` are the mask's (labels, stats) if already computed.

    >>> m = np.zeros((200, 400), np.uint8)
    >>> _ = cv2.line(m, (20, 120), (380, 120 - int(360 * np.tan(np.deg2rad(5)))), 255, 3)
    >>> round(estimate_skew(m))
    5
    >>> _ = cv2.circle(m, (200, 75), 25, 255, 6)  # a 9 written on the rule does not tilt it
    >>> _ = cv2.line(m, (222, 75), (222, 102), 255, 6)
    >>> round(estimate_skew(m))
    5
    """
    labels, stats = blobs if blobs is not None else _components(mask)
    height = _typical(stats, mask.shape[0]) or 20.0
    long_min = max(40.0, 4 * height)
    angles, weights = [], []
    for i in np.flatnonzero(np.maximum(stats[:, 2], stats[:, 3]) >= long_min):
        x, y, w, h, area = stats[i]
        if area < 20:
            continue
        angle = _line_angle(labels[y : y + h, x : x + w] == i + 1)
        if angle is not None and abs(angle) <= max_angle:
            angles.append(angle)
            weights.append(max(w, h))
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.array(weights)[order])
    ranked = np.array(angles)[order]
    low, high = ranked[np.searchsorted(cum, cum[-1] / 4)], ranked[np.searchsorted(cum, 3 * cum[-1] / 4)]
    if low <= -BOW_TILT and high >= BOW_TILT:
        # A page that bows: its left side's lines tilt one way, its right side's the other. Turned
        # by either side's tilt (the median's), the other side would tilt twice as much: it is
        # turned midway between the two.
        return float((low + high) / 2)
    return float(ranked[np.searchsorted(cum, cum[-1] / 2)])  # weighted median


def _line_angle(blob: np.ndarray) -> float | None:
    """The tilt (degrees, counter-clockwise positive) of a line-like blob's line (a boolean
    image of it), from the top edge of the ink in the columns (rows, for an upright blob) that
    hold the line alone: digits written on a rule add ink to some columns, which are left out,
    and so are the walls of a comb, whose frame's top line then gives the tilt. None when the
    blob is no single line."""
    h, w = blob.shape
    if w < h:  # upright: measure it lying down
        turned = _line_angle(blob.T)
        return None if turned is None else -turned
    slope = _top_edge_slope(blob)
    return None if slope is None else float(np.degrees(np.arctan(-slope)))


def _top_edge_slope(blob: np.ndarray) -> float | None:
    """`_line_angle`'s measure: the slope (rows per column) of the line along the top edge of
    a boolean image's ink, or None when the ink there is no single straight line."""
    h, w = blob.shape
    count = blob.sum(axis=0)
    top = blob.argmax(axis=0)  # the first ink pixel of each column
    typical = float(np.median(count[count > 0]))
    cols = np.flatnonzero((count > 0) & (count <= 1.5 * typical))
    if len(cols) < 0.5 * w or len(cols) < 10:
        return None
    tolerance = max(2.0, 0.01 * w)
    slope, offset = _fit_line(cols, top[cols])
    # Once more without the columns far off the line (a digit's stroke that reached into them).
    near = np.abs(top[cols] - (slope * cols + offset)) <= 2 * tolerance
    if near.sum() < 0.5 * len(cols):
        return None  # several lines (a grid), or a curve
    slope, offset = _fit_line(cols[near], top[cols][near])
    if np.mean(np.abs(top[cols] - (slope * cols + offset)) <= tolerance) < 0.7:
        return None
    return float(slope)


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares slope and offset of y = slope * x + offset (x not all equal): np.polyfit's
    line, without its general machinery, a tenth of the time.

    >>> _fit_line(np.array([0, 1, 2, 3]), np.array([1, 3, 5, 7]))
    (2.0, 1.0)
    """
    x, y = x.astype(np.float64), y.astype(np.float64)
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope, float(y.mean() - slope * x.mean())


def deskew(mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a mask by -`angle` degrees (on a canvas grown to hold all of it).

    Returns the rotated mask and the 2x3 matrix that maps its pixels back to the original's.
    """
    h, w = mask.shape
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    forward[0, 2] += nw / 2 - w / 2
    forward[1, 2] += nh / 2 - h / 2
    rotated = cv2.warpAffine(mask, forward, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
    _, rotated = cv2.threshold(rotated, 63, 255, cv2.THRESH_BINARY)  # low: hairlines stay unbroken
    return rotated, cv2.invertAffineTransform(forward)


def map_box(box: Box, matrix: np.ndarray, width: int, height: int) -> Box:
    """The axis-aligned box, in another image, of a box's corners moved by a 2x3 matrix."""
    corners = np.array([[box.x, box.y, 1], [box.x2, box.y, 1], [box.x, box.y2, 1], [box.x2, box.y2, 1]], np.float64)
    pts = corners @ matrix.T
    x1, y1 = np.clip(pts.min(axis=0), 0, [width, height])
    x2, y2 = np.clip(pts.max(axis=0), 0, [width, height])
    return Box(int(np.floor(x1)), int(np.floor(y1)), max(1, int(np.ceil(x2 - x1))), max(1, int(np.ceil(y2 - y1))))


def level_blob(roi: np.ndarray, frame: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """A blob's box of the mask sheared so that its lines run level and its walls upright, and
    the 2x3 matrix that shears it; None when its lines are level already (within
    MIN_FIELD_TILT degrees), tilted more than MAX_FIELD_TILT, or holds no line to measure. The
    blob's top edge is its top line: a blob taller than wide is measured only if it is a `frame`
    (a box round one digit).

    Shears, not a turn: a page that bows tilts its lines and leaves its walls upright, and
    perspective tilts the two by different angles.

    A comb whose lines fall 1 in 10 and whose walls stand upright: no row holds a long run of
    its ink, until it is levelled; then its two lines do, and its walls are still upright.

    >>> m = np.zeros((90, 200), np.uint8)
    >>> for x in (10, 60, 110, 160):
    ...     _ = cv2.line(m, (x, 10 + x // 10), (x, 50 + x // 10), 255, 2)
    >>> _ = cv2.line(m, (10, 11), (160, 26), 255, 2); _ = cv2.line(m, (10, 51), (160, 66), 255, 2)
    >>> level_rows = lambda image: int(np.count_nonzero((image > 0).sum(axis=1) > 120))
    >>> upright_columns = lambda image: int(np.count_nonzero((image > 0).sum(axis=0) >= 38))
    >>> image, matrix = level_blob(m)
    >>> level_rows(m), level_rows(image) >= 2, upright_columns(image) >= 4
    (0, True, True)
    """
    h, w = roi.shape
    slope = _top_edge_slope(roi > 0) if w >= h or frame else None
    if not _field_tilt(slope):
        return None
    image, level = _shear_rows(roi, slope)
    tall = image.shape[0]
    # The walls, measured on the level copy along its left and right edges (the top edge lying
    # down), which must agree: a digit that crosses one reaches out past it. A turn of the whole
    # page leans the walls of a field that the page's bow had left upright. (Between the top and
    # bottom lines, a sixth of the way in from each: where they round off, the edges are theirs.)
    rows = np.flatnonzero(image.any(axis=1))
    top, foot = int(rows[0]), int(rows[-1]) + 1
    inset = (foot - top) // 6
    sides = image[top + inset : foot - inset] > 0
    left, right = _top_edge_slope(sides.T), _top_edge_slope(sides[:, ::-1].T)
    lean = None
    if left is not None and right is not None and abs(left + right) <= np.tan(np.radians(1)):
        lean = (left - right) / 2
    if not _field_tilt(lean):
        return image, level[:2]
    upright = np.array([[1, -lean, max(0.0, lean * tall)], [0, 1, 0], [0, 0, 1]]) @ level
    wide = w + int(np.ceil(abs(lean) * tall)) + 1
    return cv2.warpAffine(roi, upright[:2], (wide, tall), flags=cv2.INTER_NEAREST, borderValue=0), upright[:2]


def _field_tilt(slope: float | None) -> bool:
    """Is a slope (rows per column) one that `level_blob` levels: MIN_FIELD_TILT to MAX_FIELD_TILT?"""
    return slope is not None and np.tan(np.radians(MIN_FIELD_TILT)) <= abs(slope) <= np.tan(np.radians(MAX_FIELD_TILT))


def _shear_rows(image: np.ndarray, slope: float) -> tuple[np.ndarray, np.ndarray]:
    """The image with each column moved up by `slope` times its x, on a canvas tall enough:
    lines falling `slope` rows a column run level. Returns it and the 3x3 matrix that did it."""
    h, w = image.shape
    matrix = np.array([[1, 0, 0], [-slope, 1, max(0.0, slope * w)], [0, 0, 1]])
    tall = h + int(np.ceil(abs(slope) * w)) + 1
    return cv2.warpAffine(image, matrix[:2], (w, tall), flags=cv2.INTER_NEAREST, borderValue=0), matrix


def _partly_thin(roi: np.ndarray, height: float) -> bool:
    """Do a third of a blob's columns hold only a thin stroke, as a printed line's do (digits
    standing on part of it), and those of digits written touching do not (a few percent)?"""
    count = np.count_nonzero(roi, axis=0)
    return int(np.count_nonzero((count > 0) & (count <= max(3.0, 0.15 * height)))) >= 0.3 * roi.shape[1]


def find_bent_lines(mask: np.ndarray, found: np.ndarray, min_length: int, height: float) -> np.ndarray:
    """The stretches of lines tilted 1.5-15 degrees that the level search left (`found`, what it
    found) in a blob of lines: on a page that bows, its rules bend, and each stretch of them
    tilts its own way. Looked for only when what is left holds such a stretch (see
    `_tilted_line`) as long as a line."""
    rest = cv2.subtract(mask, cv2.dilate(found, np.ones((3, 3), np.uint8)))
    bent = np.zeros_like(mask)
    if _longest_run(np.count_nonzero(rest, axis=0) > 0) < min_length:
        return bent  # no run of inked columns as long as a line: nothing left as long (a field's walls)
    if not any(bw >= min_length and _tilted_line(rest[y : y + bh, x : x + bw], height)
               for x, y, bw, bh, _ in _components(rest)[1]):
        return bent
    for degrees in BENT_SLOPES:
        # (In the whole blob: a stretch may run on into the part found level.)
        image, matrix = _shear_rows(mask, float(np.tan(np.radians(degrees))))
        stretch = find_lines(image, min_length, (True,))
        if stretch.any():
            bent |= unlevel(stretch, matrix[:2], mask)
    return bent


def _tilted_line(piece: np.ndarray, height: float) -> bool:
    """Is what is left of a blob a stretch of line tilted 1.5-15 degrees (MIN_FIELD_TILT to
    MAX_FIELD_TILT): thin in a third of its columns, and straight along its top or bottom edge
    (digits may stand on it, or hang from it)? A digit's long stroke, the bar of a 4 run into
    the 0 beside it, is neither."""
    if not _partly_thin(piece, height):
        return False
    ink = piece > 0
    # (Its bottom edge too: digits stand on a rule.)
    return _field_tilt(_top_edge_slope(ink)) or _field_tilt(_top_edge_slope(ink[::-1]))


def _longest_run(on: np.ndarray) -> int:
    """The length of the longest run of True in a 1-D boolean array.

    >>> _longest_run(np.array([1, 1, 0, 1, 1, 1, 0], bool)), _longest_run(np.zeros(3, bool))
    (3, 0)
    """
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def unlevel(found: np.ndarray, matrix: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """What was found on `level_blob`'s copy, back in the blob's box (its ink only).

    A pixel sheared there and back may land one pixel beside where it was: grown by that pixel,
    nothing found is left behind as a sliver along a wall (which reads as a 1, or joins the digit
    beside it)."""
    return cv2.dilate(_shear_back(found, matrix, roi.shape), np.ones((3, 3), np.uint8)) & roi


def _shear_back(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An image made by `level_blob` (or `_shear_rows`) with `matrix`, back in a box of `shape`."""
    h, w = shape
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)


def _line_kernel(length: int, horizontal: bool) -> np.ndarray:
    # Of odd length: an even one has its anchor off centre, and an opening with it loses a
    # pixel at one end of what it keeps.
    length = int(length) | 1
    return cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if horizontal else (1, length))


def _pool_along(mask: np.ndarray, factor: int, horizontal: bool) -> np.ndarray:
    """The mask shrunk `factor` times along rows (columns, if not `horizontal`): a pixel is set
    when any of the pixels it stands for is. Long kernels cost in proportion to their length:
    lines are looked for at this size, exactly across them."""
    if factor == 1:
        return mask
    h, w = mask.shape
    if horizontal:
        padded = cv2.copyMakeBorder(mask, 0, 0, 0, -w % factor, cv2.BORDER_CONSTANT, value=0)
        small = cv2.resize(padded, (padded.shape[1] // factor, h), interpolation=cv2.INTER_AREA)
    else:
        padded = cv2.copyMakeBorder(mask, 0, -h % factor, 0, 0, cv2.BORDER_CONSTANT, value=0)
        small = cv2.resize(padded, (w, padded.shape[0] // factor), interpolation=cv2.INTER_AREA)
    return cv2.threshold(small, 0, 255, cv2.THRESH_BINARY)[1]


def _unpool_along(small: np.ndarray, factor: int, horizontal: bool, shape: tuple[int, int]) -> np.ndarray:
    """Undo `_pool_along`: each pixel back to the `factor` pixels it stands for."""
    if factor == 1:
        return small
    h, w = shape
    if horizontal:
        return cv2.resize(small, (small.shape[1] * factor, h), interpolation=cv2.INTER_NEAREST)[:, :w]
    return cv2.resize(small, (w, small.shape[0] * factor), interpolation=cv2.INTER_NEAREST)[:h]


def _open(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    # Nothing beyond the image's edge counts as ink: a line must be long within the image.
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def find_lines(mask: np.ndarray, min_length: int, directions: tuple[bool, ...] = (True, False),
               askew: bool = False) -> np.ndarray:
    """Mask of the straight horizontal and vertical runs of ink at least `min_length` long.

    A thin rule photographed a little askew steps from one pixel row to the next, so runs are
    looked for on a copy thickened across the line by two pixels each way. Of the ink in that
    band, only the line's own is kept: not the strokes of a digit that sits on the line, hangs
    from it or runs beside it. (Where a stroke crosses a line, the line's pixels are taken
    out with it: `remove_lines` mends the stroke.)

    `askew`: look for lines up to 3 degrees askew too, as the rules and grid of a whole page
    seen at an angle are at its far side.
    """
    min_length = max(3, int(min_length))
    factor = max(1, min(4, min_length // 24))
    # How far across a line 3 degrees askew wanders over `min_length`.
    reach = min_length // 20 * 2 + 1
    lines = np.zeros_like(mask)
    for horizontal in directions:
        small = _pool_along(mask, factor, horizontal)
        along = _line_kernel(min_length // factor, horizontal)
        band = _open(cv2.dilate(small, _line_kernel(5, not horizontal)), along) & small
        if askew and reach > 5:
            # Lines more askew are found on a copy thickened further; not beside the lines found
            # already, with which the digits standing on them would make long runs.
            rest = cv2.subtract(small, cv2.dilate(band, _line_kernel(3, not horizontal)))
            band |= _open(cv2.dilate(rest, _line_kernel(reach, not horizontal)), along) & rest
        # The line's own rows (columns) hold long runs unbroken; a digit touching it does not,
        # beyond the row next to the line. (Joined with their neighbours on either side, the
        # rows of a line a little askew still hold long runs between its steps.)
        step = _line_kernel(3, not horizontal)
        core = _open(cv2.dilate(band, step), _line_kernel(max(3, min_length // (4 * factor)), horizontal)) & band
        lines |= _unpool_along(core, factor, horizontal, mask.shape) & mask
    return lines


def _many_dashes(stats: np.ndarray, height: float, enough: int = 12) -> bool:
    """Are there many thin, straight bits of ink, as a faint or dashed rule or grid leaves?"""
    thin = max(3, int(round(0.12 * height)))
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    dashes = ((w <= thin) & (h > thin + 1)) | ((h <= thin) & (w > thin + 1))
    return int(np.count_nonzero(dashes)) >= enough


def find_dashed_lines(mask: np.ndarray, height: float, min_length: int) -> np.ndarray:
    """Mask of the lines that the ink mask holds in pieces: faint rules and grids, whose ink is
    near the threshold, and dashed ones. Thin straight pieces that follow each other on one row
    (column), with gaps up to twice a digit's height, are one line when they go on far enough.
    Only those pieces are taken out: a digit crossing the line keeps its strokes.
    """
    thin_max = max(3, int(round(0.12 * height)))
    gap = max(5, int(2 * height)) | 1
    lines = np.zeros_like(mask)
    for horizontal in (True, False):
        # Thin across, as a printed line is and the strokes of most digits are not.
        thick = _open(mask, _line_kernel(thin_max + 1, not horizontal))
        pieces = _open(cv2.subtract(mask, thick), _line_kernel(max(3, thin_max // 2), horizontal))
        # Chained within a pixel's step either way, for a line a little askew; at a reduced size
        # along the line, where the long kernels cost less.
        factor = max(1, min(8, gap // 8))
        small = cv2.dilate(_pool_along(pieces, factor, horizontal), _line_kernel(3, not horizontal))
        chain = cv2.morphologyEx(small, cv2.MORPH_CLOSE, _line_kernel(max(3, gap // factor), horizontal))
        chain = _open(chain, _line_kernel(min_length // factor, horizontal))
        chain = _unpool_along(chain, factor, horizontal, mask.shape)
        lines |= chain & pieces
    return lines


def remove_lines(mask: np.ndarray, lines: np.ndarray, stroke: int) -> np.ndarray:
    """Take `lines` out of the mask, then mend the strokes that crossed them.

    Where a digit's stroke crossed a line, removing the line leaves a gap as wide as the line;
    closing the remaining ink across the line (and only there) bridges it again. Only across:
    closing along a line would join two digits that merely stand on it side by side.
    """
    rest = cv2.subtract(mask, lines)
    if not lines.any():
        return rest
    span = max(3, 2 * stroke + 3)
    # Which way each line runs: a removed pixel is mended across the line it belongs to.
    upright = cv2.morphologyEx(lines, cv2.MORPH_OPEN, _line_kernel(3 * span, horizontal=False))
    level = cv2.subtract(lines, upright)

    def close(kernel: np.ndarray) -> np.ndarray:
        # Nothing beyond the edge of the image counts as ink: the image may be a blob's box.
        return cv2.morphologyEx(rest, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)

    down = close(_line_kernel(span, horizontal=False))
    side = close(_line_kernel(span, horizontal=True))
    # A slanting stroke leaves the line at a step aside from where it came in: bridge that too,
    # on the diagonals, which cross a line of either way.
    diagonal = np.eye(span, dtype=np.uint8)
    slant = close(diagonal) | close(diagonal[::-1].copy())
    mended = (down & level) | (side & upright) | (slant & lines)
    return rest | mended


def _line_thickness(lines: np.ndarray) -> float:
    """How thick the horizontal lines in `lines` are: the ink of each column over the number of
    lines crossing it (inf when there are none). Every eighth column is enough to tell."""
    on = lines[:, ::8] > 0
    counts = np.count_nonzero(on, axis=0)
    crossings = np.count_nonzero(on[1:] & ~on[:-1], axis=0) + on[0]
    some = crossings > 0
    return float(np.median(counts[some] / crossings[some])) if some.any() else float("inf")


def find_walls(mask: np.ndarray, lines: np.ndarray, height: float) -> np.ndarray:
    """The walls between the cells of a comb field, and the short sides of boxes: vertical lines
    too short to be found as long lines, that stand on a long horizontal line at their foot and
    reach one at their top. A digit touching one line does not reach the other.

    `lines` holds the long lines already found; `height` is the writing's typical height.
    """
    runs = find_lines(mask, int(0.9 * height), directions=(False,))
    if not runs.any():
        return runs
    labels, stats = _components(runs)
    # A wall is drawn as thick as the lines it joins (a pen's 1 between the lines of a grid is
    # thicker); the lines of one blob are printed alike.
    widest = min(max(3.0, 0.25 * height), _line_thickness(lines) + 1)
    walls = np.zeros_like(mask)  # the columns inked from end to end
    edges = np.zeros_like(mask)  # a column either side of them
    for k, (x, y, w, h, _) in enumerate(stats, start=1):
        # Looked for beside the run too: where they meet, the pixels are the wall's, not the line's.
        top = lines[max(0, y - 3) : y + 4, max(0, x - 4) : x + w + 4].any()
        foot = lines[max(0, y + h - 4) : y + h + 3, max(0, x - 4) : x + w + 4].any()
        if not (top and foot):
            continue
        run = labels[y : y + h, x : x + w] == k
        # A digit touching the wall joins its run: the wall is only the columns inked nearly from
        # end to end (and one beside them, for a wall a little askew). A digit standing on a line
        # reaches up from it, but not as far as the line above.
        core = np.count_nonzero(run, axis=0) >= 0.85 * h
        if not core.any():
            continue
        near = cv2.dilate(core.astype(np.uint8)[None], np.ones((1, 3), np.uint8))[0] > 0
        wall = run & near[None, :]
        # Its thickness away from its ends, where the lines it meets widen it.
        if np.median(np.count_nonzero(wall[h // 4 : h - h // 4], axis=1)) <= widest:
            walls[y : y + h, x : x + w][run & core[None, :]] = 255
            edges[y : y + h, x : x + w][wall & ~core[None, :]] = 255
    if not edges.any():
        return walls
    # The column beside a wall may be a digit's that touches it: kept where ink runs on sideways
    # from it, once the lines are gone. (Not the wall itself: two digits touching it from either
    # side would be one blob.)
    sideways = _open(cv2.subtract(mask, lines | walls), _line_kernel(3, horizontal=True))
    return walls | cv2.subtract(edges, sideways)


def _may_be_frame(roi: np.ndarray) -> bool:
    """Quick test: do at least three edges of this box hold a long run of ink?"""
    h, w = roi.shape
    # Thickened across, so that a frame edge a little askew still fills one row (column).
    rows = np.count_nonzero(cv2.dilate(roi, np.ones((3, 1), np.uint8)), axis=1)
    cols = np.count_nonzero(cv2.dilate(roi, np.ones((1, 3), np.uint8)), axis=0)
    bh, bw = max(1, h // 4), max(1, w // 4)
    edges = (rows[:bh].max() / w, rows[-bh:].max() / w, cols[:bw].max() / h, cols[-bw:].max() / h)
    return sum(int(e >= 0.5) for e in edges) >= 3


def _straight_runs(comp: np.ndarray, length: int, horizontal: bool) -> np.ndarray:
    """The ink of `comp` in straight runs at least `length` long (askew by a pixel at most)."""
    return _open(cv2.dilate(comp, _line_kernel(3, not horizontal)), _line_kernel(max(3, length), horizontal)) & comp


def _frame_lines(comp: np.ndarray) -> tuple[np.ndarray, int]:
    """The straight lines along the edges of a blob's box, and how many of its sides they draw
    (a form box has 3-4). A side must run most of the box's length: the curves of a bold 0 or 8
    are flat for a part of it only. (A digit poking out of the box makes the blob larger than
    the box: hence not all of it.)
    """
    h, w = comp.shape
    across = _straight_runs(comp, int(0.7 * w), horizontal=True)
    down = _straight_runs(comp, int(0.7 * h), horizontal=False)
    bh, bw = max(1, h // 4), max(1, w // 4)
    sides = (int(across[:bh].any()) + int(across[h - bh :].any())
             + int(down[:, :bw].any()) + int(down[:, w - bw :].any()))
    lines = across | down
    # Only lines along the box's edges belong to the frame, not strokes inside it.
    by, bx = max(1, h // 5), max(1, w // 5)
    lines[by : h - by, bx : w - bx] = 0
    return lines, sides


def _closed_corners(comp: np.ndarray) -> bool:
    """Is there ink at all four corners of a box (within a tenth of its size, 2 pixels at least)?
    (The box of a blob in the mask: another blob's ink there counts too, and the frame tests that
    follow judge the blob alone.)"""
    h, w = comp.shape
    ch, cw = max(2, h // 10), max(2, w // 10)
    return all(comp[rows, cols].any() for rows in (slice(0, ch), slice(h - ch, h)) for cols in (slice(0, cw), slice(w - cw, w)))


def strip_frames(mask: np.ndarray, height: float, labels: np.ndarray, stats: np.ndarray) -> np.ndarray | None:
    """Remove the outlines of boxes (form fields) from the mask, keeping what is written in them.

    Returns the new mask, or None when no blob was a frame.
    """
    out = None
    # A box is drawn larger than the writing it is made for. But on a page of boxes each holding
    # a digit that touches it, the writing's height measured is the boxes' own: a blob of about
    # that size is a box too when it is closed, ink in all four corners (a bold 0 is round there).
    min_side = max(12, 1.05 * height) if height else 12
    least = max(12, 0.6 * height) if height else 12
    big = np.flatnonzero((stats[:, cv2.CC_STAT_WIDTH] >= least) & (stats[:, cv2.CC_STAT_HEIGHT] >= least))
    for i in big:
        x, y, w, h, _ = stats[i]
        if w > 12 * h or (min(w, h) < min_side and not _closed_corners(mask[y : y + h, x : x + w])):
            continue
        comp = np.where(labels[y : y + h, x : x + w] == i + 1, 255, 0).astype(np.uint8)
        # A box tilted its own way (on a page that bows) is taken out level, where the strokes
        # that touched it are mended across it, and what is left is sheared back.
        level = level_blob(comp, frame=True)
        if not (_may_be_frame(mask[y : y + h, x : x + w]) or (level is not None and _may_be_frame(level[0]))):
            continue
        lines, sides = _frame_lines(comp if level is None else level[0])
        if sides < 3:
            continue
        stroke = max(1, int(round(_stroke(lines))))
        if level is None:
            cleaned = remove_lines(comp, lines, stroke)
        else:
            cleaned = _shear_back(remove_lines(level[0], lines, stroke), level[1], comp.shape)
        if out is None:
            out = mask.copy()
        view = out[y : y + h, x : x + w]
        view[comp > 0] = cleaned[comp > 0]
    return out


def _stroke(mask: np.ndarray) -> float:
    area = np.count_nonzero(mask)
    if not area:
        return 1.0
    edges = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    # (No wider than half the mask: a mask all ink has no edge inside it, and a kernel built
    # from its "stroke" would be wider than memory.)
    return min(max(1.0, 4.0 * area / max(1, int(np.count_nonzero(edges)))), max(1.0, min(mask.shape) / 2))


class Field(NamedTuple):
    """A field of a form: its box, whether it is a comb (one digit a cell), and a comb's cells
    walled on both sides (their left and right x; not the stubs beyond the outer walls)."""

    box: Box
    comb: bool
    cells: tuple[tuple[int, int], ...] = ()


@dataclass
class Segmentation:
    """The cleaned ink mask and what was learned cleaning it."""

    mask: np.ndarray  # ink without rules, grid lines and frames
    height: float  # typical height of the writing, 0 if unknown
    lines: np.ndarray  # the long lines that were removed
    stats: np.ndarray  # blobs of `mask`: rows of (x, y, w, h, area)
    original: tuple[np.ndarray, np.ndarray]  # (labels, stats) of the mask before cleaning


def find_blobs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask's connected blobs: a label image and rows of (x, y, w, h, area)."""
    return _components(mask)


def _rings(labels: np.ndarray, stats: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The blobs drawn round others: a ring or an oval round a number (a mark circled on an
    exam paper). Such a blob is hollow, holds in its box, clear of its edges, a blob at least a
    fifth and at most two thirds as tall, lies all along the outline of its convex hull (a piece
    of a grid does not), and leaves its box's corners empty (a printed box fills them: frames
    are `strip_frames`' to take away, with care for the digits touching them).

    >>> m = np.zeros((120, 200), np.uint8)
    >>> _ = cv2.ellipse(m, (100, 60), (90, 50), 0, 0, 360, 255, 3); m[40:80, 90:105] = 255
    >>> [c for c, _ in _rings(*_components(m))]
    [0]
    >>> _ = cv2.rectangle(m, (5, 5), (195, 115), 255, 3)
    >>> [c for c, _ in _rings(*_components(m))]
    []

    A long oval round a long number, straight along its sides, is a ring too:

    >>> m = np.zeros((120, 400), np.uint8); m[40:80, 190:205] = 255
    >>> _ = cv2.ellipse(m, (60, 60), (50, 50), 0, 90, 270, 255, 3)  # the round ends
    >>> _ = cv2.ellipse(m, (340, 60), (50, 50), 0, -90, 90, 255, 3)
    >>> _ = cv2.line(m, (60, 10), (340, 10), 255, 3); _ = cv2.line(m, (60, 110), (340, 110), 255, 3)
    >>> [c for c, _ in _rings(*_components(m))]
    [0]
    """
    if len(stats) < 2:
        return []
    x, y, w, h, area = (stats[:, k].astype(np.int64) for k in range(5))
    x2, y2 = x + w, y + h
    out = []
    for c in np.flatnonzero((area < 0.25 * w * h) & (h >= 30) & (w >= 30)):
        mx, my = max(2, w[c] // 20), max(2, h[c] // 20)
        inside = ((x >= x[c] + mx) & (y >= y[c] + my) & (x2 <= x2[c] - mx) & (y2 <= y2[c] - my)
                  & (5 * h >= h[c]) & (3 * h <= 2 * h[c]))
        if not inside.any():
            continue
        cw = ch = max(1, min(w[c], h[c]) // 10)  # square: the round ends of a long oval leave them empty too
        box = labels[y[c] : y2[c], x[c] : x2[c]] == c + 1
        corners = (box[:ch, :cw].sum() + box[:ch, -cw:].sum() + box[-ch:, :cw].sum() + box[-ch:, -cw:].sum())
        if corners > 0.02 * 4 * cw * ch:
            continue
        # All of it near the outline of its convex hull: one loop round, not a piece of a grid.
        ys, xs = np.nonzero(box)
        band = np.zeros(box.shape, np.uint8)
        reach = max(2, int(0.12 * min(w[c], h[c])))
        cv2.polylines(band, [cv2.convexHull(np.column_stack([xs, ys]).astype(np.int32))], True, 1, 2 * reach)
        if band[ys, xs].mean() >= 0.9:
            out.append((int(c), band))
    return out


def clean_mask(mask: np.ndarray, blobs: tuple[np.ndarray, np.ndarray] | None = None) -> Segmentation:
    """Remove rules, grid lines and frames from an ink mask, and measure the writing.

    `blobs` are the mask's `find_blobs`, if already computed.
    """
    labels, stats = blobs if blobs is not None else _components(mask)
    rings = _rings(labels, stats)
    if rings:
        # A ring drawn round a number is no writing, and would pass for rules and frames. Only
        # the ink along its outline goes: a digit that touches it keeps what lies inside.
        mask = mask.copy()
        for c, band in rings:
            x, y, w, h = (int(v) for v in stats[c, :4])
            mask[y : y + h, x : x + w][(labels[y : y + h, x : x + w] == c + 1) & (band > 0)] = 0
        labels, stats = _components(mask)
    original = (labels, stats)
    height = _typical(stats, mask.shape[0])
    cleaned, lines = _remove_lines(mask, stats, height)
    if lines.any():
        labels, stats = _components(cleaned)
        # Removing lines can reveal the writing's true height: measure again. When all the digits
        # touched the rules, only their pieces were blobs of their own, and the lines were looked
        # for with a height far too small: look again.
        measured = _typical(stats, mask.shape[0])
        if height and measured > 1.5 * height:
            cleaned, lines = _remove_lines(mask, original[1], measured)
            labels, stats = _components(cleaned)
            measured = _typical(stats, mask.shape[0])
        height = measured or height
    framed = strip_frames(cleaned, height, labels, stats)
    if framed is not None:
        cleaned = framed
        labels, stats = _components(cleaned)
        height = _typical(stats, mask.shape[0]) or height
    return Segmentation(cleaned, height, lines, stats, original)


def _remove_lines(mask: np.ndarray, stats: np.ndarray, height: float) -> tuple[np.ndarray, np.ndarray]:
    """The mask without its long lines, dashed lines and the walls between boxes, the strokes
    that crossed them mended; and the lines and walls taken out. `stats` are the mask's blobs,
    `height` the writing's typical height (0 if unknown)."""
    long_line = max(40, int(2 * height if height else max(mask.shape) / 8))
    # Upright, a 1 is as long as a digit is high: upright lines must be longer.
    long_upright = 3 * long_line // 2
    lines = np.zeros_like(mask)
    # A long line belongs to a blob at least as long: look for lines in those blobs only.
    long_blobs = [np.s_[y : y + h, x : x + w]
                  for x, y, w, h, _ in stats[(stats[:, 2] >= long_line) | (stats[:, 3] >= long_upright)]]
    # Without writing to measure (a blank field, or digits all joined to its frame), the sides of
    # a frame are still walls, looked for as if the writing were 20 pixels high: too short to be
    # found as long lines, they would be left standing as 1s.
    wall_height = height or 20.0
    walls_of: dict[int, np.ndarray] = {}  # the walls of the blobs whose lines were found level
    for k, roi in enumerate(long_blobs):
        # A blob across most of the page is its ruling or grid, whose lines may be askew.
        askew = mask[roi].shape[0] > mask.shape[0] / 2 and mask[roi].shape[1] > mask.shape[1] / 2
        # Another (a form's field) may be tilted its own way: it is searched level.
        level = None if askew else level_blob(mask[roi])
        if level is None:
            straight = find_lines(mask[roi], long_line, (True,), askew) | find_lines(mask[roi], long_upright, (False,), askew)
            lines[roi] |= straight | find_bent_lines(mask[roi], straight, long_line, height)
            continue
        image, matrix = level
        found = find_lines(image, long_line, (True,)) | find_lines(image, long_upright, (False,))
        if found.any():
            lines[roi] |= unlevel(found, matrix, mask[roi])
            walls_of[k] = unlevel(find_walls(image, found, wall_height), matrix, mask[roi])
    dashed = bool(height) and _many_dashes(stats, height)
    if dashed:
        lines |= find_dashed_lines(mask, height, max(long_line, int(4 * height)))
    if not lines.any():
        return mask, lines
    walls = None
    if long_blobs:
        # The walls of a form's boxes are joined to its lines: they are in the same blobs.
        walls = np.zeros_like(mask)
        for k, roi in enumerate(long_blobs):
            walls[roi] |= walls_of[k] if k in walls_of else find_walls(mask[roi], lines[roi], wall_height)
        # Taken out, but not mended across: a digit touching a wall from each side is two digits.
        mask = cv2.subtract(mask, walls)
    else:
        mask = mask.copy()
    stroke = max(1, int(round(_stroke(lines))))
    for roi in long_blobs if not dashed else [np.s_[:, :]]:
        if lines[roi].any():
            mask[roi] = remove_lines(mask[roi], lines[roi], stroke)
    return mask, lines if walls is None else lines | walls


def find_fields(lines: np.ndarray, height: float) -> list[Field]:
    """The fields of a form, from the lines taken out of the mask: each meant for one number.

    A frame of lines one to three digits high is a field, or a row of them: its upright walls
    divide it into cells. Cells mostly about one digit wide (a comb, one digit a cell) make one
    field together; wider cells (a table's, or a box for a whole amount) are fields of their
    own. Whole-page grids and single rules are no fields.

    >>> lines = np.zeros((60, 300), np.uint8)
    >>> lines[10:12, 10:102] = lines[48:50, 10:102] = 255  # a comb of three cells
    >>> lines[10:12, 130:290] = lines[48:50, 130:290] = 255  # a row of two wide cells
    >>> for x in (10, 40, 70, 100, 130, 210, 288): lines[10:50, x : x + 2] = 255
    >>> for f in find_fields(lines, 30.0): print(tuple(f.box), f.comb, f.cells)
    (10, 10, 92, 40) True ((12, 40), (42, 70), (72, 100))
    (130, 10, 82, 40) False ()
    (210, 10, 80, 40) False ()
    >>> lines[25:35, 40:42] = 0  # a digit written across a wall of the comb
    >>> [tuple(f.box) for f in find_fields(lines, 30.0)]
    [(10, 10, 92, 40), (130, 10, 82, 40), (210, 10, 80, 40)]
    """
    if not height or not cv2.countNonZero(lines):
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    wide = 1.6 * height
    fields: list[Field] = []
    for k in range(1, n):
        x, y, w, h, _ = (int(v) for v in stats[k])
        if not 0.9 * height <= h <= 3.2 * height or w > 0.9 * lines.shape[1]:
            continue
        # Walls: columns that are line over (nearly) all the middle half of the frame's height.
        band = labels[y + h // 4 : y + 3 * h // 4, x : x + w] == k
        upright = np.flatnonzero(band.mean(axis=0) >= 0.9)
        if not len(upright):
            continue
        starts = np.flatnonzero(np.diff(upright, prepend=-2) > 1)
        walls = [(int(upright[i]), int(upright[j - 1])) for i, j in zip(starts, [*starts[1:], len(upright)])]
        # Cells between the walls, and the stubs of cells beyond the first and last walls
        # (between a wall and the frame's edge, marked None: no wall there).
        edges: list[tuple[int, int] | None] = [None, *walls, None]
        cells = []
        for left, right in zip(edges, edges[1:]):
            start = left[1] + 1 if left else 0
            end = right[0] if right else w
            if end > start:
                cells.append((start, end, left, right))
        if not cells:
            continue
        if np.median([end - start for start, end, _, _ in cells]) <= wide:
            # A comb: one field, also where a digit written across a wall hid it.
            walled = tuple((x + a, x + b) for a, b, left, right in cells if left and right)
            fields.append(Field(Box(x, y, w, h), comb=True, cells=walled))
            continue
        for start, end, left, right in cells:
            if end - start > wide and left and right:  # a wide cell, walled on both sides
                fields.append(Field(Box(x + left[0], y, right[1] + 1 - left[0], h), comb=False))
    return sorted(fields, key=lambda f: (f.box.y, f.box.x))


def field_index(box: Box, fields: list[Field]) -> int | None:
    """Index of the (smallest) field that holds the middle of a box, or None.

    >>> field_index(Box(20, 10, 10, 20), [Field(Box(0, 0, 100, 40), False), Field(Box(10, 5, 30, 30), True)])
    1
    """
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    inside = [i for i, (f, _, _) in enumerate(fields) if f.x <= cx < f.x2 and f.y <= cy < f.y2]
    return min(inside, key=lambda i: fields[i].box.w * fields[i].box.h) if inside else None


def in_one_cell(box: Box, fields: list[Field]) -> bool:
    """The box is written in one cell of a comb (one digit a cell): most of its width lies in a
    cell no wider than the comb's cells mostly are (a wall a digit hid makes a cell of two).

    >>> comb = Field(Box(0, 0, 90, 40), True, ((2, 30), (32, 60), (62, 90)))
    >>> in_one_cell(Box(34, 5, 24, 30), [comb]), in_one_cell(Box(20, 5, 30, 30), [comb])
    (True, False)
    """
    i = field_index(box, fields)
    if i is None or not fields[i].comb:
        return False
    cells = fields[i].cells
    if not cells:
        return False
    usual = float(np.median([b - a for a, b in cells]))
    return any(b - a <= 1.3 * usual and min(b, box.x2) - max(a, box.x) >= 0.75 * box.w for a, b in cells)


def _touching_lines_both_ends(box: Box, lines: np.ndarray) -> bool:
    x, y, w, h = box
    top = lines[max(0, y - 2) : y + 2, max(0, x - 4) : x + w + 4]
    bottom = lines[y + h - 2 : y + h + 2, max(0, x - 4) : x + w + 4]
    return bool(top.any() and bottom.any())


def _along_upright_line(box: Box, lines: np.ndarray) -> bool:
    """A removed upright line runs beside the box (within 4 px of a side) along most of its height.

    >>> lines = np.zeros((60, 60), np.uint8); lines[:, 20] = 255
    >>> _along_upright_line(Box(21, 10, 5, 20), lines), _along_upright_line(Box(40, 10, 5, 20), lines)
    (True, False)
    """
    x, y, w, h = box
    for lo, hi in ((max(0, x - 4), x + 2), (max(0, x + w - 2), x + w + 4)):
        side = lines[y : y + h, lo:hi]
        if side.size and np.count_nonzero(side.any(axis=1)) >= 0.8 * h:
            return True
    return False


def find_candidates(seg: Segmentation) -> list[Box]:
    """Boxes of the blobs that may be digits, broken strokes joined, specks and dashes dropped.

    Thin vertical bars standing between two removed lines are box separators, not 1s.
    """
    return sort_blobs(seg)[0]


def cut_off_by_frame(box: Box, width: int, height: int, ref: float) -> bool:
    """A blob on the photo's edge that is no whole digit: the edge of the page, the table around
    it, or writing the frame of the photo cuts off.

    >>> cut_off_by_frame(Box(0, 40, 4, 60), 200, 200, 40.0), cut_off_by_frame(Box(80, 40, 30, 40), 200, 200, 40.0)
    (True, False)
    >>> cut_off_by_frame(Box(1, 10, 5, 24), 150, 45, 24.0)  # a 1 a pixel clear of a tight crop's edge
    False
    """
    near = box.x <= 1 or box.y <= 1 or box.x2 >= width - 1 or box.y2 >= height - 1
    if near and (box.w > 2.5 * ref or box.h > 2.5 * ref or box.h < 0.8 * ref):
        return True
    # A sliver of a digit the frame cuts off touches the frame; a 1 written close to the edge of
    # a tight crop (an amount field) may stand a pixel clear of it.
    touching = box.x <= 0 or box.y <= 0 or box.x2 >= width or box.y2 >= height
    return touching and box.w < 0.4 * box.h


def sort_blobs(seg: Segmentation) -> tuple[list[Box], list[Box]]:
    """The candidate digits, and the small marks (possible separators), among the blobs."""
    stats = seg.stats
    if len(stats) == 0:
        return [], []
    ref = seg.height or max(10.0, float(np.median(stats[:, cv2.CC_STAT_HEIGHT])))
    x, y, w, h, area = (stats[:, k].astype(np.int64) for k in range(5))
    keep = area >= 12
    keep &= ~((h < 0.3 * ref) & (w < 0.5 * ref))  # speck, dot, comma
    # Tiny bits may still be the loose bar of a 5: let them join before they are dropped.
    boxes = [Box(*map(int, r)) for r in stats[keep | (area >= 4), :4]]
    kept, marks = [], []
    small = (h < 0.6 * ref) & (w < 0.4 * ref) & (h >= 0.06 * ref) & (area >= 0.35 * w * h) & (area >= 4)
    marks = [Box(*map(int, r)) for r in stats[small, :4]]
    H, W = seg.mask.shape
    line_width = None
    has_lines = bool(cv2.countNonZero(seg.lines))
    for b in _join_broken(boxes, ref):
        if b.h < 0.3 * ref and b.w < 0.5 * ref:
            continue
        if b.h < MIN_HEIGHT:
            continue  # too small to be read, whatever the rest of the page says
        if cut_off_by_frame(b, W, H, ref):
            continue
        if b.w > 3.0 * b.h and b.h < 0.45 * ref:
            continue  # dash, underline, a rule's remains
        if b.h > 4 * ref and b.w < 0.3 * b.h:
            continue  # a vertical rule that survived
        if b.w <= 1 and has_lines:
            continue  # one pixel wide, dead upright, on a page of printed lines: one's remains
        if b.w < 0.35 * b.h and _touching_lines_both_ends(b, seg.lines):
            # A wall between two boxes of a comb field that was left, drawn as thin as the lines;
            # not a 1 written on the wall, drawn with a pen.
            line_width = line_width or _stroke(seg.lines)
            if b.w <= max(3.0, 2 * line_width):
                continue
        if b.w < 0.5 * b.h and b.h < 0.8 * ref and _along_upright_line(b, seg.lines):
            continue  # a sliver of a wall that a digit crossing it kept; a 1 is as tall as the writing
        kept.append(b)
    return kept, marks


def connected_groups(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """The indices 0..n-1 in groups, two indices in one group when a chain of pairs links them
    (union-find), each group in increasing order, the groups by their first member.

    >>> connected_groups(5, [(0, 3), (3, 4)])
    [[0, 3, 4], [1], [2]]
    """
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _join_broken(boxes: list[Box], ref: float) -> list[Box]:
    """Join the pieces of one digit that a skipping pen left apart (the bar of a 5, an open 4).

    Two pieces join when they overlap mostly in x, lie close in y, one is shorter than a digit,
    and together they are no bigger than one digit.
    """
    n = len(boxes)
    if n < 2:
        return boxes
    b = np.array(boxes, np.int64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w, h = b[:, 2], b[:, 3]
    overlap = np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None])
    gap = np.maximum(y1[:, None], y1[None]) - np.minimum(y2[:, None], y2[None])
    uh = np.maximum(y2[:, None], y2[None]) - np.minimum(y1[:, None], y1[None])
    uw = np.maximum(x2[:, None], x2[None]) - np.minimum(x1[:, None], x1[None])
    join = (
        (overlap >= 0.5 * np.minimum(w[:, None], w[None]))
        & (gap <= 0.25 * ref)
        & (uh <= 1.35 * ref)
        & (uw <= 1.2 * ref)
        & (np.minimum(h[:, None], h[None]) < 0.7 * ref)
    )
    np.fill_diagonal(join, False)
    if not join.any():
        return boxes
    out: list[Box] = []
    for members in connected_groups(n, zip(*np.nonzero(np.triu(join)))):
        union = boxes[members[0]]
        for m in members[1:]:
            union = union.union(boxes[m])
        if len(members) > 1 and union.h > 1.5 * ref:
            out.extend(boxes[m] for m in members)  # a chain grew taller than a digit: keep apart
        else:
            out.append(union)
    return out
