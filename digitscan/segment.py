"""Find the candidate digits in an ink mask: boxes of pixels that may each be one digit.

Writing is made of connected blobs of ink, but not one blob per digit: rules, grid lines and
form boxes connect to digits, a pen skips and breaks a 5 in two, specks and dashes lie about.
So, in order: measure the typical height of the writing, remove long straight lines (and mend
the strokes that crossed them), strip the frames of boxes that digits touch, take connected
components, drop what is too small or too flat to be a digit, and join the pieces of broken
strokes. Digits that touch each other are split later, with the classifier's help (see
`digitscan.touching`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .result import Box

MIN_HEIGHT = 9  # pixels of the working image: below this no digit can be read


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
    flat = np.flatnonzero(labels)
    lab = labels.ravel()[flat]
    ys, xs = np.divmod(flat, mask.shape[1])
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
    ok = (h >= 8) & (h <= image_height / 2) & (w <= 1.5 * h) & (w >= 0.08 * h) & (area >= 20)
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
    """
    labels, stats = blobs if blobs is not None else _components(mask)
    height = _typical(stats, mask.shape[0]) or 20.0
    long_min = max(40.0, 4 * height)
    angles, weights = [], []
    for i in np.flatnonzero(np.maximum(stats[:, 2], stats[:, 3]) >= long_min):
        x, y, w, h, area = stats[i]
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i + 1)
        if len(xs) < 20:
            continue
        if len(xs) > 2000:  # a least-squares line needs no more; a whole grid has ~1e5 pixels
            pick = np.linspace(0, len(xs) - 1, 2000).astype(int)
            xs, ys = xs[pick], ys[pick]
        pts = np.column_stack([xs, ys]).astype(np.float32)
        vx, vy, _, _ = cv2.fitLine(pts, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        angle = float(np.degrees(np.arctan2(-vy, vx)))
        # Fold to the nearest axis: vertical lines tell the tilt as well as horizontal ones.
        angle = (angle + 45) % 90 - 45
        # Only a line-like blob counts: its pixels must hug the fitted line.
        spread = np.abs((xs - xs.mean()) * vy - (ys - ys.mean()) * vx)
        if abs(angle) <= max_angle and np.percentile(spread, 90) < 0.15 * max(w, h):
            angles.append(angle)
            weights.append(max(w, h))
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.array(weights)[order])
    return float(np.array(angles)[order][np.searchsorted(cum, cum[-1] / 2)])  # weighted median


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


def _line_kernel(length: int, horizontal: bool) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if horizontal else (1, length))


def find_lines(mask: np.ndarray, min_length: int, directions: tuple[bool, ...] = (True, False),
               spare_strokes: bool = True) -> np.ndarray:
    """Mask of the straight horizontal and vertical runs of ink at least `min_length` long.

    A thin rule photographed a little askew steps from one pixel row to the next, so runs are
    looked for on a copy thickened across the line by two pixels each way.
    """
    min_length = max(3, int(min_length))
    lines = np.zeros_like(mask)
    for horizontal in directions:
        across = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 5) if horizontal else (5, 1))
        found = cv2.morphologyEx(cv2.dilate(mask, across), cv2.MORPH_OPEN, _line_kernel(min_length, horizontal))
        # The opened band is wider than the line: keep only the ink in it, and (to spare the
        # writing) not what is thicker across the line than the line itself: a stroke crossing
        # it, or running along it (a 1 on a grid line).
        band = found & mask
        if spare_strokes:
            counts = np.count_nonzero(band, axis=0 if horizontal else 1)
            width = int(np.median(counts[counts > 0])) if counts.any() else 1
            band &= ~cv2.morphologyEx(mask, cv2.MORPH_OPEN, _line_kernel(2 * width + 2, not horizontal))
        lines |= band
    return lines


def remove_lines(mask: np.ndarray, lines: np.ndarray, stroke: int) -> np.ndarray:
    """Take `lines` out of the mask, then mend the strokes that crossed them.

    Where a digit's stroke crossed a line, removing the line leaves a gap as wide as the line;
    closing the remaining ink across the line (and only there) bridges it again.
    """
    rest = cv2.subtract(mask, lines)
    if not lines.any():
        return rest
    span = max(3, 2 * stroke + 3)
    bridged = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, _line_kernel(span, horizontal=False))
    bridged |= cv2.morphologyEx(rest, cv2.MORPH_CLOSE, _line_kernel(span, horizontal=True))
    # A slanting stroke leaves the line at a step aside from where it came in: bridge that too.
    bridged |= cv2.morphologyEx(rest, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (span, span)))
    return rest | (bridged & lines)


