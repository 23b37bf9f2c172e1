"""Split blobs that hold two or more digits written touching each other.

A blob wider than one digit, or one the classifier calls "not a digit", may be digits that
touch. We find the columns where the blob is thinnest (valleys of its vertical ink profile),
classify every stretch between two such columns that is as wide as a digit can be, all in one
batch, and choose the chain of stretches across the blob that the classifier is surest of
(a shortest-path search over the cut columns, scoring each piece by the log of its digit
probability). The scanner keeps the split only if it reads better than the blob whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .normalize import MNIST_SIZE, to_mnist
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


def _piece_box(crop: np.ndarray, a: int, b: int, origin: Box) -> tuple[Box, np.ndarray] | None:
    piece = crop[:, a:b]
    ys, xs = np.nonzero(piece)
    if len(ys) == 0:
        return None
    box = Box(origin.x + a + int(xs.min()), origin.y + int(ys.min()),
              int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return box, piece


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
        pieces = []
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                if (i, j) == (0, len(cols) - 1):
                    continue  # the whole blob is not a split
                width = cols[j] - cols[i]
                if width < 0.15 * b.h or width > 1.2 * b.h:
                    continue
                found = _piece_box(crop, cols[i], cols[j], b)
                if found is None:
                    continue
                pieces.append((i, j, found[0]))
                crops.append(to_mnist(found[1]))
        jobs.append((n, cols, pieces))
    results: list[Split | None] = [None] * len(boxes)
    if not crops:
        return results
    probs = predict(np.stack(crops).reshape(-1, MNIST_SIZE, MNIST_SIZE, 1))
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
