"""Split blobs that hold two or more digits written touching each other.

A blob wider than one digit, or one the classifier calls "not a digit", may be digits that
touch. We find the columns where the blob is thinnest (valleys of its vertical ink profile);
from each, a cut runs straight down, and another from top to bottom free to bend a little
either way to pass between strokes rather than through them (digits written close overlap: the
tail of a 7 reaches under the 8 beside it, and no straight cut parts them). We classify every
stretch between two cuts of the same kind that is as wide as a digit can be, all in one batch,
and choose the chain of stretches across the blob that the classifier is surest of (a
shortest-path search over the cuts, scoring each piece by the log of its digit probability).
The scanner keeps the split only if it reads better than the blob whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .normalize import crops_to_mnist
from .result import Box

Probabilities = Callable[[np.ndarray], np.ndarray]
SEGMENT_COST = 0.05  # each extra piece must earn its place: prefer fewer digits when in doubt


@dataclass
class Split:
    """The best reading of a blob as several digits."""

    boxes: list[Box]
    probs: np.ndarray  # (pieces, classes)
    score: float  # geometric mean of the pieces' digit confidences


def cut_columns(crop: np.ndarray, height: int, most: int = 8) -> list[int]:
    """Columns where the blob may be cut: where it is thinnest (local minima of its smoothed
    vertical ink profile), then where cuts into pieces of even width would fall.

    >>> crop = np.zeros((20, 30), np.uint8); crop[:, 2:12] = 255; crop[9:11, 12:17] = 255; crop[:, 17:28] = 255
    >>> 13 in cut_columns(crop, 20)  # the thin bridge between the two blocks
    True
    """
    w = crop.shape[1]
    profile = np.convolve((crop > 0).sum(axis=0).astype(np.float32), np.ones(3) / 3, mode="same")
    margin = max(2, int(0.2 * height))
    inner = np.arange(margin, w - margin)
    if len(inner) == 0:
        return []
    left = np.r_[np.inf, profile[:-1]]
    right = np.r_[profile[1:], np.inf]
    minima = [int(c) for c in inner if profile[c] <= left[c] and profile[c] <= right[c]]
    minima.sort(key=lambda c: profile[c])
    chosen: list[int] = []
    for c in minima:
        if all(abs(c - o) >= margin for o in chosen):
            chosen.append(c)
        if len(chosen) >= most:
            break
    # Digits that overlap leave no valley between them: also cut where even widths would fall.
    for parts in range(2, max(2, int(round(w / (0.5 * height)))) + 1):
        for k in range(1, parts):
            c = int(round(k * w / parts))
            if margin <= c < w - margin and all(abs(c - o) >= margin // 2 for o in chosen):
                chosen.append(c)
    return sorted(chosen)


def cut_paths(crop: np.ndarray, cols: list[int], reach: int) -> np.ndarray:
    """For each column, the cut from the blob's top to its foot that crosses the least ink while
    staying within `reach` columns of it: row by row, a step of at most one column aside.

    Returns an array (len(cols), rows) of the cut's column in each row; a cut at the blob's edge
    (0 or its width) stays straight.

    >>> crop = np.zeros((10, 12), np.uint8); crop[:5, 5] = 255; crop[5:, 7] = 255  # a stroke that steps
    >>> path = cut_paths(crop, [6], reach=3)[0]
    >>> bool((crop[np.arange(10), path] == 0).all())  # the cut crosses no ink
    True
    """
    h, w = crop.shape
    ink = (crop > 0).astype(np.float32)
    offsets = np.arange(-reach, reach + 1)
    x = np.clip(np.asarray(cols)[:, None] + offsets[None], 0, w)  # (cuts, 2*reach+1)
    padded = np.pad(ink, ((0, 0), (0, 1)))  # column w: beyond the blob, never ink
    # Crossing ink costs most; leaning away from the chosen column costs a little.
    lean = 0.02 * np.abs(offsets)[None]
    cost = padded[:, x]  # (rows, cuts, positions): the ink under every position of every cut
    total = cost[0] + lean
    moves = np.zeros((h, *x.shape), np.int8)
    came = np.full((3, *x.shape), np.inf, total.dtype)  # from the left, straight above, the right
    for y in range(1, h):
        came[0, :, 1:] = total[:, :-1]
        came[1] = total
        came[2, :, :-1] = total[:, 1:]
        moves[y] = came.argmin(axis=0) - 1
        total = came.min(axis=0) + cost[y] + lean
    at = total.argmin(axis=1)
    paths = np.empty((len(cols), h), np.int64)
    rows = np.arange(len(cols))
    for y in range(h - 1, -1, -1):
        paths[:, y] = x[rows, at]
        at = at + moves[y, rows, at]  # the position in the row above that it came from
    edge = (np.asarray(cols) <= 0) | (np.asarray(cols) >= w)
    paths[edge] = np.asarray(cols)[edge, None]
    return paths


def _piece_box(crop: np.ndarray, left: np.ndarray, right: np.ndarray, origin: Box) -> tuple[Box, np.ndarray] | None:
    """The ink between two cuts: its box on the page, and its bitmap."""
    columns = np.arange(crop.shape[1])[None]
    piece = np.where((columns >= left[:, None]) & (columns < right[:, None]), crop, 0).astype(np.uint8)
    ys, xs = np.nonzero(piece)
    if len(ys) == 0:
        return None
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return Box(origin.x + x0, origin.y + y0, x1 - x0, y1 - y0), piece[y0:y1, x0:x1]


def split_touching(
    mask: np.ndarray, boxes: list[Box], predict: Probabilities, digit_classes: int = 10
) -> list[Split | None]:
    """For each box, the best split into two or more digits, or None.

    `predict` is called once, on every candidate piece of every box together.
    """
    jobs: list[tuple[int, list[int], list[tuple[int, int, Box]]]] = []
    crops: list[np.ndarray] = []
    for n, b in enumerate(boxes):
        crop = mask[b.y : b.y2, b.x : b.x2]
        cols = [0, *cut_columns(crop, b.h), b.w]
        # Each stretch is tried between straight cuts and between bent ones: a bent cut parts
        # digits that overlap, a straight one keeps a digit's own stroke that reaches aside.
        straight = np.repeat(np.asarray(cols)[:, None], b.h, axis=1)
        bent = cut_paths(crop, cols, reach=max(2, int(0.2 * b.h)))
        pieces = []
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                if (i, j) == (0, len(cols) - 1):
                    continue  # the whole blob is not a split
                width = cols[j] - cols[i]
                if width < 0.15 * b.h or width > 1.2 * b.h:
                    continue
                same = np.array_equal(straight[i], bent[i]) and np.array_equal(straight[j], bent[j])
                for paths in (straight,) if same else (straight, bent):
                    found = _piece_box(crop, paths[i], paths[j], b)
                    if found is None:
                        continue
                    pieces.append((i, j, found[0]))
                    crops.append(found[1])
        jobs.append((n, cols, pieces))
    results: list[Split | None] = [None] * len(boxes)
    if not crops:
        return results
    probs = predict(crops_to_mnist(crops))
    k = 0
    for n, cols, pieces in jobs:
        p = probs[k : k + len(pieces)]
        k += len(pieces)
        results[n] = _best_chain(len(cols), pieces, p, digit_classes)
    return results


def _best_chain(ncols: int, pieces: list[tuple[int, int, Box]], probs: np.ndarray,
                digit_classes: int) -> Split | None:
    """Shortest path from the first column to the last, a piece an edge, -log(confidence) its cost."""
    edges: dict[int, list[tuple[int, float, int]]] = {}
    for idx, (i, j, _) in enumerate(pieces):
        if probs[idx].argmax() >= digit_classes:
            continue  # a piece read as "not a digit" cannot be part of the split
        cost = -float(np.log(max(float(probs[idx, :digit_classes].max()), 1e-6))) + SEGMENT_COST
        edges.setdefault(i, []).append((j, cost, idx))
    best = [np.inf] * ncols
    back: list[tuple[int, int] | None] = [None] * ncols
    best[0] = 0.0
    for i in range(ncols):
        if best[i] == np.inf:
            continue
        for j, cost, idx in edges.get(i, []):
            if best[i] + cost < best[j]:
                best[j], back[j] = best[i] + cost, (i, idx)
    if best[-1] == np.inf:
        return None
    chain = []
    at = ncols - 1
    while at != 0:
        prev, idx = back[at]  # type: ignore[misc]
        chain.append(idx)
        at = prev
    chain.reverse()
    p = probs[chain]
    conf = p[:, :digit_classes].max(axis=1)
    score = float(np.exp(np.log(np.maximum(conf, 1e-6)).mean()))
    return Split([pieces[i][2] for i in chain], p, score)