def _may_be_frame(roi: np.ndarray) -> bool:
    """Quick test: do at least three edges of this box hold a long run of ink?"""
    h, w = roi.shape
    # Thickened across, so that a frame edge a little askew still fills one row (column).
    rows = np.count_nonzero(cv2.dilate(roi, np.ones((3, 1), np.uint8)), axis=1)
    cols = np.count_nonzero(cv2.dilate(roi, np.ones((1, 3), np.uint8)), axis=0)
    bh, bw = max(1, h // 4), max(1, w // 4)
    edges = (rows[:bh].max() / w, rows[-bh:].max() / w, cols[:bw].max() / h, cols[-bw:].max() / h)
    return sum(int(e >= 0.5) for e in edges) >= 3


def _frame_sides(comp: np.ndarray) -> int:
    """How many sides of a blob's box are drawn by a long straight line (a form box has 3-4)."""
    h, w = comp.shape
    bh, bw = max(1, h // 4), max(1, w // 4)
    across = find_lines(comp, int(0.6 * w), directions=(True,), spare_strokes=False)
    down = find_lines(comp, int(0.6 * h), directions=(False,), spare_strokes=False)
    return int(across[:bh].any()) + int(across[h - bh :].any()) + int(down[:, :bw].any()) + int(down[:, w - bw :].any())


def strip_frames(mask: np.ndarray, height: float, labels: np.ndarray, stats: np.ndarray) -> np.ndarray | None:
    """Remove the outlines of boxes (form fields) from the mask, keeping what is written in them.

    Returns the new mask, or None when no blob was a frame.
    """
    out = None
    # A box is drawn larger than the writing it is made for.
    min_side = max(12, 1.05 * height) if height else 12
    big = np.flatnonzero((stats[:, cv2.CC_STAT_WIDTH] >= min_side) & (stats[:, cv2.CC_STAT_HEIGHT] >= min_side))
    for i in big:
        x, y, w, h, _ = stats[i]
        if w > 12 * h or not _may_be_frame(mask[y : y + h, x : x + w]):
            continue
        comp = np.where(labels[y : y + h, x : x + w] == i + 1, 255, 0).astype(np.uint8)
        if _frame_sides(comp) < 3:
            continue
        lines = find_lines(comp, int(0.6 * min(w, h)), spare_strokes=False)
        # Only lines along the box's edges belong to the frame, not strokes inside it.
        by, bx = max(1, h // 5), max(1, w // 5)
        lines[by : h - by, bx : w - bx] = 0
        stroke = max(1, int(round(_stroke(lines))))
        cleaned = remove_lines(comp, lines, stroke)
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
    return max(1.0, 4.0 * area / max(1, np.count_nonzero(edges)))


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


def clean_mask(mask: np.ndarray, blobs: tuple[np.ndarray, np.ndarray] | None = None) -> Segmentation:
    """Remove rules, grid lines and frames from an ink mask, and measure the writing.

    `blobs` are the mask's `find_blobs`, if already computed.
    """
    labels, stats = blobs if blobs is not None else _components(mask)
    original = (labels, stats)
    height = _typical(stats, mask.shape[0])
    long_line = max(40, int(2 * height if height else max(mask.shape) / 8))
    lines = np.zeros_like(mask)
    # A long line belongs to a blob at least as long: look for lines in those blobs only.
    for x, y, w, h, _ in stats[(stats[:, 2] >= long_line) | (stats[:, 3] >= long_line)]:
        roi = np.s_[y : y + h, x : x + w]
        lines[roi] |= find_lines(mask[roi], long_line)
    if lines.any() and height:
        # The walls between the boxes of a form are short, but they stand on its long lines.
        walls = find_lines(mask, int(0.9 * height), directions=(False,), spare_strokes=False)
        if walls.any():
            wall_labels, wall_stats = _components(walls)
            keep = np.zeros(len(wall_stats) + 1, bool)
            for k in range(1, len(wall_stats) + 1):
                x, y, w, h, _ = wall_stats[k - 1]
                # A wall joins a line at its top and a line at its foot; a "1" on a rule does not.
                # (Looked for beside the wall too: where they cross, the pixels are the wall's.)
                top = lines[max(0, y - 3) : y + 4, max(0, x - 4) : x + w + 4].any()
                foot = lines[max(0, y + h - 4) : y + h + 3, max(0, x - 4) : x + w + 4].any()
                keep[k] = top and foot and w <= max(3, 0.25 * height)
            lines = lines | (keep[wall_labels].astype(np.uint8) * 255)
    if lines.any():
        stroke = max(1, int(round(_stroke(lines))))
        mask = remove_lines(mask, lines, stroke)
        labels, stats = _components(mask)
        # Removing lines can reveal the writing's true height: measure again.
        height = _typical(stats, mask.shape[0]) or height
    framed = strip_frames(mask, height, labels, stats)
    if framed is not None:
        mask = framed
        labels, stats = _components(mask)
        height = _typical(stats, mask.shape[0]) or height
    return Segmentation(mask, height, lines, stats, original)


def _touching_lines_both_ends(box: Box, lines: np.ndarray) -> bool:
    x, y, w, h = box
    top = lines[max(0, y - 2) : y + 2, max(0, x - 4) : x + w + 4]
    bottom = lines[y + h - 2 : y + h + 2, max(0, x - 4) : x + w + 4]
    return bool(top.any() and bottom.any())


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
    """
    at_border = box.x <= 1 or box.y <= 1 or box.x2 >= width - 1 or box.y2 >= height - 1
    return at_border and (
        box.w > 2.5 * ref or box.h > 2.5 * ref or box.h < 0.8 * ref or box.w < 0.4 * box.h
    )


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
        if b.w < 0.35 * b.h and _touching_lines_both_ends(b, seg.lines):
            continue  # a separator between two boxes of a comb field
        kept.append(b)
    return kept, marks


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
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(join))):
        parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        union = boxes[members[0]]
        for m in members[1:]:
            union = union.union(boxes[m])
        if len(members) > 1 and union.h > 1.5 * ref:
            out.extend(boxes[m] for m in members)  # a chain grew taller than a digit: keep apart
        else:
            out.append(union)
    return out
