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

import cv2
import numpy as np

from .result import Box


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return labels, stats[1:]


def typical_height(mask: np.ndarray) -> float:
    """Median height of the blobs shaped like a digit; 0 when there are none.

    >>> m = np.zeros((100, 200), np.uint8); m[20:60, 30:50] = 255; m[20:62, 80:100] = 255
    >>> typical_height(m)
    41.0
    """
    _, stats = _components(mask)
    if len(stats) == 0:
        return 0.0
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    ok = (h >= 8) & (h <= mask.shape[0] / 2) & (w <= 1.5 * h) & (w >= 0.08 * h) & (area >= 20)
    if not ok.any():
        return 0.0
    return float(np.median(h[ok]))


def _line_kernel(length: int, horizontal: bool) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if horizontal else (1, length))


def find_lines(mask: np.ndarray, min_length: int) -> np.ndarray:
    """Mask of the straight horizontal and vertical runs of ink at least `min_length` long."""
    min_length = max(3, int(min_length))
    lines = np.zeros_like(mask)
    for horizontal in (True, False):
        found = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _line_kernel(min_length, horizontal))
        # Thicken a little: the anti-aliased rim of a rule is not in the opened line.
        grow = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3) if horizontal else (3, 1))
        lines |= cv2.dilate(found, grow) & mask
    return lines


def remove_lines(mask: np.ndarray, lines: np.ndarray, stroke: int) -> np.ndarray:
    """Take `lines` out of the mask, then mend the strokes that crossed them.

    Where a digit's stroke crossed a line, removing the line leaves a gap as wide as the line;
    closing the remaining ink across the line (and only there) bridges it again.
    """
    rest = cv2.subtract(mask, lines)
    if not lines.any():
        return rest
    span = max(3, 2 * stroke + 1)
    bridged = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, _line_kernel(span, horizontal=False))
    bridged |= cv2.morphologyEx(rest, cv2.MORPH_CLOSE, _line_kernel(span, horizontal=True))
    return rest | (bridged & lines)


def _frame_sides(comp: np.ndarray) -> int:
    """How many sides of a blob's box are drawn by a long straight line (a form box has 3-4)."""
    h, w = comp.shape
    sides = 0
    for horizontal, length, bands in (
        (True, int(0.6 * w), (comp[: max(1, h // 4)], comp[h - max(1, h // 4) :])),
        (False, int(0.6 * h), (comp[:, : max(1, w // 4)], comp[:, w - max(1, w // 4) :])),
    ):
        for band in bands:
            opened = cv2.morphologyEx(band, cv2.MORPH_OPEN, _line_kernel(max(3, length), horizontal))
            sides += int(opened.any())
    return sides


def strip_frames(mask: np.ndarray, height: float) -> np.ndarray:
    """Remove the outlines of boxes (form fields) from the mask, keeping what is written in them."""
    labels, stats = _components(mask)
    out = mask.copy()
    min_side = max(12, 0.8 * height) if height else 12
    for i, (x, y, w, h, _) in enumerate(stats):
        if w < min_side or h < min_side or w > 12 * max(h, 1):
            continue
        comp = np.where(labels[y : y + h, x : x + w] == i + 1, 255, 0).astype(np.uint8)
        if _frame_sides(comp) < 3:
            continue
        lines = find_lines(comp, int(0.6 * min(w, h)))
        # Only lines along the box's edges belong to the frame, not strokes inside it.
        inner = np.zeros_like(lines)
        by, bx = max(1, h // 5), max(1, w // 5)
        inner[by : h - by, bx : w - bx] = 255
        lines = cv2.subtract(lines, inner)
        stroke = max(1, int(round(_stroke(lines))))
        cleaned = remove_lines(comp, lines, stroke)
        view = out[y : y + h, x : x + w]
        view[comp > 0] = cleaned[comp > 0]
    return out


def _stroke(mask: np.ndarray) -> float:
    area = np.count_nonzero(mask)
    if not area:
        return 1.0
    edges = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return max(1.0, 4.0 * area / max(1, np.count_nonzero(edges)))


def clean_mask(mask: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Remove rules, grid lines and frames.

    Returns:
        The clean mask, the typical height of the writing (0 if unknown), and the long lines
        that were removed.
    """
    height = typical_height(mask)
    long_line = 3 * height if height else max(mask.shape) / 8
    lines = find_lines(mask, max(25, int(long_line)))
    stroke = max(1, int(round(_stroke(lines)))) if lines.any() else 1
    cleaned = remove_lines(mask, lines, stroke)
    cleaned = strip_frames(cleaned, height)
    # Removing lines can reveal the writing's true height: measure again on the clean mask.
    return cleaned, typical_height(cleaned) or height, lines


def _touching_lines_both_ends(box: Box, lines: np.ndarray) -> bool:
    x, y, w, h = box
    top = lines[max(0, y - 2) : y + 2, x : x + w]
    bottom = lines[y + h - 2 : y + h + 2, x : x + w]
    return bool(top.any() and bottom.any())


def find_candidates(mask: np.ndarray, height: float, lines: np.ndarray | None = None) -> list[Box]:
    """Boxes of the blobs that may be digits, broken strokes joined, specks and dashes dropped.

    Args:
        mask: the clean ink mask (see `clean_mask`).
        height: the typical height of the writing (0 if unknown).
        lines: the removed lines; thin vertical bars standing between two of them are box
            separators, not 1s.
    """
    _, stats = _components(mask)
    boxes = [Box(int(x), int(y), int(w), int(h)) for x, y, w, h, _ in stats]
    areas = {b: int(a) for b, a in zip(boxes, stats[:, cv2.CC_STAT_AREA])}
    ref = height or max(10.0, np.median([b.h for b in boxes]) if boxes else 10.0)
    boxes = _join_broken(boxes, ref)
    kept = []
    for b in boxes:
        area = areas.get(b, b.area)
        if b.h < 0.3 * ref and b.w < 0.5 * ref:
            continue  # speck, dot, comma
        if area < 12:
            continue
        if b.w > 3.0 * b.h and b.h < 0.45 * ref:
            continue  # dash, underline, a rule's remains
        if b.h > 4 * ref and b.w < 0.3 * b.h:
            continue  # a vertical rule that survived
        if lines is not None and b.w < 0.35 * b.h and _touching_lines_both_ends(b, lines):
            continue  # a separator between two boxes of a comb field
        kept.append(b)
    return kept


def _join_broken(boxes: list[Box], ref: float) -> list[Box]:
    """Join the pieces of one digit that a skipping pen left apart (the bar of a 5, an open 4).

    Two pieces join when they overlap mostly in x, lie close in y, and together are no taller
    than one line of writing.
    """
    boxes = sorted(boxes, key=lambda b: (b.x, b.y))
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                overlap = min(a.x2, b.x2) - max(a.x, b.x)
                if overlap < 0.5 * min(a.w, b.w):
                    continue
                gap = max(a.y, b.y) - min(a.y2, b.y2)
                u = a.union(b)
                if gap <= 0.25 * ref and u.h <= 1.35 * ref and u.w <= 1.2 * ref and min(a.h, b.h) < 0.7 * ref:
                    boxes[i] = u
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return boxes
